#include "service/record_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace herd {

namespace {

constexpr const char* kJournal = "journal";
constexpr size_t kMaxJournal = size_t{1} << 30;  // refused above: not ours

}  // namespace

Result<RecordJournal> RecordJournal::open(Dir dir) {
    RecordJournal j(std::move(dir));
    // Temporary files of a compaction a crash interrupted.
    if (auto names = j.dir_.list(); names.ok()) {
        for (const auto& n : *names)
            if (n.rfind(".journal", 0) == 0) (void)j.dir_.unlink(n);
    }
    auto text = j.dir_.readFile(kJournal, kMaxJournal);
    if (!text.ok() && text.error().errnum() != ENOENT) return text.error();
    if (text.ok()) {
        size_t at = 0;
        while (at < text->size()) {
            size_t nl = text->find('\n', at);
            if (nl == std::string::npos) {  // a torn last line
                ++j.skipped_;
                break;
            }
            std::string line = text->substr(at, nl - at);
            at = nl + 1;
            auto v = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
            if (v.is_discarded() || !v.is_object()) {
                ++j.skipped_;
                continue;
            }
            if (auto d = v.find("drop"); d != v.end() && d->is_number_integer()) {
                j.loaded_.erase(d->get<int>());
            } else if (auto id = v.find("id"); id != v.end() && id->is_number_integer()) {
                j.loaded_[id->get<int>()] = std::move(line);
            } else {
                ++j.skipped_;
            }
        }
    }
    // Start from exactly what was read: torn and dropped lines go.
    HERD_TRY(j.compact(j.loaded_));
    return j;
}

Result<void> RecordJournal::reopen() {
    auto fd = dir_.openFile(kJournal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (!fd.ok()) return fd.error();
    fd_ = std::move(*fd);
    return Ok();
}

Result<void> RecordJournal::append(const std::string& line) {
    if (!fd_) HERD_TRY(reopen());
    // One write: a crash leaves the line whole or torn, never two mixed.
    ssize_t n = ::write(fd_.get(), line.data(), line.size());
    if (n < 0) return Error::sysNow("write", dir_.pathOf(kJournal));
    bytes_ += static_cast<size_t>(n);
    if (static_cast<size_t>(n) != line.size()) {
        // A short write (a full disk) leaves a torn line: end it, so that
        // the next line is read as its own.
        (void)::write(fd_.get(), "\n", 1);
        return Error::sys(ENOSPC, "write", dir_.pathOf(kJournal));
    }
    return Ok();
}

Result<void> RecordJournal::put(int id, const std::string& json_line) {
    std::string line = json_line;
    if (line.empty() || line.back() != '\n') line += '\n';
    HERD_TRY(append(line));
    live_bytes_ += line.size();
    if (auto it = sizes_.find(id); it != sizes_.end()) live_bytes_ -= it->second;
    sizes_[id] = line.size();
    return Ok();
}

Result<void> RecordJournal::drop(int id) {
    HERD_TRY(append("{\"drop\":" + std::to_string(id) + "}\n"));
    if (auto it = sizes_.find(id); it != sizes_.end()) {
        live_bytes_ -= it->second;
        sizes_.erase(it);
    }
    return Ok();
}

Result<void> RecordJournal::sync() {
    if (fd_ && ::fdatasync(fd_.get()) != 0)
        return Error::sysNow("fdatasync", dir_.pathOf(kJournal));
    return Ok();
}

bool RecordJournal::wantsCompaction() const {
    return bytes_ > kMinCompact && bytes_ > kCompactFactor * live_bytes_;
}

Result<void> RecordJournal::compact(const std::map<int, std::string>& live) {
    std::string text;
    sizes_.clear();
    for (const auto& [id, line] : live) {
        const size_t before = text.size();
        text += line;
        if (text.empty() || text.back() != '\n') text += '\n';
        sizes_[id] = text.size() - before;
    }
    HERD_TRY(dir_.writeFileAtomic(kJournal, text, 0600));  // temp file, rename, fsyncs
    bytes_ = live_bytes_ = text.size();
    return reopen();
}

}  // namespace herd
