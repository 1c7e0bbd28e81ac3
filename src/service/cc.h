// Command and control (minimega's `cc`): the daemon side of herd-cc.
//
// Every container VM with `backchannel` true gets a unix socket on the host,
// <instance>/cc, bound to /cc in the container; its agent connects there.
// The socket identifies the VM, the agent's hello must carry that VM's UUID.
//
// Threads: sockets live on the daemon's io thread (CcConn); everything else
// (clients, commands, responses, files on disk) lives on the command thread,
// like the rest of the service layer. The io side only decodes frames and
// posts them to the command thread; the command thread posts frames back.
//
// The guest is root in its container and may speak the protocol itself, so
// nothing it sends is trusted (limits in namespace cclimits):
//   - a VM's socket takes a few connections at once; each must say hello
//     within a few seconds, and until it has, only a small frame is read;
//   - later frames are bounded (size, header size and nesting, checked
//     before parsing), and a connection whose frames wait for the command
//     thread stops being read until they are handled;
//   - responses and files are stored only for commands delivered to that
//     client and still waiting for its answer (a `cc recv` for files, only
//     the paths it asked for), within a byte budget per VM and command
//     (`cc budget`), with few files open at once, closed when idle;
//   - text the agent reports (hostname, os, process argv...) is escaped
//     (guestText), addresses and MACs are kept only if they parse.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "proto/ccproto.h"
#include "service/vm.h"

namespace herd {

class Herd;
class CcConn;
class CcListener;

namespace cclimits {
// Connections a VM's socket holds at once: the agent uses one, and a
// reconnecting agent may briefly overlap its old one.
inline constexpr size_t kMaxConns = 4;
// A connection must have sent its hello by then.
inline constexpr std::chrono::seconds kHelloTimeout{5};
// The first frame (hello: identity and up to kMaxAddrs addresses and MACs).
inline constexpr ccproto::Decoder::Limits kHello{64u << 10, 64u << 10, ccproto::kMaxDepth, 4096};
// Every later frame: responses and file chunks carry up to a few MiB of
// body, headers are small (the largest, `procs`, lists background commands).
inline constexpr ccproto::Decoder::Limits kAgent{ccproto::kMaxFrame, 1u << 20, ccproto::kMaxDepth,
                                                 65536};
// Bytes of decoded frames waiting for the command thread, per connection,
// beyond which the connection is not read.
inline constexpr size_t kMaxInflight = 16u << 20;
// Guest files being received at once per VM (the agent sends one at a time),
// and how long one may go without data before it is closed.
inline constexpr size_t kMaxOpenFiles = 4;
inline constexpr std::chrono::seconds kFileIdle{60};
// Default `cc budget`: bytes one VM may store for one command.
inline constexpr uint64_t kDefaultBudget = 1ull << 30;
// Agent text kept per field; entries kept per list.
inline constexpr size_t kMaxText = 256;
inline constexpr size_t kMaxProcs = 1024;
inline constexpr size_t kMaxArgs = 256;
// Tags a VM may have in all once a guest adds its own (miniccc `-tag`).
inline constexpr size_t kMaxGuestTags = 256;
}  // namespace cclimits

// Text from a guest made safe for a table, a log line or the web page: C0
// and C1 control characters, DEL and bytes that are not UTF-8 become `\xNN`
// escapes; the result is at most `max` bytes (cut at a character).
std::string guestText(std::string_view s, size_t max = cclimits::kMaxText);

// `cc budget` sizes: bytes, or a number with a K, M, G or T suffix (powers
// of 1024, case-insensitive, an optional trailing B), at least 1.
std::optional<uint64_t> parseByteSize(std::string_view s);

// `cc filter`: every set field must match (empty = any).
struct CcFilter {
    std::string uuid, hostname, arch, os;
    std::vector<std::string> ip, mac;  // any of the client's
    std::map<std::string, std::string> tags;

    // minimega's form for `cc commands`: `k=v && k=v`.
    std::string str() const;
};

struct CcCommand {
    int id = 0;
    std::string prefix;
    std::vector<std::string> argv;
    bool background = false;
    bool once = false;
    std::vector<std::string> send;       // paths relative to the file root (as sent)
    std::vector<std::string> send_host;  // the host files, same order
    std::vector<std::string> recv;       // guest paths
    std::optional<CcFilter> filter;
    std::set<std::string> sent_to;     // uuids the command went to
    std::set<std::string> checked_in;  // uuids that answered
    // Fields added to the command frame (`conntest`, `loglevel`).
    nlohmann::json extra = nlohmann::json::object();
};

struct CcProc {
    int pid = 0;
    std::vector<std::string> argv;
};

// A command delivered to a client that still owes its answer. Only these
// may store anything (kept across reconnects: the agent resends what it
// could not deliver).
struct CcExpect {
    int responses = 1;                // still to come (a background command answers twice)
    bool files = false;               // a `cc recv`: file frames before the response
    uint64_t stored = 0;              // bytes written for it (the budget)
    bool out_started = false;         // stdout / stderr written by `output` frames:
    bool err_started = false;         // what follows is appended
    bool over_budget = false;         // told once, in its stderr
    std::set<std::string> refused;    // guest paths no longer written
    std::vector<std::string> errors;  // the daemon's own, added to its stderr
};

struct CcRecvFile {
    unique_fd fd;
    int id = 0;
    std::string path;  // the guest path (as the command named it)
    std::chrono::steady_clock::time_point last;
};

// A tunnel of a client connection (`cc tunnel`, or `cc rtunnel` when
// `reverse`): src is the host port (the guest port for a reverse one).
struct CcTunnel {
    bool reverse = false;
    uint16_t src = 0;
    std::string host;
    uint16_t dst = 0;
};

// A connected (or once connected) agent, one per VM.
struct CcClient {
    int vm_id = 0;
    std::string ns;
    std::string uuid, hostname, arch, os;
    std::vector<std::string> ip, mac;
    std::vector<CcProc> procs;
    std::shared_ptr<CcConn> conn;                  // null while disconnected
    bool welcomed = false;                         // conn said a valid hello
    bool warned = false;                           // logged an unsolicited frame
    std::map<int, CcExpect> expect;                // by command id
    std::map<std::string, CcRecvFile> recv_files;  // cc recv in progress, by host path
    std::map<int, CcTunnel> tunnels;               // of this connection, by id
    int next_tunnel = 1;
};

class CcService : public std::enable_shared_from_this<CcService> {
  public:
    explicit CcService(Herd& herd);
    ~CcService();

    // Runtime hooks (Backchannel, service/vm.h).
    Result<std::string> open(Vm& vm);
    // The listening socket of `vm` (-1: none), and the same taken over from
    // a previous daemon (`fd`, duplicated here): the guest's /cc is that
    // socket, and its agent, whose connection closed with that daemon,
    // connects again by itself.
    int listenerFd(const Vm& vm) const;
    Result<void> adopt(Vm& vm, int fd);
    // `quit keep`: the sockets' files stay when this service goes.
    void keepSockets() { keep_sockets_ = true; }
    void drop(Vm& vm);
    void close(Vm& vm);

    // Per namespace state.
    struct Ns {
        int next_id = 1;
        std::map<int, CcCommand> commands;
        std::optional<CcFilter> filter;
        std::string prefix;
        uint64_t budget = cclimits::kDefaultBudget;  // `cc budget`
    };
    Ns& ns(const std::string& name) { return ns_[name]; }
    void clearNamespace(const std::string& name);

    // Queues a command (id assigned here) and sends it to every matching
    // connected client; clients that connect later get it unless `once`.
    int post(const std::string& ns, CcCommand cmd);
    // Same, but with the command's own prefix and filter instead of the
    // namespace's (commands the daemon itself issues, such as a router commit).
    int postScoped(const std::string& ns, CcCommand cmd);
    // Deletes every command of the namespace whose prefix is `prefix`.
    void deletePrefix(const std::string& ns, const std::string& prefix);
    void deleteCommand(const std::string& ns, int id);
    // Forgets every command of a namespace (ids start again at 1).
    void clearCommands(const std::string& ns);

    // Connected, welcomed clients of a namespace whose VM is up, by uuid.
    std::vector<CcClient*> active(const std::string& ns);
    // Sends a kill/killall message to the namespace's active clients that
    // match its current filter.
    void signal(const std::string& ns, const nlohmann::json& msg);

    // Active clients of the namespace that match its current filter.
    std::vector<CcClient*> matching(const std::string& ns);
    // The client of VM `vm_id` if it is connected and welcomed.
    CcClient* connected(int vm_id);
    // `cc tunnel`: listens on host TCP port `src` (every address); each
    // connection is relayed to host:dst dialed by the agent. The tunnel id,
    // or the listen error in Go's words (`listen tcp :80: bind: ...`).
    Result<int> openTunnel(CcClient& c, uint16_t src, const std::string& host, uint16_t dst);
    // `cc rtunnel`: the agent listens on guest port `src`; its connections
    // are relayed to host:dst dialed by the daemon. The tunnel id.
    int openRtunnel(CcClient& c, uint16_t src, const std::string& host, uint16_t dst);
    bool closeTunnel(CcClient& c, int id);
    // Closes every tunnel of the namespace's clients.
    void clearTunnels(const std::string& ns);

    // <file root>/miniccc_responses, or <file root>/<ns>/miniccc_responses.
    std::string responsesDir(const std::string& ns) const;
    const std::string& fileRoot() const;

  private:
    friend class CcListener;
    void accepted(int vm_id, std::shared_ptr<CcConn> conn);
    void onFrame(int vm_id, const CcConn* conn, ccproto::Frame f);
    void onClosed(int vm_id, const CcConn* conn, const std::string& why);
    void hello(CcClient& c, std::shared_ptr<CcConn> conn, const ccproto::Frame& f);
    void response(CcClient& c, const ccproto::Frame& f);
    // An `output` frame (part of a command's output before its response)
    // when `final` is false, the response itself when true.
    void storeOutput(CcClient& c, const ccproto::Frame& f, bool final);
    void fileChunk(CcClient& c, const ccproto::Frame& f);
    void procs(CcClient& c, const ccproto::Frame& f);
    void tags(CcClient& c, const ccproto::Frame& f);
    CcExpect* outstanding(CcClient& c, int64_t id);
    void unsolicited(CcClient& c, const std::string& what, int64_t id);
    void refuseFile(CcClient& c, const std::string& host, const std::string& why);
    void closeFiles(CcClient& c, int id);
    void forget(const std::string& ns, std::optional<int> id);
    void sweep();
    void startTicker();
    bool warnAllowed(int vm_id);
    void disconnect(CcClient& c);
    bool matches(const CcClient& c, const std::optional<CcFilter>& f);
    void deliver(CcClient& c, CcCommand& cmd);
    Vm* vmOf(const CcClient& c);

    Herd& herd_;
    std::map<int, std::shared_ptr<CcListener>> listeners_;  // by VM id
    bool keep_sockets_ = false;
    std::map<int, CcClient> clients_;  // by VM id
    std::map<std::string, Ns> ns_;
    // Connections that have not said hello yet: they replace a VM's client
    // only once they prove who they are, so that garbage on the socket
    // cannot knock the real agent off.
    std::map<const CcConn*, std::pair<int, std::shared_ptr<CcConn>>> pending_;
    bool ticking_ = false;  // sweep() runs every few seconds
    // When a VM's guest last got a warning logged (a guest reconnecting in
    // a loop must not fill the log).
    std::map<int, std::chrono::steady_clock::time_point> warned_;
};

// Makes herd.cc() and hooks it into the runtime as the VMs' backchannel.
// cc serves its sockets only with a daemon's event loop (herd.daemon().io()).
void attachCc(Herd& herd);
// Forgets a destroyed namespace's commands, filter and prefix.
void ccClearNamespace(Herd& herd, const std::string& ns);

}  // namespace herd
