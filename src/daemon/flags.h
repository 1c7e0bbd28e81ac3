// herd's command-line flags, parsed with Go's `flag` package syntax so that
// minimega users' habits carry over: `-base X`, `-base=X`, `--base X`, bool
// flags as `-e` or `-nostdin=false`; parsing stops at the first non-flag
// argument or after `--` (the rest are the `-e` command).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace herd::daemon {

struct Flags {
    std::string base = "/tmp/herd";
    std::string filepath;  // empty: <base>/files
    std::string level = "error";
    std::string logfile;
    std::string ns;  // -namespace
    std::string prefix = "herd";
    std::string cgroup = "/sys/fs/cgroup";
    std::string runtime = "container";  // container | dry
    std::string image;                  // default guest image ("" = <dir of herd>/guest)
    std::string console_addr;           // -console-addr ("" = no TCP consoles)
    std::string web;                    // -web: serve the web page on addr:port ("" = not at start)
    std::string web_token;              // -web-token ("" = a random one, made at start)
    std::string web_root;               // -web-root ("" = <dir of herd>/web)
    std::string switch_kind = "auto";   // -switch auto|kernel|ovs
    std::string ovsdb = "/var/run/openvswitch/db.sock";  // -ovsdb
    std::string ovs_datapath;                            // -ovs-datapath ("" = auto)
    bool nuke = false;
    bool prefix_given = false;  // -prefix was on the command line
    bool force = false;
    bool nostdin = false;
    bool attach = false;
    bool e = false;
    bool console = false;  // -console <vm>
    bool version = false;
    bool help = false;              // -h / -help / --help
    std::vector<std::string> args;  // positional arguments
};

// Parses argv[1..]. Errors read as Go's (`flag provided but not defined: -x`,
// `flag needs an argument: -base`, `invalid boolean value "x" for -e: parse
// error`) or name the invalid value (`-level`, `-prefix`).
Result<Flags> parseFlags(const std::vector<std::string>& argv);

// The usage text printed for -h and after a flag error.
std::string usageText();

// A -prefix: 1 to 8 characters of [a-z0-9] (it goes into interface names,
// which hold 15 bytes).
bool validPrefix(const std::string& p);

}  // namespace herd::daemon
