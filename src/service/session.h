// A client session: one control-socket connection, the local prompt, or an
// internal caller (read files, background jobs). Output flags belong here, not
// to the daemon: in minimega they are the daemon's, so one client's `.csv
// true` changes what every other client gets.
#pragma once

#include <functional>
#include <string>

#include "cli/response.h"

namespace herd {

struct Session {
    std::string name;  // for logs: "socket 3", "stdin", ...
    cli::Flags flags;  // this client's defaults (.annotate false etc.)
    // Flags a dot-command with a nested command currently overrides. As in
    // minicli, the outermost dot-command wins: `.annotate true .annotate
    // false cmd` annotates.
    unsigned pinned = 0;
    // Progress of a long command (`vm launch container 10000`), sent to this
    // client as it happens (minimega's status replies); empty: nobody hears.
    std::function<void(const std::string&)> status;
};

}  // namespace herd
