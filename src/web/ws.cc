// The two WebSockets: a container's console (/vm/<name>/connect/ws) and the
// live table with commands (/ws). Both queue what they send with a cap, so
// that a client that does not read never grows memory or holds anyone up: a
// console viewer beyond it skips output (and is dropped, 1008, once its
// socket took nothing for kConsoleStall), a table client is dropped (1008).
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <optional>

#include <fmt/format.h>

#include "base/log.h"
#include "web/internal.h"

namespace herd::web {

namespace websocket = beast::websocket;

namespace {

constexpr auto kCloseGrace = std::chrono::seconds(2);

class WsBase : public SessionBase, public std::enable_shared_from_this<WsBase> {
  public:
    // `skip`: on overflow, drop the backlog for a marker instead of the client.
    WsBase(std::shared_ptr<Core> core, uint64_t id, beast::tcp_stream stream, size_t cap, bool text,
           bool skip = false)
        : SessionBase(std::move(core), id),
          ws_(std::move(stream)),
          cap_(cap),
          text_(text),
          skip_(skip),
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
        handshaking_ = true;
        ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
            self->handshaking_ = false;
            if (ec) {
                HERD_LOG(info, "web {}: websocket handshake: {}", self->id_, ec.message());
                return self->end();
            }
            if (self->killed_) return self->end();
            if (self->closing_) {
                // Stopped during the handshake: never join anything; the
                // close frame can go now that the stream is open.
                return self->startClose();
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
        // With a read or the handshake pending, its failure ends the session;
        // otherwise (reading paused) nothing else would.
        if (!reading_ && !handshaking_ && !ended_) {
            asio::post(core_->io, [self = shared_from_this()] { self->end(); });
        }
    }

  protected:
    virtual void opened() = 0;
    virtual void onMessage(bool text, std::string data) = 0;
    // Once, when the session ends or starts closing.
    virtual void cleanup() = 0;

    // Queues a message; false (and the session closes with 1008) when the
    // client is too far behind (with `skip`: when its socket also took
    // nothing for kConsoleStall).
    bool queue(std::shared_ptr<const std::string> msg) {
        if (closing_ || killed_) return false;
        auto now = std::chrono::steady_clock::now();
        if (q_.empty()) last_progress_ = now;
        if (queued_ + msg->size() > cap_ && !q_.empty()) {
            if (!skip_ || now - last_progress_ >= kConsoleStall) {
                HERD_LOG(info, "web {}: dropping a client {} bytes behind", id_,
                         queued_ + msg->size());
                closeWith(websocket::close_code::policy_error, "too slow");
                return false;
            }
            skipBacklog(msg->size());
            return true;
        }
        queued_ += msg->size();
        q_.push_back(std::move(msg));
        doWrite();
        return true;
    }

    // Pauses / resumes reading the client's messages (TCP then pushes back).
    void pauseReading() { read_paused_ = true; }
    void resumeReading() {
        if (!read_paused_) return;
        read_paused_ = false;
        if (!reading_ && !handshaking_ && !closing_ && !killed_ && !ended_) doRead();
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
        // During the handshake the close frame waits for its end (accept).
        if (!writing_ && !handshaking_) startClose();
    }

    websocket::stream<beast::tcp_stream> ws_;

  private:
    // Drops what waits behind the message being written, and `incoming`
    // bytes, for one marker saying how much was skipped (a marker dropped
    // this way adds its count to the new one).
    void skipBacklog(size_t incoming) {
        size_t skipped = incoming;
        const size_t keep = writing_ ? 1 : 0;
        while (q_.size() > keep) {
            const auto& last = q_.back();
            skipped += last == marker_ ? marker_skipped_ : last->size();
            queued_ -= last->size();
            q_.pop_back();
        }
        marker_skipped_ = skipped;
        marker_ = std::make_shared<const std::string>(
            fmt::format("\r\n[herd: {} bytes skipped]\r\n", skipped));
        queued_ += marker_->size();
        q_.push_back(marker_);
        doWrite();
    }

    void doWrite() {
        if (writing_ || q_.empty() || killed_) return;
        writing_ = true;
        auto msg = q_.front();
        ws_.async_write(asio::buffer(*msg),
                        [self = shared_from_this(), msg](beast::error_code ec, size_t) {
                            self->writing_ = false;
                            if (ec) return self->kill();
                            self->last_progress_ = std::chrono::steady_clock::now();
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
            // A pending read ends with the peer's close frame (or an error)
            // and ends the session; without one (reading paused, or closed
            // right after the handshake) this is the end.
            if (!self->reading_) self->end();
        });
    }

    void doRead() {
        reading_ = true;
        ws_.async_read(rbuf_, [self = shared_from_this()](beast::error_code ec, size_t) {
            self->reading_ = false;
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
            if (!self->killed_ && !self->read_paused_) self->doRead();
        });
    }

    void end() {
        if (ended_) return;
        ended_ = true;
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
    bool skip_;
    asio::steady_timer kill_timer_;
    beast::flat_buffer rbuf_;
    std::deque<std::shared_ptr<const std::string>> q_;
    size_t queued_ = 0;
    // The last skip marker queued and the bytes it stands for.
    std::shared_ptr<const std::string> marker_;
    size_t marker_skipped_ = 0;
    // When a write last completed (or the queue last became non-empty).
    std::chrono::steady_clock::time_point last_progress_{};
    websocket::close_reason close_reason_;
    bool handshaking_ = false;
    bool reading_ = false;
    bool read_paused_ = false;
    bool ended_ = false;
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
        : WsBase(std::move(core), id, std::move(stream), kConsoleBacklog, false, true),
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
    TableWs(std::shared_ptr<Core> core, uint64_t id, beast::tcp_stream stream, bool windowed)
        : WsBase(std::move(core), id, std::move(stream), kTableBacklog, true), windowed_(windowed) {
        session_->name = who();
    }

    void send(std::shared_ptr<const std::string> msg) { queue(std::move(msg)); }

    // A refresh: the window this client asked for, or the whole table when
    // it never asked.
    void table(const std::shared_ptr<const TableRows>& rows) {
        if (!query_) {
            if (windowed_) return;  // its first query is on its way
            if (auto all = core_->allMessage()) send(std::move(all));
            return;
        }
        send(std::make_shared<const std::string>(tableSlice(*rows, *query_)));
    }

  private:
    void opened() override {
        joined_ = true;
        if (core_->last_rows) table(core_->last_rows);
        core_->tableJoin(id_, std::static_pointer_cast<TableWs>(shared_from_this()));
    }

    // {"type":"query", filter, sort, order, offset, count}: from now on this
    // client gets that window of the table (at once, and with every
    // refresh). A bad query is answered {"type":"query-error","error":...};
    // the previous one stays.
    void onQuery(const nlohmann::json& j) {
        auto q = tableQueryFromJson(j);
        if (!q.ok()) {
            nlohmann::ordered_json m = {{"type", "query-error"}, {"error", q.error().text()}};
            send(std::make_shared<const std::string>(
                m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
            return;
        }
        query_ = std::move(*q);
        if (core_->last_rows) table(core_->last_rows);
    }

    void onMessage(bool text, std::string data) override {
        if (!text) return closeWith(websocket::close_code::unknown_data, "expected text");
        auto j = nlohmann::json::parse(data, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            return closeWith(websocket::close_code::unknown_data, "bad JSON");
        }
        if (auto t = j.find("type"); t != j.end() && *t == "query") return onQuery(j);
        auto type = j.find("type");
        auto id = j.find("id");
        auto cmd = j.find("command");
        auto ns = j.find("namespace");
        if (type == j.end() || *type != "command" || id == j.end() || !id->is_number_integer() ||
            cmd == j.end() || !cmd->is_string() || (ns != j.end() && !ns->is_string())) {
            return closeWith(websocket::close_code::unknown_data,
                             "expected {\"type\":\"command\",\"id\":int,\"command\":string} "
                             "or {\"type\":\"query\",...}");
        }
        Pending p{id->get<int64_t>(), cmd->get<std::string>(),
                  ns == j.end() ? "" : ns->get<std::string>()};
        // A bounded number of commands per client (each waiting one holds
        // its message), run one after another: a client's commands keep
        // their order, and its session is never used by two at once, even
        // when one of them waits without the command lock (`shell`).
        waiting_.push_back(std::move(p));
        if (++in_flight_ >= kMaxCommandsInFlight) pauseReading();
        startNext();
    }

    void startNext() {
        if (running_ || waiting_.empty()) return;
        Pending p = std::move(waiting_.front());
        waiting_.pop_front();
        running_ = true;
        std::weak_ptr<WsBase> weak = weak_from_this();
        asio::io_context* io = &core_->io;
        Executor* exec = &core_->backend.exec;
        auto session = session_;
        auto alive = alive_;
        bool queued = core_->backend.post([weak, io, exec, session, alive, p = std::move(p)] {
            if (!alive->load()) return;  // the client has gone
            // Progress lines of a long command (a big `vm launch`) go to
            // this client as they happen: {"type":"status","id":..,"text":..}.
            session->status = [weak, io, id = p.id](const std::string& text) {
                nlohmann::ordered_json m = {{"type", "status"}, {"id", id}, {"text", text}};
                auto msg = std::make_shared<const std::string>(
                    m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
                asio::post(*io, [weak, msg] {
                    if (auto s = std::static_pointer_cast<TableWs>(weak.lock())) s->send(msg);
                });
            };
            CommandResult r = runClientCommand(*exec, *session, p.command, p.nspace);
            session->status = nullptr;
            nlohmann::ordered_json m = {
                {"type", "response"}, {"id", p.id}, {"error", r.error}, {"text", r.text}};
            auto msg = std::make_shared<const std::string>(
                m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            asio::post(*io, [weak, msg] {
                if (auto s = std::static_pointer_cast<TableWs>(weak.lock())) s->answered(msg);
            });
        });
        if (!queued) closeWith(websocket::close_code::going_away, "herd is shutting down");
    }

    void answered(std::shared_ptr<const std::string> msg) {
        --in_flight_;
        running_ = false;
        send(std::move(msg));
        if (in_flight_ < kMaxCommandsInFlight) resumeReading();
        startNext();
    }

    void cleanup() override {
        alive_->store(false);
        if (joined_) core_->tableLeave(id_);
        joined_ = false;
    }

    // The client's own session, like a control-socket connection's: its
    // output flags persist between its commands. Used on the command thread.
    std::shared_ptr<Session> session_ = std::make_shared<Session>();
    // Cleared when the session ends: its queued commands are then skipped.
    std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
    struct Pending {
        int64_t id;
        std::string command;
        std::string nspace;
    };
    std::deque<Pending> waiting_;  // received, not yet started
    bool running_ = false;         // one of its commands is with the command thread
    int in_flight_ = 0;            // waiting and running
    bool joined_ = false;
    std::optional<TableQuery> query_;  // none: the whole table
    bool windowed_ = false;            // wants windows only (`/ws?window=1`)
};

void Core::broadcast(std::shared_ptr<const TableRows> rows) {
    last_rows = std::move(rows);
    last_all.reset();
    std::vector<std::shared_ptr<TableWs>> all;
    for (auto& [id, w] : tables) {
        if (auto t = w.lock()) all.push_back(std::move(t));
    }
    for (auto& t : all) t->table(last_rows);
}

std::shared_ptr<const std::string> Core::allMessage() {
    if (!last_all && last_rows)
        last_all = std::make_shared<const std::string>(tableAll(*last_rows));
    return last_all;
}

namespace {

template <typename Ws, typename... Args>
void startWs(std::shared_ptr<Core> core, beast::tcp_stream stream, Request req, Args&&... args) {
    uint64_t id = core->next_id++;
    auto s = std::make_shared<Ws>(core, id, std::move(stream), std::forward<Args>(args)...);
    core->add(s);
    s->accept(std::move(req));
}

}  // namespace

void startConsoleWs(std::shared_ptr<Core> core, beast::tcp_stream stream, Request req,
                    std::shared_ptr<runtime::Console> console) {
    startWs<ConsoleWs>(std::move(core), std::move(stream), std::move(req), std::move(console));
}

void startTableWs(std::shared_ptr<Core> core, beast::tcp_stream stream, Request req,
                  bool windowed) {
    startWs<TableWs>(std::move(core), std::move(stream), std::move(req), windowed);
}

}  // namespace herd::web
