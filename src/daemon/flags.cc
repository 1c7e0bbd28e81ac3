#include "daemon/flags.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <map>
#include <optional>

#include "base/log.h"
#include "web/http_util.h"

namespace herd::daemon {

namespace {

// Exactly one of `str` and `flag` is set: the field the flag fills.
struct Spec {
    std::string Flags::*str;
    bool Flags::*flag;
    const char* usage;
    const char* def;  // shown in usage
};

// strconv.ParseBool's accepted spellings.
std::optional<bool> parseGoBool(const std::string& v) {
    if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True") return true;
    if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" || v == "False") {
        return false;
    }
    return std::nullopt;
}

const std::map<std::string, Spec>& specs() {
    static const std::map<std::string, Spec> table = {
        {"base", {&Flags::base, nullptr, "base path for herd data", "/tmp/herd"}},
        {"filepath", {&Flags::filepath, nullptr, "directory to serve files from", "<base>/files"}},
        {"level", {&Flags::level, nullptr, "log level: debug, info, warn, error, fatal", "error"}},
        {"logfile", {&Flags::logfile, nullptr, "also log to this file", ""}},
        {"namespace",
         {&Flags::ns, nullptr, "prepend namespace to all -attach and -e commands", ""}},
        {"prefix",
         {&Flags::prefix, nullptr,
          "prefix of host-global names this daemon creates ([a-z0-9]{1,8})", "herd"}},
        {"cgroup", {&Flags::cgroup, nullptr, "path to cgroup mount", "/sys/fs/cgroup"}},
        {"runtime",
         {&Flags::runtime, nullptr,
          "what runs VMs: container, or dry (state changes only, no kernel work)", "container"}},
        {"image",
         {&Flags::image, nullptr, "guest image used when vm config filesystem is unset",
          "<dir of herd>/guest"}},
        {"console-addr",
         {&Flags::console_addr, nullptr,
          "also serve each console on a TCP port of this address (a viewer sends the token "
          "first; empty: unix sockets only)",
          ""}},
        {"switch",
         {&Flags::switch_kind, nullptr,
          "switch for VM NICs: auto (Open vSwitch when its database answers, else kernel "
          "bridges), kernel or ovs",
          "auto"}},
        {"ovsdb",
         {&Flags::ovsdb, nullptr, "unix socket of the Open vSwitch database",
          "/var/run/openvswitch/db.sock"}},
        {"ovs-datapath",
         {&Flags::ovs_datapath, nullptr,
          "datapath_type of the Open vSwitch bridges herd creates: system or netdev (default: "
          "system with the openvswitch kernel module, else netdev)",
          ""}},
        {"web",
         {&Flags::web, nullptr, "serve the web page on addr:port (or a port on 127.0.0.1)", ""}},
        {"web-token",
         {&Flags::web_token, nullptr,
          "token the web page and TCP consoles require (default: a random one; see <base>/token)",
          ""}},
        {"web-root",
         {&Flags::web_root, nullptr, "directory of the web page's files", "<dir of herd>/web"}},
        {"nuke",
         {nullptr, &Flags::nuke,
          "kill the containers and remove the files a dead daemon left on -base/-prefix, and exit",
          "false"}},
        {"force",
         {nullptr, &Flags::force, "force herd to run even if it appears to already be running",
          "false"}},
        {"nostdin",
         {nullptr, &Flags::nostdin,
          "disable reading from stdin, useful for putting herd in the background", "false"}},
        {"attach",
         {nullptr, &Flags::attach, "attach the herd command line to a running instance of herd",
          "false"}},
        {"e", {nullptr, &Flags::e, "execute command on running herd", "false"}},
        {"console",
         {nullptr, &Flags::console,
          "connect the terminal to the console of a VM (name or id) of the running herd; "
          "Ctrl-] detaches",
          "false"}},
        {"version", {nullptr, &Flags::version, "print the version and exit", "false"}},
    };
    return table;
}

bool ipLiteral(const std::string& a) {
    in_addr v4{};
    in6_addr v6{};
    return inet_pton(AF_INET, a.c_str(), &v4) == 1 || inet_pton(AF_INET6, a.c_str(), &v6) == 1;
}

}  // namespace

bool validPrefix(const std::string& p) {
    if (p.empty() || p.size() > 8) return false;
    for (char c : p) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
}

std::string usageText() {
    std::string out = "usage: herd [option]... [command]...\n";
    for (const auto& [name, s] : specs()) {
        out += fmt::format("  -{}", name);
        if (s.str) out += " string";
        out += fmt::format("\n    \t{}", s.usage);
        if (s.def[0] != '\0' && std::string_view(s.def) != "false") {
            out += fmt::format(" (default \"{}\")", s.def);
        }
        out += '\n';
    }
    return out;
}

Result<Flags> parseFlags(const std::vector<std::string>& argv) {
    Flags f;
    size_t i = 0;
    for (; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        if (arg.size() < 2 || arg[0] != '-') break;  // first non-flag (or lone "-")
        size_t dashes = arg[1] == '-' ? 2 : 1;
        if (dashes == 2 && arg.size() == 2) {  // "--" ends the flags
            ++i;
            break;
        }
        std::string body = arg.substr(dashes);
        if (body.empty() || body[0] == '-' || body[0] == '=') {
            return Error::msg(fmt::format("bad flag syntax: {}", arg));
        }
        std::string name = body;
        std::optional<std::string> value;
        if (auto eq = body.find('='); eq != std::string::npos) {
            name = body.substr(0, eq);
            value = body.substr(eq + 1);
        }
        if (name == "h" || name == "help") {
            f.help = true;
            continue;
        }
        auto it = specs().find(name);
        if (it == specs().end()) {
            return Error::msg(fmt::format("flag provided but not defined: -{}", name));
        }
        const Spec& s = it->second;
        if (s.flag) {
            bool b = true;
            if (value) {
                auto parsed = parseGoBool(*value);
                if (!parsed) {
                    return Error::msg(fmt::format(
                        "invalid boolean value \"{}\" for -{}: parse error", *value, name));
                }
                b = *parsed;
            }
            f.*s.flag = b;
            continue;
        }
        if (!value) {
            if (i + 1 >= argv.size()) {
                return Error::msg(fmt::format("flag needs an argument: -{}", name));
            }
            value = argv[++i];
        }
        f.*s.str = *value;
        if (name == "prefix") f.prefix_given = true;
    }
    f.args.assign(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());

    if (!parseLogLevel(f.level)) {
        return Error::msg(fmt::format(
            "invalid value \"{}\" for flag -level: expected debug, info, warn, error or fatal",
            f.level));
    }
    if (!validPrefix(f.prefix)) {
        return Error::msg(fmt::format(
            "invalid value \"{}\" for flag -prefix: expected 1 to 8 characters of [a-z0-9]",
            f.prefix));
    }
    if (f.base.empty()) return Error::msg("invalid value \"\" for flag -base: must not be empty");
    if (f.runtime != "container" && f.runtime != "dry") {
        return Error::msg(fmt::format(
            "invalid value \"{}\" for flag -runtime: expected container or dry", f.runtime));
    }
    if (f.switch_kind != "auto" && f.switch_kind != "kernel" && f.switch_kind != "ovs") {
        return Error::msg(fmt::format(
            "invalid value \"{}\" for flag -switch: expected auto, kernel or ovs", f.switch_kind));
    }
    if (!f.ovs_datapath.empty() && f.ovs_datapath != "system" && f.ovs_datapath != "netdev") {
        return Error::msg(
            fmt::format("invalid value \"{}\" for flag -ovs-datapath: expected system or netdev",
                        f.ovs_datapath));
    }
    if (!f.console_addr.empty() && !ipLiteral(f.console_addr)) {
        return Error::msg(fmt::format(
            "invalid value \"{}\" for flag -console-addr: expected an IPv4 or IPv6 address",
            f.console_addr));
    }
    if (!f.web_token.empty() && !web::validToken(f.web_token)) {
        // Not echoed: it is meant to be a secret.
        return Error::msg(
            "invalid value for flag -web-token: expected 1 to 128 characters of "
            "[A-Za-z0-9._~-]");
    }
    return f;
}

}  // namespace herd::daemon
