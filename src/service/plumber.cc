#include "service/plumber.h"

#include <algorithm>

#include "base/log.h"
#include "base/strings.h"
#include "base/subprocess.h"
#include "runtime/piped_child.h"
#include "service/pipe_sockets.h"
#include "service/pipeline.h"

namespace herd {

namespace {

// A message delivered into a pipe that a pipeline feeds back into itself
// would go round forever: deliveries nest at most this deep.
constexpr int kMaxDepth = 8;
thread_local int t_depth = 0;

constexpr size_t kMaxViaJobs = 1024;
constexpr size_t kMaxViaOutput = 1u << 20;
constexpr std::chrono::milliseconds kViaTimeout{5000};

bool nameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool goodPart(const std::string& s) {
    return !s.empty() && s.size() <= 64 && s[0] != '.' && std::all_of(s.begin(), s.end(), nameChar);
}

const char* modeName(Plumber::Mode m) {
    switch (m) {
        case Plumber::Mode::RoundRobin:
            return "round-robin";
        case Plumber::Mode::Random:
            return "random";
        default:
            return "all";
    }
}

}  // namespace

Plumber::Plumber(std::shared_ptr<const Dir> base, boost::asio::io_context* io, std::string path_env)
    : base_(std::move(base)),
      io_(io),
      path_env_(std::move(path_env)),
      rng_(std::random_device{}()) {}

Plumber::~Plumber() {
    {
        std::lock_guard l(via_mu_);
        via_stop_ = true;
    }
    via_cv_.notify_all();
    if (via_thread_.joinable()) via_thread_.join();
    for (auto& [name, p] : pipes_)
        if (p.sockets) p.sockets->close();
}

std::string Plumber::qualify(const std::string& ns, const std::string& name) {
    if (name.find("//") != std::string::npos) return name;
    return ns + "//" + name;
}

Result<void> Plumber::checkName(const std::string& qualified) {
    auto sep = qualified.find("//");
    std::string ns = sep == std::string::npos ? "" : qualified.substr(0, sep);
    std::string name = sep == std::string::npos ? qualified : qualified.substr(sep + 2);
    if (!goodPart(ns) || !goodPart(name))
        return Error::msg("invalid pipe name `" + qualified +
                          "`: want <name> or <namespace>//<name>, each of letters, digits, `.`, "
                          "`_` and `-` (at most 64, not starting with `.`)");
    return Ok();
}

Result<Plumber::Pipe*> Plumber::getOrCreate(const std::string& pipe) {
    auto it = pipes_.find(pipe);
    if (it != pipes_.end()) return &it->second;
    HERD_TRY(checkName(pipe));
    if (pipes_.size() >= kMaxPipes)
        return Error::msg("pipe " + pipe + ": too many pipes (at most " +
                          std::to_string(kMaxPipes) + ")");
    Pipe& p = pipes_[pipe];
    if (base_ && io_) {
        auto s = PipeSockets::create(*io_, base_, pipe, weak_from_this());
        if (s.ok())
            p.sockets = *s;
        else
            HERD_LOG(warn, "pipe {}: no host sockets: {}", pipe, s.error().text());
    }
    return &p;
}

bool Plumber::exists(const std::string& pipe) {
    std::lock_guard l(mu_);
    return pipes_.count(pipe) != 0;
}

Result<void> Plumber::write(const std::string& pipe, std::string msg) {
    if (t_depth >= kMaxDepth)
        return Error::msg("pipe " + pipe + ": deliveries nested " + std::to_string(kMaxDepth) +
                          " deep (a pipeline loop?); message dropped");
    if (msg.size() > kMaxMessage) msg.resize(kMaxMessage);
    if (msg.empty() || msg.back() != '\n') msg.push_back('\n');
    std::vector<std::shared_ptr<PipeReader>> to;
    std::vector<std::string> via;
    bool log = false;
    {
        std::lock_guard l(mu_);
        auto got = getOrCreate(pipe);
        if (!got.ok()) return got.error();
        Pipe& p = **got;
        ++p.count;
        p.previous = std::string(trim(msg));
        log = p.log;
        via = p.via;
        if (!p.readers.empty()) {
            switch (p.mode) {
                case Mode::All:
                    for (auto& [id, r] : p.readers) to.push_back(r);
                    break;
                case Mode::RoundRobin: {
                    auto it = p.readers.upper_bound(p.last);
                    if (it == p.readers.end()) it = p.readers.begin();
                    p.last = it->first;
                    to.push_back(it->second);
                    break;
                }
                case Mode::Random: {
                    std::uniform_int_distribution<size_t> pick(0, p.readers.size() - 1);
                    auto it = p.readers.begin();
                    std::advance(it, static_cast<long>(pick(rng_)));
                    to.push_back(it->second);
                    break;
                }
            }
        }
    }
    if (log) HERD_LOG(info, "pipe {}: {}", pipe, trim(msg));
    if (to.empty()) return Ok();
    if (!via.empty()) {
        std::lock_guard l(via_mu_);
        if (via_q_.size() >= kMaxViaJobs) {
            std::lock_guard l2(mu_);
            if (auto it = pipes_.find(pipe); it != pipes_.end()) ++it->second.via_dropped;
            return Ok();
        }
        via_q_.push_back({pipe, std::move(via), std::move(msg), std::move(to)});
        if (!via_thread_.joinable()) via_thread_ = std::thread([this] { runVia(); });
        via_cv_.notify_one();
        return Ok();
    }
    ++t_depth;
    for (auto& r : to) r->deliver(msg);
    --t_depth;
    return Ok();
}

// The via thread: each job's program runs once per recipient; if one run
// fails, the message is dropped for all of them (as minimega).
void Plumber::runVia() {
    for (;;) {
        ViaJob job;
        {
            std::unique_lock l(via_mu_);
            via_cv_.wait(l, [&] { return via_stop_ || !via_q_.empty(); });
            if (via_stop_) return;
            job = std::move(via_q_.front());
            via_q_.pop_front();
        }
        std::vector<std::string> outs;
        std::string failure;
        auto path = lookPath(job.argv[0], path_env_);
        if (!path.ok()) failure = path.error().text();
        for (size_t i = 0; failure.empty() && i < job.to.size(); ++i) {
            auto out = runtime::filterThrough(*path, job.argv, {{"PATH", path_env_}}, job.msg,
                                              kMaxViaOutput, kViaTimeout);
            if (!out.ok())
                failure = out.error().text();
            else
                outs.push_back(std::move(*out));
        }
        if (!failure.empty()) {
            HERD_LOG(warn, "pipe {}: via {}: {}; message dropped", job.pipe, job.argv[0], failure);
            std::lock_guard l(mu_);
            if (auto it = pipes_.find(job.pipe); it != pipes_.end()) ++it->second.via_dropped;
            continue;
        }
        for (size_t i = 0; i < job.to.size(); ++i)
            if (!outs[i].empty()) job.to[i]->deliver(outs[i]);
    }
}

Result<uint64_t> Plumber::addReader(const std::string& pipe, std::shared_ptr<PipeReader> r) {
    std::lock_guard l(mu_);
    auto got = getOrCreate(pipe);
    if (!got.ok()) return got.error();
    Pipe& p = **got;
    uint64_t id;
    do {
        id = rng_() >> 1;  // 63 bits, as minimega
    } while (id == 0 || p.readers.count(id));
    p.readers[id] = std::move(r);
    return id;
}

void Plumber::removeReader(const std::string& pipe, uint64_t id) {
    std::lock_guard l(mu_);
    if (auto it = pipes_.find(pipe); it != pipes_.end()) it->second.readers.erase(id);
}

Result<void> Plumber::addWriter(const std::string& pipe) {
    std::lock_guard l(mu_);
    auto got = getOrCreate(pipe);
    if (!got.ok()) return got.error();
    ++(*got)->writers;
    return Ok();
}

void Plumber::removeWriter(const std::string& pipe) {
    std::lock_guard l(mu_);
    if (auto it = pipes_.find(pipe); it != pipes_.end() && it->second.writers > 0)
        --it->second.writers;
}

Result<void> Plumber::setMode(const std::string& pipe, Mode m) {
    std::lock_guard l(mu_);
    auto got = getOrCreate(pipe);
    if (!got.ok()) return got.error();
    (*got)->mode = m;
    return Ok();
}

Result<void> Plumber::setLog(const std::string& pipe, bool on) {
    std::lock_guard l(mu_);
    auto got = getOrCreate(pipe);
    if (!got.ok()) return got.error();
    (*got)->log = on;
    return Ok();
}

Result<void> Plumber::setVia(const std::string& pipe, std::vector<std::string> argv) {
    if (argv.empty()) return Error::msg("via needs a command");
    std::lock_guard l(mu_);
    auto got = getOrCreate(pipe);
    if (!got.ok()) return got.error();
    (*got)->via = std::move(argv);
    return Ok();
}

Result<void> Plumber::resetSetting(const std::string& pipe, const std::string& what) {
    std::lock_guard l(mu_);
    auto it = pipes_.find(pipe);
    if (it == pipes_.end()) return Error::msg("no such pipe: " + pipe);
    if (what == "mode") it->second.mode = Mode::All;
    if (what == "log") it->second.log = false;
    if (what == "via") it->second.via.clear();
    return Ok();
}

void Plumber::closeReaders(std::vector<std::shared_ptr<PipeReader>> rs,
                           std::vector<std::shared_ptr<PipeSockets>> socks) {
    for (auto& s : socks) s->close();
    for (auto& r : rs) r->closed();
}

Result<void> Plumber::clearPipe(const std::string& pipe) {
    std::vector<std::shared_ptr<PipeReader>> rs;
    std::vector<std::shared_ptr<PipeSockets>> socks;
    {
        std::lock_guard l(mu_);
        auto it = pipes_.find(pipe);
        if (it == pipes_.end()) return Error::msg("no such pipe: " + pipe);
        for (auto& [id, r] : it->second.readers) rs.push_back(r);
        if (it->second.sockets) socks.push_back(it->second.sockets);
        pipes_.erase(it);
    }
    closeReaders(std::move(rs), std::move(socks));
    return Ok();
}

Result<void> Plumber::clearAll() {
    std::vector<std::shared_ptr<PipeReader>> rs;
    std::vector<std::shared_ptr<PipeSockets>> socks;
    {
        std::lock_guard l(mu_);
        for (auto& [name, p] : pipes_)
            if (p.writers > 0) return Error::msg("cannot delete named pipe with open writers");
        for (auto& [name, p] : pipes_) {
            for (auto& [id, r] : p.readers) rs.push_back(r);
            if (p.sockets) socks.push_back(p.sockets);
        }
        pipes_.clear();
    }
    closeReaders(std::move(rs), std::move(socks));
    return Ok();
}

std::vector<PipeInfo> Plumber::list(const std::string& ns) {
    std::vector<PipeInfo> out;
    std::lock_guard l(mu_);
    const std::string prefix = ns + "//";
    for (const auto& [name, p] : pipes_) {
        if (name.rfind(prefix, 0) != 0) continue;
        PipeInfo i;
        i.name = name;
        i.mode = modeName(p.mode);
        i.readers = p.readers.size();
        i.writers = p.writers;
        i.count = p.count;
        i.via = p.via;
        i.previous = p.previous;
        i.dropped = p.via_dropped;
        for (const auto& [id, r] : p.readers) i.dropped += r->dropped.load();
        out.push_back(std::move(i));
    }
    return out;
}

bool Plumber::isProgram(const std::string& stage) const {
    auto argv = Pipeline::splitStage(stage);
    return !argv.empty() && argv[0].find("//") == std::string::npos &&
           lookPath(argv[0], path_env_).ok();
}

Result<void> Plumber::plumb(const std::vector<std::string>& stages) {
    std::string production;
    for (const auto& s : stages) production += (production.empty() ? "" : " ") + s;
    {
        std::lock_guard l(mu_);
        if (pipelines_.count(production))
            return Error::msg("pipeline already exists: [" + production + "]");
    }
    auto p = Pipeline::start(shared_from_this(), stages, production);
    if (!p.ok()) return p.error();
    std::shared_ptr<Pipeline> old;
    {
        std::lock_guard l(mu_);
        auto& slot = pipelines_[production];
        old = std::exchange(slot, *p);
    }
    if (old) old->cancel();
    (*p)->run();
    return Ok();
}

std::vector<std::string> Plumber::pipelines(const std::string& ns) {
    std::vector<std::string> out;
    std::lock_guard l(mu_);
    for (const auto& [prod, p] : pipelines_)
        if (prod.find(ns + "//") != std::string::npos) out.push_back(prod);
    return out;
}

Result<void> Plumber::clearPipeline(const std::string& production) {
    std::shared_ptr<Pipeline> p;
    {
        std::lock_guard l(mu_);
        auto it = pipelines_.find(production);
        if (it == pipelines_.end()) return Error::msg("no such pipeline: [" + production + "]");
        p = std::move(it->second);
        pipelines_.erase(it);
    }
    p->cancel();
    return Ok();
}

void Plumber::clearPipelines() {
    std::map<std::string, std::shared_ptr<Pipeline>> all;
    {
        std::lock_guard l(mu_);
        all.swap(pipelines_);
    }
    for (auto& [prod, p] : all) p->cancel();
}

void Plumber::pipelineEnded(const std::string& production, const Pipeline* p) {
    std::shared_ptr<Pipeline> gone;
    std::lock_guard l(mu_);
    auto it = pipelines_.find(production);
    if (it != pipelines_.end() && it->second.get() == p) {
        gone = std::move(it->second);
        pipelines_.erase(it);
    }
    // `gone` is released after the lock (declared first, destroyed last).
}

}  // namespace herd
