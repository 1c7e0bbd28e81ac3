// The daemon's whole state. Owned by the command thread: every handler runs
// there, one command at a time (as minimega's command lock does), so the
// service layer needs no locks of its own.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/table.h"
#include "service/namespace.h"

namespace herd {

struct Options {
    std::string base = "/tmp/herd";  // state root: socket, pid file, instance dirs
    std::string filepath;            // file root, default <base>/files
    std::string prefix = "herd";     // prefix of every host-global object we create
    std::string hostname;            // this host's name (`Host` of responses)
    std::string self_exe;            // path of the herd binary
};

class Herd {
public:
    explicit Herd(Options opts);

    Options opts;
    cli::CommandTable table;

    std::vector<std::string> history;            // recorded command lines
    std::map<std::string, std::string> aliases;  // .alias name -> expansion
    std::map<std::string, std::string> environ;  // the environment $VAR reads and .env edits

    Namespaces namespaces;

    // Set by `quit`: the front end stops after replying (delay in seconds).
    std::function<void(int delay_s)> request_quit;
};

// The version string `version` prints and `-version` shows.
std::string versionString();

}  // namespace herd
