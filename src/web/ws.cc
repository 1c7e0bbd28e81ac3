// The two WebSockets: a container's console (/vm/<name>/connect/ws) and the
// live table with commands (/ws). Both queue what they send with a cap: a
// client that does not read is dropped (1008) instead of growing memory or
// holding anyone up.
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

#include <fmt/format.h>

#include "base/log.h"
#include "web/internal.h"

namespace herd::web {

namespace websocket = beast::websocket;

namespace {

constexpr auto kCloseGrace = std::chrono::seconds(2);

class WsBase : public SessionBase, public std::enable_shared_from_this<WsBase> {
  public:
    WsBase(std::shared_ptr<Core> core, uint64_t id, beast::tcp_stream stream, size_t cap, bool text)
        : SessionBase(std::move(core), id),
          ws_(std::move(stream)),
          cap_(cap),
          text_(text),
          kill_timer_(core_->io) {}

    void accept(Request req) {
        // The HTTP session's timeout must not cut a long-lived socket; the
        // WebSocket's own handshake timeout covers the opening and closing.
        beast::get_lowest_layer(ws_).expires_never();
        websocket::stream_base::timeout t{};
        t.handshake_timeout = std::chrono::seconds(10);
        t.idle_timeout = websocket::stream_base::none();
        t.keep_alive_pings = false;
        ws_.set_option(t);
        ws_.read_message_max(kMaxWsMessage);
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "herd"); }));
        ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
            if (ec) {
                HERD_LOG(info, "web {}: websocket handshake: {}", self->id_, ec.message());
                return self->end();
            }
            self->ws_.text(self->text_);
            self->ws_.binary(!self->text_);
            self->opened();
            self->doRead();
        });
    }

    void stop() override { closeWith(websocket::close_code::going_away, "server stopped"); }

    void kill() override {
        if (killed_) return;
        killed_ = true;
        beast::get_lowest_layer(ws_).close();
    }

  protected:
    virtual void opened() = 0;
    virtual void onMessage(bool text, std::string data) = 0;
    // Once, when the session ends or starts closing.
    virtual void cleanup() = 0;

    // Queues a message; false (and the session closes with 1008) when the
    // client is too far behind.
    bool queue(std::shared_ptr<const std::string> msg) {
        if (closing_ || killed_) return false;
        queued_ += msg->size();
        if (queued_ > cap_ && !q_.empty()) {
            HERD_LOG(info, "web {}: dropping a client {} bytes behind", id_, queued_);
            closeWith(websocket::close_code::policy_error, "too slow");
            return false;
        }
        q_.push_back(std::move(msg));
        doWrite();
        return true;
    }

    void closeWith(websocket::close_code code, const std::string& reason) {
        if (closing_ || killed_) return;
        closing_ = true;
        runCleanup();
        // Nothing more but what is being written.
        while (q_.size() > (writing_ ? 1 : 0)) q_.pop_back();
        close_reason_ = websocket::close_reason(code, reason);
        // A client that does not read never lets the close frame out: cut it.
        kill_timer_.expires_after(kCloseGrace);
        kill_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
            if (ec) return;
            if (auto s = weak.lock()) s->kill();
        });
        if (!writing_) startClose();
    }

    std::string who() const { return fmt::format("web {}", id_); }

    websocket::stream<beast::tcp_stream> ws_;

  private:
    void doWrite() {
        if (writing_ || q_.empty() || killed_) return;
        writing_ = true;
        auto msg = q_.front();
        ws_.async_write(asio::buffer(*msg),
                        [self = shared_from_this(), msg](beast::error_code ec, size_t) {
                            self->writing_ = false;
                            if (ec) return self->kill();
                            self->queued_ -= msg->size();
                            if (!self->q_.empty()) self->q_.pop_front();
                            if (self->closing_) return self->startClose();
                            self->doWrite();
                        });
    }

    void startClose() {
        if (close_started_ || killed_) return;
        close_started_ = true;
        ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {
            // The pending read ends with the peer's close frame (or an error).
        });
    }

    void doRead() {
        ws_.async_read(rbuf_, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) {
                if (ec != websocket::error::closed && ec != asio::error::operation_aborted) {
                    HERD_LOG(info, "web {}: websocket: {}", self->id_, ec.message());
                }
                return self->end();
            }
            bool text = self->ws_.got_text();
            std::string data = beast::buffers_to_string(self->rbuf_.data());
            self->rbuf_.consume(self->rbuf_.size());
            if (!self->closing_) self->onMessage(text, std::move(data));
            if (!self->killed_) self->doRead();
        });
    }

    void end() {
        runCleanup();
        closing_ = true;
        kill_timer_.cancel();
        kill();
        q_.clear();
        core_->forget(id_);
    }

    void runCleanup() {
        if (cleaned_) return;
        cleaned_ = true;
        cleanup();
    }

    size_t cap_;
    bool text_;
    asio::steady_timer kill_timer_;
    beast::flat_buffer rbuf_;
    std::deque<std::shared_ptr<const std::string>> q_;
    size_t queued_ = 0;
    websocket::close_reason close_reason_;
    bool writing_ = false;
    bool closing_ = false;
    bool close_started_ = false;
    bool killed_ = false;
    bool cleaned_ = false;
};

// A console viewer: output bytes out, typed bytes and resizes in.
class ConsoleWs : public WsBase {
  public:
    ConsoleWs(std::shared_ptr<Core> core, uint64_t id, beast::tcp_stream stream,
              std::shared_ptr<runtime::Console> console)
        : WsBase(std::move(core), id, std::move(stream), kConsoleBacklog, false),
          console_(std::move(console)) {}

  private:
    void opened() override {
        std::weak_ptr<WsBase> weak = weak_from_this();
        // Called on the io thread by the console: scrollback, then live output;
        // nullptr when the console goes away.
        viewer_ = console_->addViewer([weak](std::shared_ptr<const std::string> bytes) {
            auto s = std::static_pointer_cast<ConsoleWs>(weak.lock());
            if (!s) return false;
            return s->output(std::move(bytes));
        });
        registered_ = true;
    }

    bool output(std::shared_ptr<const std::string> bytes) {
        if (!bytes) {
            registered_ = false;
            closeWith(websocket::close_code::going_away, "console closed");
            return false;
        }
        if (!queue(std::move(bytes))) {
            registered_ = false;
            return false;
        }
        return true;
    }

    void onMessage(bool text, std::string data) override {
        if (!text) {
            if (!data.empty()) console_->input(std::move(data));
            return;
        }
        auto j = nlohmann::json::parse(data, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            return closeWith(websocket::close_code::unknown_data, "bad control message");
        }
        auto type = j.find("type");
        if (type == j.end() || !type->is_string() || *type != "resize") {
            return closeWith(websocket::close_code::unknown_data, "unknown control message");
        }
        auto cols = j.find("cols"), rows = j.find("rows");
        if (cols == j.end() || rows == j.end() || !cols->is_number_integer() ||
            !rows->is_number_integer() || *cols < 1 || *rows < 1 || *cols > 10000 ||
            *rows > 10000) {
            return closeWith(websocket::close_code::unknown_data, "bad resize message");
        }
        console_->resize(rows->get<unsigned>(), cols->get<unsigned>());
    }

    void cleanup() override {
        if (registered_) console_->removeViewer(viewer_);
        registered_ = false;
    }

    std::shared_ptr<runtime::Console> console_;
    int viewer_ = 0;
    bool registered_ = false;
};

}  // namespace

// The live table and commands.
class TableWs : public WsBase {
  public:
    TableWs(std::shared_ptr<Core> core, uint64_t id, beast::tcp_stream stream)
        : WsBase(std::move(core), id, std::move(stream), kTableBacklog, true) {
        session_->name = who();
    }

    void send(std::shared_ptr<const std::string> msg) { queue(std::move(msg)); }

  private:
    void opened() override {
        joined_ = true;
        if (core_->last_table) send(core_->last_table);
        core_->tableJoin(id_, std::static_pointer_cast<TableWs>(shared_from_this()));
    }

    void onMessage(bool text, std::string data) override {
        if (!text) return closeWith(websocket::close_code::unknown_data, "expected text");
        auto j = nlohmann::json::parse(data, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            return closeWith(websocket::close_code::unknown_data, "bad JSON");
        }
        auto type = j.find("type");
        auto id = j.find("id");
        auto cmd = j.find("command");
        auto ns = j.find("namespace");
        if (type == j.end() || *type != "command" || id == j.end() || !id->is_number_integer() ||
            cmd == j.end() || !cmd->is_string() || (ns != j.end() && !ns->is_string())) {
            return closeWith(websocket::close_code::unknown_data,
                             "expected {\"type\":\"command\",\"id\":int,\"command\":string}");
        }
        int64_t req_id = id->get<int64_t>();
        std::string command = cmd->get<std::string>();
        std::string nspace = ns == j.end() ? "" : ns->get<std::string>();
        std::weak_ptr<WsBase> weak = weak_from_this();
        asio::io_context* io = &core_->io;
        Executor* exec = &core_->backend.exec;
        auto session = session_;
        bool queued = core_->backend.post([weak, io, exec, session, req_id, command, nspace] {
            CommandResult r = runClientCommand(*exec, *session, command, nspace);
            nlohmann::ordered_json m = {
                {"type", "response"}, {"id", req_id}, {"error", r.error}, {"text", r.text}};
            auto msg = std::make_shared<const std::string>(
                m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            asio::post(*io, [weak, msg] {
                if (auto s = std::static_pointer_cast<TableWs>(weak.lock())) s->send(msg);
            });
        });
        if (!queued) closeWith(websocket::close_code::going_away, "herd is shutting down");
    }

    void cleanup() override {
        if (joined_) core_->tableLeave(id_);
        joined_ = false;
    }

    // The client's own session, like a control-socket connection's: its
    // output flags persist between its commands. Used on the command thread.
    std::shared_ptr<Session> session_ = std::make_shared<Session>();
    bool joined_ = false;
};

void Core::broadcast(std::shared_ptr<const std::string> msg) {
    last_table = msg;
    std::vector<std::shared_ptr<TableWs>> all;
    for (auto& [id, w] : tables) {
        if (auto t = w.lock()) all.push_back(std::move(t));
    }
    for (auto& t : all) t->send(msg);
}

void startConsoleWs(std::shared_ptr<Core> core, beast::tcp_stream stream, Request req,
                    std::shared_ptr<runtime::Console> console) {
    uint64_t id = core->next_id++;
    auto s = std::make_shared<ConsoleWs>(core, id, std::move(stream), std::move(console));
    core->add(s);
    s->accept(std::move(req));
}

void startTableWs(std::shared_ptr<Core> core, beast::tcp_stream stream, Request req) {
    uint64_t id = core->next_id++;
    auto s = std::make_shared<TableWs>(core, id, std::move(stream));
    core->add(s);
    s->accept(std::move(req));
}

}  // namespace herd::web
