// The keeper: a small process, one per base directory, that is the parent of
// every container the daemon launches, so that the containers (and what only
// their parent can learn: how they ended) outlive the daemon.
//
// Why a separate process:
//   - Only a process's parent can reap it and read its exit status. With the
//     daemon as the parent, a daemon that dies hands its containers to init,
//     and a new daemon can neither reap them nor tell how they ended.
//   - clone() copies the caller's descriptor table, and the new container
//     then closes it: from the daemon, which holds several descriptors per
//     container, each launch cost more than the one before. The keeper holds
//     a handful of descriptors, so a launch costs the same at 10 as at 10,000.
//
// The daemon starts the keeper (its own binary with the single argument
// `-keeper`, in a new session so that a terminal's signals do not reach it)
// the first time it runs on a base, with a listening unix socket at
// <base>/keeper (root's alone: the base is 0700). A later daemon on the same
// base connects to the running keeper. The keeper accepts connections from
// root only.
//
// Protocol: JSON objects, one per SOCK_SEQPACKET message, descriptors with
// SCM_RIGHTS. A connection first says which kind it is:
//   {"op":"hello","role":"control"}  -> {"ok":true,"pid":<the keeper's>}, then
//                                   requests, each answered in order:
//     {"op":"launch","spec":{...}} + fds [sync, layers?]
//                                   -> {"ok":true,"pid":N,"serial":S}
//                                   -> {"ok":false,"error":"...","errno":E}
//                                   (S counts the keeper's launches: with
//                                   the pid it names one child for good)
//     {"op":"start","children":[[pid,serial],...],"timeout_ms":T}
//                                   let BUILDING children exec, wait for it
//                                   -> {"ok":true,"results":[[pid,err,errno],...]}
//                                   (err "" when it exec'd)
//     {"op":"kill","pid":N,"serial":S,"sig":G}
//                                   signal that child, if not reaped yet
//                                   (no answer; a pid alone never suffices)
//     {"op":"pidfd","pid":N,"serial":S}
//                                   -> {"ok":true} + fds [pidfd of the child]
//     {"op":"children"}             -> {"ok":true,"children":[[pid,serial,
//                                   waiting],...]} (waiting: BUILDING)
//     {"op":"exits","pids":[...]}   -> {"ok":true,"exits":[[pid,status],...]}
//                                   how those that ended did (the last
//                                   65536 exits are remembered)
//     {"op":"hold","key":K} + fds   keep copies of fds under K (no answer)
//     {"op":"keepdisk","key":K} + fd  keep a detached disk mount under K in
//                                   the disk vault (disk_vault.h) -> {"ok":..}
//                                   a launch's spec names it as "disk":K
//     {"op":"drop","key":K}         close what K held (no answer)
//     {"op":"fetch"}                -> {"op":"held","key":K} + fds, for each
//                                   key ({"op":"held","key":K,"disk":true}
//                                   for each disk), then {"ok":true,"done":true}
//     {"op":"killall"}              kill and reap every child, close
//                                   everything held -> {"ok":true}
//     {"op":"quit"}                 killall, answer, then exit
//   {"op":"hello","role":"events"}  the keeper sends {"op":"exit","pid":N,
//                                   "serial":S,"status":W} for each child it
//                                   reaps.
// The keeper exits when the last connection closes while it has no child and
// holds no descriptor.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/launch.h"

namespace herd::runtime {

// The socket's name under the base directory.
inline constexpr const char* kKeeperSocket = "keeper";
// What the keeper writes about itself (errors), under the base directory.
inline constexpr const char* kKeeperLog = "keeper.log";

// The keeper process: serves the listening socket on `listen_fd` until it
// is told to quit or has nothing left to keep. Returns its exit code.
int keeperMain(int listen_fd);

// The daemon's side: a ContainerParent whose clone() asks the keeper.
class Keeper : public ContainerParent {
  public:
    // Connects to the keeper of the base at `base_path`, starting one (from
    // the binary `exe`) when none runs. `started` tells which.
    static Result<std::shared_ptr<Keeper>> open(const std::string& base_path,
                                                const std::string& exe, bool* started = nullptr);
    // Connects to a running keeper only; ENOENT or ECONNREFUSED when none runs.
    static Result<std::shared_ptr<Keeper>> connect(const std::string& base_path);
    ~Keeper() override;

    Result<Cloned> clone(const LaunchSpec& spec, int child_sync) override;
    std::vector<Result<void>> start(const std::vector<ChildRef>& children, int timeout_ms) override;
    void kill(const ChildRef& child, int sig) override;
    std::optional<int> tryReap(const ChildRef& child) override;
    int reap(const ChildRef& child) override;
    Result<unique_fd> pidfd(const ChildRef& child) override;
    void watch(const ChildRef& child, std::function<void()> on_exit) override;
    void hold(const std::string& key, const std::vector<int>& fds) override;
    bool keepDisk(const std::string& key, int mount_fd) override;
    void drop(const std::string& key) override;
    // Copies of everything held, by key.
    Result<std::map<std::string, std::vector<unique_fd>>> fetch();

    // The keeper's living children (a previous daemon's containers, at
    // start); from now on their exits are reported here.
    struct KeptChild {
        int pid = 0;
        uint64_t serial = 0;
        bool waiting = false;  // BUILDING: ready, waiting for start
    };
    Result<std::vector<KeptChild>> children();
    // How those of `pids` that ended did (pid -> wait status), as far as
    // the keeper remembers: for adoption, of containers that ended while no
    // daemon listened.
    Result<std::map<int, int>> exits(const std::vector<int>& pids);
    // Kills and reaps every child and closes everything held.
    Result<void> killAll();
    // Kills every child and makes the keeper exit.
    Result<void> quit();
    // The keeper's pid, as it says.
    int pid() const { return pid_; }

  private:
    Keeper() = default;
    Result<std::string> request(const std::string& json, const std::vector<int>& fds,
                                unique_fd* got_fd);
    void eventLoop();
    void exitOf(uint64_t serial, int status);
    bool waitStatus(uint64_t serial, std::chrono::milliseconds timeout, int& status);
    // The control connection failed: nothing more can be asked or learnt.
    void markBroken();
    bool unusable() const;  // gone_ or broken_ (mu_ held)

    unique_fd control_;
    unique_fd events_;
    int pid_ = 0;
    std::mutex control_mu_;  // one request at a time on control_
    std::mutex mu_;          // statuses_, watchers_, gone_, broken_
    std::condition_variable cv_;
    // By serial (ChildRef): how exited children ended, until reaped here;
    // who waits for one to exit.
    std::map<uint64_t, int> statuses_;
    std::map<uint64_t, std::function<void()>> watchers_;
    bool gone_ = false;                  // the events connection closed: the keeper died
    std::atomic<bool> quitting_{false};  // quit() asked it to end
    bool broken_ = false;                // the control connection failed
    std::thread thread_;
};

}  // namespace herd::runtime
