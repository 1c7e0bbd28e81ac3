// Tar archives (plain or compressed: whatever libarchive reads) unpacked
// beneath a directory the daemon owns, for the preprocessor's `tar:`
// arguments.
//
// The archive is not trusted (it may come from the network or a guest):
// members with an absolute name or a ".." component refuse the whole
// archive; every file is created beneath the directory's descriptor without
// following any symbolic link (so a link the archive makes, or one planted
// in the directory, cannot carry a later member elsewhere); device nodes,
// FIFOs and sockets are skipped; set-user-ID, set-group-ID and sticky bits
// are dropped. libarchive reads; the writing is ours, because its
// archive_write_disk resolves names against the process's working
// directory, which a multi-threaded daemon cannot change for one task.
#pragma once

#include <string>

#include "base/fs.h"
#include "base/result.h"

namespace herd::runtime {

// The one top-level directory of the archive `rel` in `dir` (every member
// lies under it). An error says when there is not exactly one, or a member
// would leave the directory.
Result<std::string> tarTopDir(const Dir& dir, const std::string& rel);

// Extracts the archive `rel` of `dir` into `dir`, all or nothing: members go
// to a temporary directory beside it, and the top-level directory `top`
// (see tarTopDir) is renamed into place once every member is written.
Result<void> extractTar(const Dir& dir, const std::string& rel, const std::string& top);

}  // namespace herd::runtime
