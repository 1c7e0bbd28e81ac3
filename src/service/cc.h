// Command and control (reference §7): the daemon side of herd-cc.
//
// Every container VM with `backchannel` true gets a unix socket on the host,
// <instance>/cc, bound to /cc in the container; its agent connects there.
// The socket identifies the VM, the agent's hello must carry that VM's UUID.
//
// Threads: sockets live on the daemon's io thread (CcConn); everything else
// (clients, commands, responses, files on disk) lives on the command thread,
// like the rest of the service layer. The io side only decodes frames and
// posts them to the command thread; the command thread posts frames back.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/ccproto.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "service/vm.h"

namespace herd {

class Herd;
class CcConn;
class CcListener;

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
};

struct CcProc {
    int pid = 0;
    std::vector<std::string> argv;
};

// A connected (or once connected) agent, one per VM.
struct CcClient {
    int vm_id = 0;
    std::string ns;
    std::string uuid, hostname, arch, os;
    std::vector<std::string> ip, mac;
    std::vector<CcProc> procs;
    std::shared_ptr<CcConn> conn;                 // null while disconnected
    bool welcomed = false;                        // conn said a valid hello
    std::map<std::string, unique_fd> recv_files;  // cc recv in progress, by host path
};

class CcService {
  public:
    explicit CcService(Herd& herd);
    ~CcService();

    // Runtime hooks (ContainerRuntime::Backchannel).
    Result<std::string> open(Vm& vm);
    void drop(Vm& vm);
    void close(Vm& vm);

    // Per namespace state.
    struct Ns {
        int next_id = 1;
        std::map<int, CcCommand> commands;
        std::optional<CcFilter> filter;
        std::string prefix;
    };
    Ns& ns(const std::string& name) { return ns_[name]; }
    void clearNamespace(const std::string& name);

    // Queues a command (id assigned here) and sends it to every matching
    // connected client; clients that connect later get it unless `once`.
    int post(const std::string& ns, CcCommand cmd);
    void deleteCommand(const std::string& ns, int id);

    // Connected, welcomed clients of a namespace whose VM is up, by uuid.
    std::vector<CcClient*> active(const std::string& ns);
    // Sends a kill/killall message to the namespace's active clients that
    // match its current filter.
    void signal(const std::string& ns, const nlohmann::json& msg);

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
    void fileChunk(CcClient& c, const ccproto::Frame& f);
    void disconnect(CcClient& c);
    bool matches(const CcClient& c, const std::optional<CcFilter>& f);
    void deliver(CcClient& c, CcCommand& cmd);
    Vm* vmOf(const CcClient& c);

    Herd& herd_;
    std::map<int, std::shared_ptr<CcListener>> listeners_;  // by VM id
    std::map<int, CcClient> clients_;                       // by VM id
    std::map<std::string, Ns> ns_;
    // Connections that have not said hello yet: they replace a VM's client
    // only once they prove who they are, so that garbage on the socket
    // cannot knock the real agent off.
    std::map<const CcConn*, std::pair<int, std::shared_ptr<CcConn>>> pending_;
};

// Creates herd.cc and hooks it into the container runtime (if that is the
// runtime). Needs herd.io and herd.post.
void attachCc(Herd& herd);
// Forgets a destroyed namespace's commands, filter and prefix.
void ccClearNamespace(Herd& herd, const std::string& ns);

}  // namespace herd
