// libFuzzer target over the bytes a miniccc client (a guest, so hostile)
// sends to herd's cc server: the gob decoder (proto/gob.h) with its limits,
// and the session that turns minimega's messages into herd-cc frames
// (service/cc_miniccc.h). The first input byte picks how the rest is cut
// into reads, and whether the session counts as welcomed after its hello.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/gob.h"
#include "proto/ron.h"
#include "service/cc_miniccc.h"

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_gob: %s\n", what);
    std::abort();
}

void fuzzDecoder(std::string_view in, size_t step) {
    herd::gob::Decoder d;
    herd::gob::Decoder::Limits l;
    l.max_message = 1u << 16;
    l.max_nodes = 4096;
    d.setLimits(l);
    std::string err;
    for (size_t i = 0; i < in.size() && err.empty(); i += step) {
        auto piece = in.substr(i, step);
        d.feed(piece.data(), piece.size());
        while (auto v = d.next(err)) {
            // A decoded Message re-encodes and decodes again.
            if (v->kind != herd::gob::Value::Kind::Struct) continue;
            herd::gob::Encoder e;
            std::string out = e.encode(herd::ron::messageType(), *v);
            herd::gob::Decoder again;
            again.feed(out.data(), out.size());
            std::string err2;
            if (!again.next(err2)) fail("a re-encoded message does not decode");
        }
        if (d.capacity() > (l.max_message + 16) * 4 + step) fail("decoder buffer grew past bound");
    }
}

void fuzzSession(std::string_view in, size_t step, bool welcome) {
    herd::MinicccSession s;
    std::string err;
    s.feed("RON", 3);
    (void)s.takeMagicReply();
    for (size_t i = 0; i < in.size() && err.empty(); i += step) {
        auto piece = in.substr(i, step);
        s.feed(piece.data(), piece.size());
        while (auto f = s.next(err)) {
            if (f->type() == "hello" && welcome) {
                s.welcomed();
                (void)s.fromService(*f);
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    size_t step = 1 + (data[0] >> 2) * 17;
    if (data[0] & 1)
        fuzzDecoder(in, step);
    else
        fuzzSession(in, step, data[0] & 2);
    return 0;
}
