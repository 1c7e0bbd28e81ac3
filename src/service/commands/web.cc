// `web`: the web page server at run time (the daemon's -web flag starts it at
// startup). The server itself lives in src/web; this module only reaches it
// through Herd::web.
#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/web_hook.h"

namespace herd {

namespace {

void webCommand(cli::Command& c, CommandContext& ctx) {
    WebControl* server = ctx.herd().daemon().web();
    if (!server) return ctx.fail("this daemon has no web server");
    WebControl& web = *server;
    // One pattern: `web stop` and `web <address>` would overlap.
    if (c.str("address") == "stop") return okOrFail(ctx, web.stop());
    if (c.has("address")) {
        auto r = web.start(c.str("address"));
        if (!r.ok()) return ctx.fail(r.error().text());
        return ctx.reply(*r);
    }
    ctx.reply(web.status());
}

}  // namespace

void registerWebCommands(Herd& herd) {
    addHandler(herd,
               makeHandler("serve the web page",
                           "Without arguments, show where the web page is served and its token. "
                           "With an\naddress (addr:port, or a port on 127.0.0.1), start serving "
                           "it there; `web stop` stops\nit and closes its connections. Every "
                           "request needs the daemon's token (-web-token,\nelse a random one): "
                           "open the page once with ?token=<token>, as in <base>/web.url.",
                           {"web [address or stop]"}, webCommand));
}

}  // namespace herd
