// Named pipes and pipelines (`pipe`, `plumb`, `cc ... stdin=P stdout=P`):
// minimega's plumber. A pipe carries messages (text ending in "\n") from its
// writers to its readers: every reader (mode all), the next one in turn
// (round-robin) or one at random; `via` passes each message through a host
// program per recipient. Pipes are daemon-wide; their names carry the
// namespace (`<ns>//<name>`).
//
// Readers are whatever takes messages: a guest process's stdin (cc), a host
// client of the pipe's socket, the next stage of a pipeline. Delivery never
// blocks the caller: each reader queues a bounded amount and drops (and
// counts) what does not fit, so a slow reader loses messages rather than
// stall the daemon or grow it.
//
// Thread-safe: written to from the command thread (`pipe p data`), the io
// thread (guest output) and the threads of pipelines and host sockets.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"

namespace boost::asio {
class io_context;
}

namespace herd {

class Dir;
class PipeSockets;
class Pipeline;

// Something that takes a pipe's messages. deliver() must not block.
class PipeReader {
  public:
    virtual ~PipeReader() = default;
    virtual void deliver(const std::string& msg) = 0;
    // The pipe was deleted: no more messages come.
    virtual void closed() = 0;
    // Messages this reader dropped because its queue was full.
    std::atomic<uint64_t> dropped{0};
};

struct PipeInfo {
    std::string name;  // qualified
    std::string mode;
    size_t readers = 0, writers = 0;
    uint64_t count = 0;
    std::vector<std::string> via;
    std::string previous;
    uint64_t dropped = 0;  // by its readers (queues full) and by via failures
};

class Plumber : public std::enable_shared_from_this<Plumber> {
  public:
    enum class Mode { All, RoundRobin, Random };

    // `base`: where the pipes' host sockets go (<base>/pipes/<ns>/...),
    // served on `io`; either null: none. `path_env`: the PATH that `plumb`
    // and `via` programs are looked up in and run with.
    Plumber(std::shared_ptr<const Dir> base, boost::asio::io_context* io, std::string path_env);
    ~Plumber();

    static constexpr size_t kMaxMessage = 64u << 10;  // longer lines are cut
    static constexpr size_t kReaderQueue = 1u << 20;  // bytes queued per reader
    static constexpr size_t kMaxPipes = 4096;

    // `<ns>//<name>` for a bare name; a name with `//` is taken as it is.
    static std::string qualify(const std::string& ns, const std::string& name);
    // Whether a qualified name is one herd accepts: the namespace and the
    // name made of letters, digits, `.`, `_` and `-` (at most 64 each, not
    // starting with `.`); the error says so.
    static Result<void> checkName(const std::string& qualified);

    // Writes one message (a "\n" is appended if missing), creating the pipe.
    Result<void> write(const std::string& pipe, std::string msg);
    // Registers a reader / writer, creating the pipe; the id removes it.
    Result<uint64_t> addReader(const std::string& pipe, std::shared_ptr<PipeReader> r);
    void removeReader(const std::string& pipe, uint64_t id);
    Result<void> addWriter(const std::string& pipe);
    void removeWriter(const std::string& pipe);

    Result<void> setMode(const std::string& pipe, Mode m);
    Result<void> setLog(const std::string& pipe, bool on);
    Result<void> setVia(const std::string& pipe, std::vector<std::string> argv);
    // `clear pipe <p> mode|log|via`: `no such pipe: <p>` if absent.
    Result<void> resetSetting(const std::string& pipe, const std::string& what);
    // `clear pipe <p>`: deletes it (its readers are closed).
    Result<void> clearPipe(const std::string& pipe);
    // `clear pipe`: deletes every pipe, unless one has writers.
    Result<void> clearAll();
    // Pipes of namespace `ns`, sorted by name.
    std::vector<PipeInfo> list(const std::string& ns);
    bool exists(const std::string& pipe);

    // `plumb <stages>...`: stages already namespace-qualified where they are
    // pipes (see plumb.cc for how a stage is told to be a process).
    Result<void> plumb(const std::vector<std::string>& stages);
    // Productions (stages joined by spaces) containing `<ns>//`, sorted.
    std::vector<std::string> pipelines(const std::string& ns);
    // `clear plumb <production>`; `clear plumb` (all).
    Result<void> clearPipeline(const std::string& production);
    void clearPipelines();
    // Called by a pipeline that ended by itself.
    void pipelineEnded(const std::string& production, const Pipeline* p);

    const std::string& pathEnv() const { return path_env_; }
    // Whether the first word of a stage names a program in PATH.
    bool isProgram(const std::string& stage) const;

  private:
    struct Pipe {
        Mode mode = Mode::All;
        bool log = false;
        std::vector<std::string> via;
        std::map<uint64_t, std::shared_ptr<PipeReader>> readers;  // by random id
        size_t writers = 0;
        uint64_t count = 0;
        uint64_t via_dropped = 0;
        uint64_t last = 0;  // round-robin: the last recipient's id
        std::string previous;
        std::shared_ptr<PipeSockets> sockets;
    };
    struct ViaJob {
        std::string pipe;
        std::vector<std::string> argv;
        std::string msg;
        std::vector<std::shared_ptr<PipeReader>> to;
    };

    Result<Pipe*> getOrCreate(const std::string& pipe);  // mu_ held
    void runVia();
    void closeReaders(std::vector<std::shared_ptr<PipeReader>> rs,
                      std::vector<std::shared_ptr<PipeSockets>> socks);

    std::shared_ptr<const Dir> base_;
    boost::asio::io_context* io_;
    std::string path_env_;
    std::mutex mu_;
    std::map<std::string, Pipe> pipes_;
    std::map<std::string, std::shared_ptr<Pipeline>> pipelines_;
    std::mt19937_64 rng_;

    // `via` programs run on a thread of their own, never on the caller's.
    std::mutex via_mu_;
    std::condition_variable via_cv_;
    std::deque<ViaJob> via_q_;
    bool via_stop_ = false;
    std::thread via_thread_;
};

}  // namespace herd
