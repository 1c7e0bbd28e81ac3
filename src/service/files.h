// The file root (-filepath) as minimega's `file` commands see it: paths
// typed by the user are cleaned under the root ("/" + path, so ".." cannot
// leave it), matched as shell globs one path component at a time, and
// listed, checked or removed beneath the root's directory descriptor.
//
// Guests reach parts of the file root (cc file transfers, volumes that users
// bind from it), so what is found there is not trusted: symbolic links are
// listed as themselves and never followed, neither to match a glob nor to
// list or remove a directory.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/fs.h"
#include "base/result.h"

namespace herd::files {

// "/" + p, cleaned as Go's path.Clean: "/minitest/foo", "/" for the root.
std::string clean(std::string_view p);

// The matches of a cleaned pattern (see clean), as paths relative to the
// root ("" is the root itself), in Go's filepath.Glob order: lexical per
// component. Without glob characters the pattern matches itself when it
// exists. A malformed pattern is an error.
Result<std::vector<std::string>> glob(const Dir& root, const std::string& cleaned);

struct Entry {
    std::string name;  // relative to the root: "minitest/foo1/a.txt"
    bool dir = false;
    struct stat st {};
};

// What `file list` shows for the matches of `cleaned`: a file (or link)
// itself; a directory's direct children, or with `recursive` every file
// below it (no directories).
Result<std::vector<Entry>> list(const Dir& root, const std::string& cleaned, bool recursive);

// Removes every match of `cleaned`, directories with all they hold. The
// root itself is emptied, not removed.
Result<void> remove(const Dir& root, const std::string& cleaned);

// st_mtime as RFC 3339 in local time: 2026-12-06T23:40:01Z, or with the
// zone's offset (+01:00).
std::string rfc3339(const struct timespec& t);

}  // namespace herd::files
