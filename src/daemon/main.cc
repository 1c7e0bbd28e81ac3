// herd: the daemon, and its `-e` / `-attach` / `-console` clients; the same
// command line as minimega's.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/log.h"
#include "daemon/client.h"
#include "daemon/console_client.h"
#include "daemon/daemon.h"
#include "daemon/flags.h"
#include "daemon/runtime_setup.h"
#include "runtime/keeper.h"
#include "service/herd.h"

int main(int argc, char** argv) {
    using namespace herd;
    // Writes to vanished clients must fail with EPIPE, not kill the daemon.
    ::signal(SIGPIPE, SIG_IGN);

    // The keeper (runtime/keeper.h), started by a daemon with its listening
    // socket on descriptor 3; not a flag a user gives.
    if (argc == 2 && std::string(argv[1]) == "-keeper") return runtime::keeperMain(3);

    std::vector<std::string> args(argv + 1, argv + argc);
    auto flags = daemon::parseFlags(args);
    if (!flags.ok()) {
        std::fprintf(stderr, "%s\n%s", flags.error().text().c_str(), daemon::usageText().c_str());
        return 2;
    }
    if (flags->help) {
        std::fputs(daemon::usageText().c_str(), stderr);
        return 0;
    }
    if (flags->version) {
        std::printf("%s\n", versionString().c_str());
        return 0;
    }
    if (auto r = logInit(*parseLogLevel(flags->level), flags->logfile); !r.ok()) {
        std::fprintf(stderr, "herd: %s\n", r.error().text().c_str());
        return 1;
    }

    if (flags->nuke) {
        Options o;
        o.base = flags->base;
        o.prefix = flags->prefix;
        o.cgroup = flags->cgroup;
        runtime::SwitchOptions net;
        net.kind = flags->switch_kind;
        net.ovsdb = flags->ovsdb;
        return daemon::nukeStandalone(o, net, flags->prefix_given);
    }
    if (flags->e) {
        if (flags->args.empty()) {
            std::fprintf(stderr, "herd: -e needs a command, e.g. `herd -e vm info`\n%s",
                         daemon::usageText().c_str());
            return 2;
        }
        return daemon::runExec(flags->base, flags->args, flags->ns);
    }
    if (flags->attach) return daemon::runAttach(flags->base, flags->ns);
    if (flags->console) return daemon::runConsole(flags->base, flags->args, flags->ns);
    return daemon::runDaemon(*flags);
}
