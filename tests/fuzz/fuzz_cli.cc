// libFuzzer target over the untrusted-input paths of the command language:
// every byte a client sends reaches the request decoder, then the tokenizer
// and the matcher, and output flags/filters shape what is rendered.
//
// The first input byte chooses the part under test, the rest is its input:
//   0  tokenizer (+ joinTokens round trip)
//   1  matcher: CommandTable::compile, suggest and help on herd's full table
//   2  control-socket request stream decoder (+ encode/decode round trip)
//   3  .filter / .columns specs applied to a table, then rendering
// Handlers are never called: compile is pure, so no daemon state changes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/preprocess.h"
#include "cli/response.h"
#include "cli/table.h"
#include "cli/tokenizer.h"
#include "cli/transform.h"
#include "daemon/protocol.h"
#include "service/command_context.h"
#include "service/executor.h"
#include "service/herd.h"

namespace {

[[noreturn]] void fail(const char* what, std::string_view input) {
    std::fprintf(stderr, "fuzz_cli: %s for input: %.*s\n", what, static_cast<int>(input.size()),
                 input.data());
    std::abort();
}

herd::Herd& herdWithAllCommands() {
    static herd::Herd* h = [] {
        herd::Options o;
        o.base = "/nonexistent/herd-fuzz";  // never touched: no handler runs
        o.hostname = "fuzz";
        auto* p = new herd::Herd(o);
        herd::registerAllCommands(*p);
        return p;
    }();
    return *h;
}

void fuzzTokenizer(std::string_view in) {
    auto r = herd::cli::tokenize(in);
    if (!r.ok()) return;
    // joinTokens promises a line that tokenizes back to the same values.
    std::string joined = herd::cli::joinTokens(r->tokens);
    auto again = herd::cli::tokenize(joined);
    if (!again.ok()) fail("joinTokens produced an untokenizable line", in);
    if (again->tokens.size() != r->tokens.size()) fail("joinTokens changed the token count", in);
    for (size_t i = 0; i < r->tokens.size(); ++i) {
        if (again->tokens[i].value != r->tokens[i].value) fail("joinTokens changed a token", in);
    }
    for (const auto& t : r->tokens) (void)herd::cli::quoteArg(t.value);
}

void fuzzMatcher(std::string_view in) {
    herd::Herd& h = herdWithAllCommands();
    auto cmd = h.commands().compile(in);
    if (cmd.ok()) {
        herd::cli::preprocess(*cmd, [](const std::string& k) -> std::optional<std::string> {
            if (k.size() % 2) return std::nullopt;
            return k + k;
        });
    }
    herd::Session session;
    herd::Executor exec(h);
    herd::CommandContext ctx{h, session, exec, [](herd::cli::Batch) {}, "minimega"};
    (void)h.commands().suggest(in, &ctx);
    if (in.size() < 256) (void)h.commands().help(in);
}

// The control-socket request stream: the incremental splitter (fed in two
// chunks, cut where the second byte says), the value decoder, and the
// request encoder's round trip.
void fuzzRequest(std::string_view in) {
    size_t cut = in.empty() ? 0 : static_cast<uint8_t>(in[0]) % (in.size() + 1);
    herd::daemon::RequestDecoder dec;
    std::vector<herd::daemon::Incoming> items;
    dec.feed(in.substr(0, cut), items);
    dec.feed(in.substr(cut), items);
    dec.finish(items);

    auto r = herd::daemon::decodeRequest(in);
    if (r.ok()) {
        auto again = herd::daemon::decodeRequest(herd::daemon::encodeRequest(*r));
        if (!again.ok()) fail("encodeRequest produced an undecodable request", in);
        if (again->command != r->command || again->suggest != r->suggest ||
            again->plumb_pipe != r->plumb_pipe) {
            fail("encodeRequest/decodeRequest changed a field", in);
        }
    }
    (void)herd::daemon::decodeReply(in);
}

void fuzzRender(std::string_view in) {
    if (in.empty()) return;
    const uint8_t bits = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    // Split the rest: "<filter>\n<columns>".
    std::string_view filter = in, columns;
    if (auto nl = in.find('\n'); nl != std::string_view::npos) {
        filter = in.substr(0, nl);
        columns = in.substr(nl + 1);
    }

    herd::cli::Batch batch;
    herd::cli::Response a;
    a.host = "node1";
    a.header = {"id", "name", "state", "tags", "vlan"};
    a.tabular = {{"0", "foo", "BUILDING", "{}", "[]"},
                 {"10", "bar", "RUNNING", "{\"a\":\"b\"}", "[101]"},
                 {"2", std::string(filter), "QUIT", "{}", "[disconnected]"}};
    herd::cli::Response b = a;
    b.host = "node2";
    if (bits & 0x40) b.tabular.push_back({"x", "y"});  // width mismatch
    batch.push_back(a);
    batch.push_back(b);

    if (auto f = herd::cli::parseFilter(filter); f.ok()) (void)herd::cli::applyFilter(batch, *f);
    if (!columns.empty()) (void)herd::cli::applyColumns(batch, columns);

    herd::cli::Flags flags;
    flags.annotate = bits & 1;
    flags.headers = bits & 2;
    flags.sort = bits & 4;
    flags.compress = bits & 8;
    flags.mode = (bits & 0x30) == 0x10   ? herd::cli::Mode::Csv
                 : (bits & 0x30) == 0x20 ? herd::cli::Mode::Json
                                         : herd::cli::Mode::Default;
    (void)herd::cli::render(batch, flags);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
        case 0:
            fuzzTokenizer(in);
            break;
        case 1:
            fuzzMatcher(in);
            break;
        case 2:
            fuzzRequest(in);
            break;
        case 3:
            fuzzRender(in);
            break;
    }
    return 0;
}
