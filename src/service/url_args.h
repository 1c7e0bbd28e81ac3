// The preprocessor's URL forms, as minimega's: after $VAR expansion, an
// argument that is
//   http://host/path or https://...  becomes <filepath>/path: the file when
//                                    it is there, else downloaded there;
//   file:rel                         becomes <filepath>/rel if it exists;
//   tar:path                         becomes the one top-level directory of
//                                    the archive, extracted beside it once.
// A failure keeps the command from running; the error is minimega's text
// (`get /path: file not found`, `unable to handle tar without a single
// top-level directory`), with the reason added where minimega has no such
// case (download cap, timeout, certificate, a symbolic link in the way).
#pragma once

#include "base/result.h"
#include "cli/command.h"
#include "service/herd.h"

namespace herd {

// Rewrites the string and list arguments of `cmd` in place. Downloads and
// extraction run without the command lock (Herd::waitUnlocked): only `cmd`,
// which no other job sees, and the file root's descriptor are used there.
Result<void> preprocessUrls(cli::Command& cmd, Herd& herd);

}  // namespace herd
