#include "service/pipeline.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "base/subprocess.h"
#include "runtime/piped_child.h"
#include "service/plumber.h"

namespace herd {

struct Pipeline::Stage {
    bool program = false;
    std::string text;  // as typed (qualified for a pipe)
    runtime::PipedChild child;
    uint64_t reader_id = 0;
    bool writer = false;
    // The program's stdin queue.
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::string> q;
    size_t queued = 0;
    bool closing = false;
};

struct Pipeline::State : std::enable_shared_from_this<Pipeline::State> {
    std::weak_ptr<Plumber> plumber;
    std::string production;
    const Pipeline* owner = nullptr;
    std::vector<std::unique_ptr<Stage>> stages;
    std::atomic<bool> cancelled{false};

    void feed(size_t i, const std::string& msg) {
        if (i >= stages.size() || cancelled) return;
        Stage& s = *stages[i];
        if (!s.program) {
            if (auto pl = plumber.lock()) {
                auto r = pl->write(s.text, msg);
                if (!r.ok()) HERD_LOG(warn, "plumb {}: {}", production, r.error().text());
            }
            return;
        }
        std::lock_guard l(s.mu);
        if (s.closing) return;
        if (s.queued + msg.size() > Plumber::kReaderQueue) {
            HERD_LOG(debug, "plumb {}: stage {} is not reading; message dropped", production, i);
            return;
        }
        s.queued += msg.size();
        s.q.push_back(msg);
        s.cv.notify_one();
    }

    void cancel() {
        if (cancelled.exchange(true)) return;
        auto pl = plumber.lock();
        for (auto& s : stages) {
            if (pl && s->reader_id) pl->removeReader(s->text, s->reader_id);
            if (pl && s->writer) pl->removeWriter(s->text);
            if (s->program) {
                s->child.kill();
                std::lock_guard l(s->mu);
                s->closing = true;
                s->cv.notify_all();
            }
        }
        if (pl) pl->pipelineEnded(production, owner);
    }

    void writeStdin(Stage& s) {
        for (;;) {
            std::string m;
            {
                std::unique_lock l(s.mu);
                s.cv.wait(l, [&] { return s.closing || !s.q.empty(); });
                if (s.closing) break;
                m = std::move(s.q.front());
                s.q.pop_front();
                s.queued -= m.size();
            }
            size_t off = 0;
            while (off < m.size()) {
                ssize_t w = ::write(s.child.in.get(), m.data() + off, m.size() - off);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) return;
                off += static_cast<size_t>(w);
            }
        }
    }

    // stdout (feeds stage i+1) or stderr (logged), split into lines.
    void readLines(size_t i, bool is_err) {
        Stage& s = *stages[i];
        int fd = is_err ? s.child.err.get() : s.child.out.get();
        std::string line;
        char buf[16384];
        const size_t max = is_err ? 4096 : kMaxLine;
        auto emit = [&] {
            if (is_err)
                HERD_LOG(info, "plumb {}: {}: {}", production, s.text, line);
            else
                feed(i + 1, line + "\n");
            line.clear();
        };
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            for (ssize_t k = 0; k < n; ++k) {
                if (buf[k] == '\n') {
                    emit();
                } else {
                    line.push_back(buf[k]);
                    if (line.size() >= max) emit();
                }
            }
        }
        if (!line.empty()) emit();
        if (!is_err) cancel();  // the program ended its output: the pipeline ends
    }
};

namespace {

// Hands a pipe stage's messages to the next stage.
class StageReader : public PipeReader {
  public:
    StageReader(std::weak_ptr<Pipeline::State> st, size_t next) : st_(std::move(st)), next_(next) {}
    void deliver(const std::string& msg) override {
        if (auto st = st_.lock()) st->feed(next_, msg);
    }
    void closed() override {
        if (auto st = st_.lock()) st->cancel();
    }

  private:
    std::weak_ptr<Pipeline::State> st_;
    size_t next_;
};

}  // namespace

std::vector<std::string> Pipeline::splitStage(const std::string& stage) {
    std::vector<std::string> out;
    std::string cur;
    bool have = false;
    char quote = 0;
    for (char c : stage) {
        if (quote) {
            if (c == quote)
                quote = 0;
            else
                cur.push_back(c);
        } else if (c == '"' || c == '\'') {
            quote = c;
            have = true;
        } else if (c == ' ' || c == '\t' || c == '\n') {
            if (have) out.push_back(std::move(cur));
            cur.clear();
            have = false;
        } else {
            cur.push_back(c);
            have = true;
        }
    }
    if (have) out.push_back(std::move(cur));
    return out;
}

Result<std::shared_ptr<Pipeline>> Pipeline::start(std::shared_ptr<Plumber> plumber,
                                                  const std::vector<std::string>& stages,
                                                  std::string production) {
    std::shared_ptr<Pipeline> p(new Pipeline());
    auto st = std::make_shared<State>();
    st->plumber = plumber;
    st->production = std::move(production);
    st->owner = p.get();
    p->st_ = st;
    auto fail = [&](Error e) -> Result<std::shared_ptr<Pipeline>> {
        st->cancel();
        return e;
    };
    for (const auto& text : stages) {
        auto s = std::make_unique<Stage>();
        s->text = text;
        if (plumber->isProgram(text)) {
            s->program = true;
            auto argv = splitStage(text);
            auto path = lookPath(argv[0], plumber->pathEnv());
            if (!path.ok()) return fail(path.error());
            auto child =
                runtime::PipedChild::start(*path, argv, {{"PATH", plumber->pathEnv()}}, true);
            if (!child.ok()) return fail(child.error());
            s->child = std::move(*child);
        } else {
            auto ok = Plumber::checkName(text);
            if (!ok.ok()) return fail(ok.error());
        }
        st->stages.push_back(std::move(s));
    }
    const size_t n = st->stages.size();
    for (size_t i = 0; i < n; ++i) {
        Stage& s = *st->stages[i];
        if (s.program) continue;
        if (i > 0) {
            auto ok = plumber->addWriter(s.text);
            if (!ok.ok()) return fail(ok.error());
            s.writer = true;
        }
        if (i + 1 < n) {
            auto id = plumber->addReader(s.text, std::make_shared<StageReader>(st, i + 1));
            if (!id.ok()) return fail(id.error());
            s.reader_id = *id;
        }
    }
    return p;
}

void Pipeline::run() {
    for (size_t i = 0; i < st_->stages.size(); ++i) {
        if (!st_->stages[i]->program) continue;
        auto st = st_;
        std::thread([st, i] { st->writeStdin(*st->stages[i]); }).detach();
        std::thread([st, i] { st->readLines(i, false); }).detach();
        std::thread([st, i] { st->readLines(i, true); }).detach();
    }
}

void Pipeline::cancel() {
    st_->cancel();
}

Pipeline::~Pipeline() {
    st_->cancel();
}

}  // namespace herd
