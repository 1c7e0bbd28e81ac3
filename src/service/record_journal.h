// The VMs' records on disk (service/vm_record.h), as one append-only journal
// per base: `<base>/records/journal`, one line of JSON per change, the last
// line for a VM winning; a VM's removal is the line {"drop":<id>}.
//
// Why a journal and not a file per VM: replacing a small file atomically
// (a temporary file, then rename) makes and frees an inode every time, and
// ext4's inode allocation slows down with every inode recently freed: at
// 1,000 containers a record cost about 8 ms, more than the launch it
// records. An append is one write(2) to a descriptor that stays open.
//
// Crash safety: a line is written with one write(2) on an O_APPEND
// descriptor; a crash may leave the last line torn, which load() skips (the
// VM's previous line stands). sync() (fdatasync) makes a batch durable
// against a power cut; a daemon's SIGKILL loses nothing written. When the
// journal holds far more than its live lines it is compacted: the live
// lines go to a temporary file that replaces the journal (rename), then
// the directory is synced.
#pragma once

#include <map>
#include <string>

#include "base/fs.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace herd {

class RecordJournal {
  public:
    // Opens (creating) the journal in directory `dir` and reads it: what
    // load() returns. Lines that do not parse are skipped and counted.
    static Result<RecordJournal> open(Dir dir);

    // The live records read at open, by VM id (each one line of JSON, a
    // record's text), and how many lines could not be read.
    const std::map<int, std::string>& loaded() const { return loaded_; }
    size_t skipped() const { return skipped_; }

    // Appends a record (one line of JSON without newline or with one).
    Result<void> put(int id, const std::string& json_line);
    // Appends the removal of a record.
    Result<void> drop(int id);
    // fdatasync: what was appended is on disk.
    Result<void> sync();
    // Rewrites the journal to hold exactly `live` (id -> line), e.g. right
    // after adoption, or when put() finds it has grown past kCompactFactor
    // times what is live.
    Result<void> compact(const std::map<int, std::string>& live);
    // Whether the journal has grown enough that the caller should compact.
    bool wantsCompaction() const;

    const Dir& dir() const { return dir_; }

  private:
    RecordJournal(Dir dir) : dir_(std::move(dir)) {}
    Result<void> append(const std::string& line);
    Result<void> reopen();

    static constexpr size_t kMinCompact = 8u << 20;  // bytes before compaction is worth it
    static constexpr size_t kCompactFactor = 4;

    Dir dir_;
    unique_fd fd_;
    size_t bytes_ = 0;             // the journal's size
    size_t live_bytes_ = 0;        // of which the live lines', as last counted
    std::map<int, size_t> sizes_;  // each live record's line length
    std::map<int, std::string> loaded_;
    size_t skipped_ = 0;
};

}  // namespace herd
