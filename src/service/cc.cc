#include "service/cc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <filesystem>

#include "base/fs.h"
#include "base/log.h"
#include "service/agent_addresses.h"
#include "service/container_runtime.h"
#include "service/herd.h"
#include "service/namespace.h"

namespace herd {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using local = asio::local::stream_protocol;
using nlohmann::json;

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// Writes all of `data` to fd; `path` names it in the error.
Result<void> writeAll(int fd, std::string_view data, const std::string& path) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error::sysNow("write", path);
        off += static_cast<size_t>(n);
    }
    return Ok();
}

// Where `path` (under the file root, -filepath) is beneath the file root's
// descriptor: what the guests send is written there through no symbolic link.
Result<std::string> beneathFiles(const Herd& herd, const std::string& path) {
    const std::string& root = herd.opts.filepath;
    if (!herd.files_dir || !herd.files_dir->valid()) return Error::msg("no file root open");
    if (path.compare(0, root.size() + 1, root + "/") != 0) return Error::sys(EXDEV, "open", path);
    return path.substr(root.size() + 1);
}

Result<unique_fd> createFile(const Herd& herd, const std::string& path) {
    auto rel = beneathFiles(herd, path);
    if (!rel.ok()) return rel.error();
    return herd.files_dir->openFile(*rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

Result<void> writeFile(const Herd& herd, const std::string& path, std::string_view data) {
    auto f = createFile(herd, path);
    if (!f.ok()) return f.error();
    return writeAll(f->get(), data, path);
}

Result<void> makeDirs(const Herd& herd, const std::string& dir) {
    auto rel = beneathFiles(herd, dir);
    if (!rel.ok()) return rel.error();
    auto d = herd.files_dir->makeDirs(*rel, 0755);
    if (!d.ok()) return d.error();
    return Ok();
}

// The agent's description of its guest, sent in `hello` and `info` frames.
void setInfo(CcClient& c, const json& h) {
    c.hostname = ccproto::jstr(h, "hostname");
    c.arch = ccproto::jstr(h, "arch");
    c.os = ccproto::jstr(h, "os");
    c.ip = ccproto::jstrs(h, "ip");
    c.mac = ccproto::jstrs(h, "mac");
}

// `ip` filter: an address, or a CIDR block (IPv4 or IPv6).
bool ipMatches(const std::string& want, const std::string& have) {
    auto slash = want.find('/');
    if (slash == std::string::npos) return want == have;
    int bits = std::atoi(want.c_str() + slash + 1);
    std::string net = want.substr(0, slash);
    unsigned char a[16], b[16];
    int fam = net.find(':') == std::string::npos ? AF_INET : AF_INET6;
    int len = fam == AF_INET ? 4 : 16;
    if (inet_pton(fam, net.c_str(), a) != 1 || inet_pton(fam, have.c_str(), b) != 1) return false;
    if (bits < 0 || bits > len * 8) return false;
    for (int i = 0; i < len; ++i) {
        int take = std::clamp(bits - i * 8, 0, 8);
        unsigned char mask = static_cast<unsigned char>(0xff00 >> take);
        if ((a[i] & mask) != (b[i] & mask)) return false;
    }
    return true;
}

}  // namespace

// One agent connection, on the io thread. Frames in go to `on_frame`,
// frames out come through send()/sendFile() from any thread.
class CcConn : public std::enable_shared_from_this<CcConn> {
  public:
    explicit CcConn(local::socket s) : sock_(std::move(s)) {}

    std::function<void(std::shared_ptr<CcConn>, ccproto::Frame)> on_frame;
    std::function<void(std::shared_ptr<CcConn>, std::string)> on_close;

    void start() { readMore(); }

    void send(std::string frame) {
        asio::post(sock_.get_executor(), [self = shared_from_this(), f = std::move(frame)] {
            if (self->closed_) return;
            // An agent that stops reading must not make the daemon hold an
            // ever-growing queue: past the bound it is disconnected and
            // logged (its agent reconnects by itself; what was queued is
            // lost, as for any agent that goes away mid-command).
            if (self->queued_ + f.size() > kMaxQueued) {
                return self->finish(
                    "not reading: over " + std::to_string(kMaxQueued >> 20) + " MiB queued", true);
            }
            self->queued_ += f.size();
            self->queue_.push_back({std::move(f), {}, {}, 0});
            self->pump();
        });
    }
    // Streams a host file as `file` frames (read here, a chunk at a time,
    // so that a big `cc send` does not sit in memory).
    void sendFile(std::string host, std::string rel, unsigned mode) {
        asio::post(sock_.get_executor(), [self = shared_from_this(), host, rel, mode] {
            self->queue_.push_back({{}, host, rel, mode});
            self->pump();
        });
    }
    void close() {
        asio::post(sock_.get_executor(),
                   [self = shared_from_this()] { self->finish("closed by the daemon", false); });
    }

  private:
    struct Out {
        std::string frame;  // ready frame, or:
        std::string host;   // a file to stream
        std::string rel;
        unsigned mode;
    };

    void readMore() {
        sock_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](
                                                      boost::system::error_code ec, size_t n) {
            if (ec) {
                self->finish(self->dec_.pending() ? "truncated frame" : "disconnected", true);
                return;
            }
            self->dec_.feed(self->buf_.data(), n);
            std::string err;
            while (auto f = self->dec_.next(err)) {
                if (self->closed_) return;
                self->on_frame(self, std::move(*f));
            }
            if (!err.empty()) return self->finish("protocol error: " + err, true);
            self->readMore();
        });
    }

    void pump() {
        if (writing_ || closed_ || queue_.empty()) return;
        Out& o = queue_.front();
        bool last = true;
        if (o.frame.empty()) {
            if (!file_) {
                file_.reset(::open(o.host.c_str(), O_RDONLY | O_CLOEXEC));
                if (!file_) HERD_LOG(warn, "cc send {}: {}", o.host, std::strerror(errno));
            }
            std::string chunk(ccproto::kChunk, '\0');
            ssize_t n = file_ ? ::read(file_.get(), chunk.data(), chunk.size()) : 0;
            last = n <= 0;
            chunk.resize(n > 0 ? static_cast<size_t>(n) : 0);
            cur_ = ccproto::encode(
                {{"type", "file"}, {"path", o.rel}, {"mode", o.mode}, {"eof", last}}, chunk);
            if (last) file_.reset();
        } else {
            queued_ -= o.frame.size();
            cur_ = std::move(o.frame);
        }
        if (last) queue_.pop_front();
        writing_ = true;
        asio::async_write(sock_, asio::buffer(cur_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t) {
                              self->writing_ = false;
                              if (ec) return self->finish("write: " + ec.message(), true);
                              self->pump();
                          });
    }

    void finish(const std::string& why, bool notify) {
        if (closed_) return;
        closed_ = true;
        boost::system::error_code ec;
        sock_.close(ec);
        queue_.clear();
        queued_ = 0;
        file_.reset();
        if (notify && on_close) on_close(shared_from_this(), why);
    }

    local::socket sock_;
    // Not zeroed: with one connection per container, only the pages data
    // actually lands in should become resident.
    std::array<char, 65536> buf_;
    ccproto::Decoder dec_;
    static constexpr size_t kMaxQueued = 16u << 20;
    std::deque<Out> queue_;
    size_t queued_ = 0;  // bytes of ready frames in queue_ (files are streamed)
    std::string cur_;
    unique_fd file_;
    bool writing_ = false;
    bool closed_ = false;
};

// A VM's listening socket, on the io thread.
class CcListener : public std::enable_shared_from_this<CcListener> {
  public:
    CcListener(asio::io_context& io, CcService& svc, Herd& herd, int vm_id, std::string path)
        : acc_(io), svc_(svc), herd_(herd), vm_id_(vm_id), path_(std::move(path)) {}

    Result<void> listen() {
        ::unlink(path_.c_str());  // ours, from an earlier run of this instance dir
        boost::system::error_code ec;
        acc_.open(local(), ec);
        if (!ec) acc_.bind(local::endpoint(path_), ec);
        if (!ec) acc_.listen(64, ec);
        if (ec) return Error::msg("listen " + path_ + ": " + ec.message());
        asio::post(acc_.get_executor(), [self = shared_from_this()] { self->acceptMore(); });
        return Ok();
    }
    void close() {
        asio::post(acc_.get_executor(), [self = shared_from_this()] {
            boost::system::error_code ec;
            self->acc_.close(ec);
        });
        ::unlink(path_.c_str());
    }
    const std::string& path() const { return path_; }

  private:
    void acceptMore() {
        acc_.async_accept(
            [self = shared_from_this()](boost::system::error_code ec, local::socket s) {
                if (ec == asio::error::operation_aborted || !self->acc_.is_open()) return;
                if (!ec) {
                    auto conn = std::make_shared<CcConn>(std::move(s));
                    CcService* svc = &self->svc_;
                    auto post = self->herd_.post;
                    int id = self->vm_id_;
                    conn->on_frame = [svc, post, id](std::shared_ptr<CcConn> c, ccproto::Frame f) {
                        post([svc, id, c, f = std::move(f)]() mutable {
                            svc->onFrame(id, c.get(), std::move(f));
                        });
                    };
                    conn->on_close = [svc, post, id](std::shared_ptr<CcConn> c, std::string why) {
                        post([svc, id, c, why] { svc->onClosed(id, c.get(), why); });
                    };
                    post([svc, id, conn] { svc->accepted(id, conn); });
                    conn->start();
                }
                self->acceptMore();
            });
    }

    local::acceptor acc_;
    CcService& svc_;
    Herd& herd_;
    int vm_id_;
    std::string path_;
};

std::string CcFilter::str() const {
    std::vector<std::string> parts;
    if (!uuid.empty()) parts.push_back("uuid=" + uuid);
    if (!hostname.empty()) parts.push_back("hostname=" + hostname);
    if (!arch.empty()) parts.push_back("arch=" + arch);
    if (!os.empty()) parts.push_back("os=" + os);
    for (const auto& i : ip) parts.push_back("ip=" + i);
    for (const auto& m : mac) parts.push_back("mac=" + m);
    for (const auto& [k, v] : tags) parts.push_back(k + "=" + v);
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : " && ") + p;
    return out;
}

CcService::CcService(Herd& herd) : herd_(herd) {}

CcService::~CcService() {
    for (auto& [id, c] : clients_)
        if (c.conn) c.conn->close();
    for (auto& [id, l] : listeners_) l->close();
    for (auto& [k, p] : pending_) p.second->close();
}

const std::string& CcService::fileRoot() const {
    return herd_.opts.filepath;
}

std::string CcService::responsesDir(const std::string& ns) const {
    if (ns == kDefaultNamespace) return fileRoot() + "/miniccc_responses";
    return fileRoot() + "/" + ns + "/miniccc_responses";
}

Result<std::string> CcService::open(Vm& vm) {
    auto it = listeners_.find(vm.id);
    if (it != listeners_.end()) return it->second->path();
    if (!herd_.io || !herd_.post) return Error::msg("no event loop for cc");
    auto l = std::make_shared<CcListener>(*herd_.io, *this, herd_, vm.id, vm.instance_path + "/cc");
    HERD_TRY(l->listen());
    listeners_[vm.id] = l;
    CcClient& c = clients_[vm.id];
    c.vm_id = vm.id;
    c.ns = vm.ns;
    return l->path();
}

void CcService::drop(Vm& vm) {
    auto it = clients_.find(vm.id);
    if (it != clients_.end()) disconnect(it->second);
    vm.cc_active = false;
}

void CcService::close(Vm& vm) {
    drop(vm);
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.first == vm.id) {
            it->second.second->close();
            it = pending_.erase(it);
        } else {
            ++it;
        }
    }
    clients_.erase(vm.id);
    auto it = listeners_.find(vm.id);
    if (it != listeners_.end()) {
        it->second->close();
        listeners_.erase(it);
    }
}

void CcService::clearNamespace(const std::string& name) {
    ns_.erase(name);
    std::error_code ec;
    fs::remove_all(responsesDir(name), ec);
}

Vm* CcService::vmOf(const CcClient& c) {
    return herd_.vms.find(c.ns, std::to_string(c.vm_id));
}

void CcService::accepted(int vm_id, std::shared_ptr<CcConn> conn) {
    if (!listeners_.count(vm_id) || !clients_.count(vm_id)) return conn->close();
    const CcConn* key = conn.get();
    pending_[key] = {vm_id, std::move(conn)};
}

void CcService::disconnect(CcClient& c) {
    if (c.conn) c.conn->close();
    c.conn.reset();
    c.welcomed = false;
    c.recv_files.clear();
    c.procs.clear();
    if (Vm* vm = vmOf(c)) vm->cc_active = false;
}

void CcService::onClosed(int vm_id, const CcConn* conn, const std::string& why) {
    if (pending_.erase(conn)) return;
    auto it = clients_.find(vm_id);
    if (it == clients_.end() || it->second.conn.get() != conn) return;
    HERD_LOG(debug, "cc client {} ({}): {}", it->second.uuid, vm_id, why);
    disconnect(it->second);
}

void CcService::onFrame(int vm_id, const CcConn* conn, ccproto::Frame f) {
    auto it = clients_.find(vm_id);
    if (auto p = pending_.find(conn); p != pending_.end()) {
        auto pc = std::move(p->second.second);
        pending_.erase(p);
        if (it == clients_.end()) return pc->close();
        if (f.type() != "hello") {
            HERD_LOG(warn, "cc: vm {}: expected hello, got `{}`", vm_id, f.type());
            return pc->close();
        }
        return hello(it->second, std::move(pc), f);
    }
    if (it == clients_.end() || it->second.conn.get() != conn || !it->second.welcomed) return;
    CcClient& c = it->second;
    const std::string type = f.type();
    if (type == "response") {
        response(c, f);
    } else if (type == "file") {
        fileChunk(c, f);
    } else if (type == "info") {
        setInfo(c, f.header);
        if (Vm* vm = vmOf(c)) applyAgentAddresses(*vm, c.ip, c.mac);
    } else if (type == "procs") {
        c.procs.clear();
        auto it2 = f.header.find("procs");
        if (it2 != f.header.end() && it2->is_array()) {
            for (const auto& p : *it2) {
                if (!p.is_object()) continue;
                c.procs.push_back(
                    {static_cast<int>(ccproto::jint(p, "pid")), ccproto::jstrs(p, "argv")});
            }
        }
    }
}

void CcService::hello(CcClient& c, std::shared_ptr<CcConn> conn, const ccproto::Frame& f) {
    Vm* vm = vmOf(c);
    auto reject = [&](const std::string& why) {
        HERD_LOG(warn, "cc: vm {}: rejected agent: {}", c.vm_id, why);
        conn->send(ccproto::encode({{"type", "reject"}, {"error", why}}));
        conn->close();
    };
    int64_t version = ccproto::jint(f.header, "version", -1);
    if (version != ccproto::kVersion)
        return reject("unsupported protocol version " + std::to_string(version));
    std::string uuid = lower(ccproto::jstr(f.header, "uuid"));
    if (!vm || uuid.empty() || uuid != lower(vm->uuid())) return reject("unregistered client");
    if (c.conn) disconnect(c);  // the agent reconnected before we saw it go
    c.conn = std::move(conn);
    c.uuid = uuid;
    setInfo(c, f.header);
    c.welcomed = true;
    vm->cc_active = true;
    applyAgentAddresses(*vm, c.ip, c.mac);
    c.conn->send(ccproto::encode({{"type", "welcome"}, {"version", ccproto::kVersion}}));
    // Commands posted while it was away (never the `once` ones).
    for (auto& [id, cmd] : ns(c.ns).commands)
        if (!cmd.once && !cmd.sent_to.count(c.uuid) && matches(c, cmd.filter)) deliver(c, cmd);
}

void CcService::response(CcClient& c, const ccproto::Frame& f) {
    int64_t id = ccproto::jint(f.header, "id", -1);
    int64_t nout = ccproto::jint(f.header, "stdout", -1),
            nerr = ccproto::jint(f.header, "stderr", -1);
    if (nout < 0 || nerr < 0 || static_cast<uint64_t>(nout + nerr) != f.body.size()) {
        HERD_LOG(warn, "cc: vm {}: malformed response", c.vm_id);
        return disconnect(c);
    }
    auto& cmds = ns(c.ns).commands;
    auto it = cmds.find(static_cast<int>(id));
    if (it == cmds.end()) return;  // deleted meanwhile
    std::string dir = responsesDir(c.ns) + "/" + std::to_string(id) + "/" + c.uuid;
    if (auto r = makeDirs(herd_, dir); !r.ok()) {
        HERD_LOG(error, "cc: {}", r.error().text());
        return;
    }
    std::string_view body(f.body);
    Result<void> r = Ok();
    if (nout > 0) r = writeFile(herd_, dir + "/stdout", body.substr(0, nout));
    if (r.ok() && nerr > 0) r = writeFile(herd_, dir + "/stderr", body.substr(nout));
    auto ec = f.header.find("exitcode");
    if (r.ok() && ec != f.header.end() && ec->is_number_integer())
        r = writeFile(herd_, dir + "/exitcode", std::to_string(ec->get<int64_t>()));
    if (!r.ok()) HERD_LOG(error, "cc: {}", r.error().text());
    it->second.checked_in.insert(c.uuid);
}

void CcService::fileChunk(CcClient& c, const ccproto::Frame& f) {
    int64_t id = ccproto::jint(f.header, "id", -1);
    std::string rel = ccproto::safeRelative(ccproto::jstr(f.header, "path"));
    if (id < 0 || rel.empty()) return;
    std::string host = responsesDir(c.ns) + "/" + std::to_string(id) + "/" + c.uuid + "/" + rel;
    bool eof = ccproto::jbool(f.header, "eof");
    if (!ccproto::jstr(f.header, "error").empty()) {
        c.recv_files.erase(host);
        return;
    }
    auto it = c.recv_files.find(host);
    if (it == c.recv_files.end()) {
        auto fd = [&]() -> Result<unique_fd> {
            HERD_TRY(makeDirs(herd_, host.substr(0, host.rfind('/'))));
            return createFile(herd_, host);
        }();
        if (!fd.ok()) {
            HERD_LOG(error, "cc recv: {}", fd.error().text());
            return;
        }
        it = c.recv_files.emplace(host, std::move(*fd)).first;
    }
    if (auto r = writeAll(it->second.get(), f.body, host); !r.ok()) {
        HERD_LOG(error, "cc recv: {}", r.error().text());
        c.recv_files.erase(it);
        return;
    }
    if (eof) c.recv_files.erase(it);
}

bool CcService::matches(const CcClient& c, const std::optional<CcFilter>& f) {
    if (!f) return true;
    if (!f->uuid.empty() && f->uuid != c.uuid) return false;
    if (!f->hostname.empty() && f->hostname != c.hostname) return false;
    if (!f->arch.empty() && f->arch != c.arch) return false;
    if (!f->os.empty() && f->os != c.os) return false;
    for (const auto& want : f->ip)
        if (std::none_of(c.ip.begin(), c.ip.end(),
                         [&](const std::string& h) { return ipMatches(want, h); }))
            return false;
    for (const auto& want : f->mac)
        if (std::none_of(c.mac.begin(), c.mac.end(),
                         [&](const std::string& h) { return lower(h) == lower(want); }))
            return false;
    Vm* vm = const_cast<CcService*>(this)->vmOf(c);
    if (!vm) return f->tags.empty();
    for (const auto& [k, v] : f->tags) {
        // A `vm info` column with a value wins over a tag of the same name.
        auto col = vm->info(k, herd_.vlans);
        if (col.ok() && !col->empty()) {
            if (*col != v) return false;
            continue;
        }
        auto t = vm->config.tags.find(k);
        if (t == vm->config.tags.end() || t->second != v) return false;
    }
    return true;
}

void CcService::deliver(CcClient& c, CcCommand& cmd) {
    for (size_t i = 0; i < cmd.send_host.size(); ++i) {
        struct stat st {};
        unsigned mode = ::stat(cmd.send_host[i].c_str(), &st) == 0 ? st.st_mode & 07777 : 0644;
        c.conn->sendFile(cmd.send_host[i], cmd.send[i], mode);
    }
    json h = {{"type", "command"}, {"id", cmd.id},
              {"argv", cmd.argv},  {"background", cmd.background},
              {"send", cmd.send},  {"recv", cmd.recv}};
    c.conn->send(ccproto::encode(h));
    cmd.sent_to.insert(c.uuid);
}

std::vector<CcClient*> CcService::active(const std::string& ns) {
    std::vector<CcClient*> out;
    for (auto& [id, c] : clients_) {
        if (c.ns != ns || !c.welcomed || !c.conn) continue;
        Vm* vm = vmOf(c);
        if (vm && inStates(vm->state, kKillable)) out.push_back(&c);
    }
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->uuid < b->uuid; });
    return out;
}

int CcService::post(const std::string& nsname, CcCommand cmd) {
    Ns& n = ns(nsname);
    cmd.id = n.next_id++;
    cmd.prefix = n.prefix;
    cmd.filter = n.filter;
    auto& stored = n.commands[cmd.id] = std::move(cmd);
    for (CcClient* c : active(nsname))
        if (matches(*c, stored.filter)) deliver(*c, stored);
    return stored.id;
}

void CcService::deleteCommand(const std::string& nsname, int id) {
    ns(nsname).commands.erase(id);
}

void CcService::signal(const std::string& nsname, const json& msg) {
    auto frame = ccproto::encode(msg);
    for (CcClient* c : active(nsname))
        if (matches(*c, ns(nsname).filter)) c->conn->send(frame);
}

void attachCc(Herd& herd) {
    herd.cc = std::make_shared<CcService>(herd);
    auto rt = std::dynamic_pointer_cast<ContainerRuntime>(herd.runtime);
    if (!rt) return;
    std::weak_ptr<CcService> w = herd.cc;
    ContainerRuntime::Backchannel b;
    b.open = [w](Vm& vm) -> Result<std::string> {
        if (auto s = w.lock()) return s->open(vm);
        return Error::msg("cc is not running");
    };
    b.drop = [w](Vm& vm) {
        if (auto s = w.lock()) s->drop(vm);
    };
    b.close = [w](Vm& vm) {
        if (auto s = w.lock()) s->close(vm);
    };
    rt->setBackchannel(std::move(b));
}

void ccClearNamespace(Herd& herd, const std::string& ns) {
    if (herd.cc) herd.cc->clearNamespace(ns);
}

}  // namespace herd
