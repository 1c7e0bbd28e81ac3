// One `plumb` pipeline: stages that are pipes or host programs, each
// feeding the next. A pipe stage that is not the last gets a reader (its
// messages go to the next stage); one that is not the first gets a writer
// (the previous stage's output is written into it). A program stage gets
// the previous stage's messages on its stdin; its stdout, split into lines,
// feeds the next stage (the last stage's is discarded); its stderr is
// logged. When any stage ends (a program exits or closes its output, a
// pipe is deleted), the whole pipeline is cancelled: its programs are
// killed and it leaves the plumber's list.
//
// Programs run as nobody when the daemon runs as root (runtime/piped_child.h),
// each with a thread writing its stdin (at most Plumber::kReaderQueue bytes
// queued; more is dropped and counted) and threads reading its stdout and
// stderr.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace herd {

class Plumber;

class Pipeline : public std::enable_shared_from_this<Pipeline> {
  public:
    // Sets the stages up (programs started, readers and writers
    // registered); run() then starts its threads. On error nothing is left.
    static Result<std::shared_ptr<Pipeline>> start(std::shared_ptr<Plumber> plumber,
                                                   const std::vector<std::string>& stages,
                                                   std::string production);
    ~Pipeline();
    void run();
    // Ends it (idempotent; any thread, no plumber lock held).
    void cancel();

    // A stage's words: split at white space, "..." and '...' group.
    static std::vector<std::string> splitStage(const std::string& stage);

    static constexpr size_t kMaxLine = 1u << 20;

    struct Stage;
    struct State;

  private:
    Pipeline() = default;
    std::shared_ptr<State> st_;
};

}  // namespace herd
