// The herd-cc protocol, spoken between the daemon and the agent in a guest
// over the unix socket `/cc` (host side: <instance>/cc). Its own module
// (herd_proto) below the service: the agent is a static binary that links
// this and nothing else of herd.
//
// Version 1.
//
// Framing. Every message is one frame:
//
//     u32 BE  length   bytes that follow (4 + header + body), 6 .. kMaxFrame
//     u32 BE  hlen     length of the header, >= 2, <= length - 4
//     hlen    header   a JSON object (UTF-8) with at least {"type": "..."}
//     rest    body     opaque bytes (file data, command output)
//
// A frame whose length or header length is out of range, whose header is
// not a JSON object with a string "type", or a stream that ends inside a
// frame is a protocol error: the receiver closes the connection (the agent
// then reconnects). Unknown message types are ignored, so that either side
// can grow new messages without a version bump.
//
// A receiver may set tighter limits than kMaxFrame (Decoder::Limits): the
// daemon reads a connection's first frame (the hello) with cclimits::kHello
// and every later one with cclimits::kAgent (service/cc.h), far above what an agent sends but low
// enough that a hostile guest cannot make the daemon allocate much: a header
// may nest at most kMaxDepth arrays/objects and hold at most a bounded number
// of values, checked on the bytes before they are parsed.
//
// Handshake. The agent speaks first:
//   agent  {"type":"hello","version":1,"uuid":U,"hostname":H,"os":"linux","arch":"amd64",
//           "ip":[...],"mac":[...]}
//   daemon {"type":"welcome","version":1}            accepted, or
//   daemon {"type":"reject","error":"..."}           then closes (wrong uuid, version)
// The agent repeats {"type":"info",...same fields...} when its addresses change.
//
// Daemon -> agent:
//   {"type":"file","path":P,"mode":M,"eof":bool}  body = next chunk of file P (relative,
//                                                 no ".."); written under /tmp/miniccc/files
//   {"type":"command","id":N,"argv":[...],"background":bool,"send":[P...],"recv":[G...],
//    "stdin":P?,"stdout":P?,"stderr":P?}   (named pipes: see popen below)
//       argv empty: a file-only command (send: the files came just before; recv:
//       the agent sends files G back, then the response)
//   {"type":"kill","pid":N}         N = -1: every background process
//   {"type":"killall","name":S}     background processes whose argv[0] basename is S
//
// Agent -> daemon:
//   {"type":"response","id":N,"stdout":a,"stderr":b,"exitcode":E?}  body = a bytes of
//       stdout then b bytes of stderr; no exitcode for background commands. A background
//       command answers twice: at start (empty) and at exit (its output).
//   {"type":"output","id":N,"stdout":a,"stderr":b}  body as a response's: output of a
//       running command, sent on in chunks (about kChunk) before its response, which
//       carries the rest. A daemon that does not know it ignores it.
//   {"type":"file","id":N,"path":G,"eof":bool,"error":S?}  body = next chunk of guest file G
//   {"type":"procs","procs":[{"pid":N,"argv":[...]}]}   background processes, on change
//
// Tunnels (`cc tunnel`, `cc rtunnel`): TCP connections carried as streams
// over the agent's connection. A stream id ("sid") opened by the daemon is
// odd, one opened by the agent even.
//   daemon {"type":"tconnect","sid":N,"host":H,"port":P}  the agent dials H:P
//       in the guest; stream N carries that connection
//   daemon {"type":"rlisten","rid":R,"port":P}   the agent listens on guest
//       TCP port P (all addresses) for reverse tunnel R; {"type":"runlisten",
//       "rid":R} stops it
//   agent  {"type":"rconnect","rid":R,"sid":N}  a connection accepted for R;
//       the daemon dials the host side only for an R it created
//   either {"type":"tdata","sid":N}        body = next bytes of stream N
//   either {"type":"tack","sid":N,"n":K}   K bytes of N were written out
//   either {"type":"tclose","sid":N,"eof":bool,"error":S?}  eof true: the
//       sender's side ended (half close); false: the stream is gone
//   agent  {"type":"popen","sid":N,"pipe":P,"dir":"stdin"|"stdout"|"stderr"}
//       a stream for one stdio stream of a guest process bound to the
//       daemon's named pipe P (a command's "stdin"/"stdout"/"stderr" fields
//       name the pipes). stdout/stderr: the agent sends the output as tdata;
//       stdin: the daemon sends the pipe's messages as tdata; either side
//       ends it with tclose. The daemon refuses with tclose (eof false).
// Flow control: each side has at most kTunnelWindow bytes of a stream sent
// and not yet acknowledged (tack), each data frame at most kTunnelPiece; a
// peer that exceeds the window, or acknowledges more than was sent, loses
// the stream. Each side holds at most kMaxStreams streams per connection.
//   daemon {"type":"command",...,"conntest":{"proto":"tcp"|"udp","host":H,
//       "port":P,"wait_ms":W,"packet":hex}}  `cc test-conn`: the response's
//       stdout is `H:P | pass` or `H:P | fail`
//   daemon {"type":"command",...,"loglevel":S}  `cc log level`
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::ccproto {

inline constexpr int kVersion = 1;
inline constexpr uint32_t kMaxFrame = 8u << 20;  // 8 MiB
inline constexpr size_t kChunk = 1u << 20;       // file chunks, `output` frames
// The most output one `output` or `response` frame carries: the agent sends a
// piece once it holds kChunk, after a read of up to 64 KiB.
inline constexpr size_t kMaxOutputPiece = kChunk + (64u << 10);
inline constexpr const char* kGuestFiles = "/tmp/miniccc/files";
// Addresses and MACs an agent lists in hello/info (more are dropped), so that
// a hello always fits in the daemon's hello limits.
inline constexpr size_t kMaxAddrs = 256;
// Deepest nesting of arrays/objects in a header (the deepest message,
// `procs`, nests 4).
inline constexpr int kMaxDepth = 8;
// Tunnel flow control (see the header comment).
inline constexpr size_t kTunnelWindow = 128u << 10;
inline constexpr size_t kTunnelPiece = 32u << 10;
inline constexpr size_t kMaxStreams = 64;

struct Frame {
    nlohmann::json header;
    std::string body;
    size_t size = 0;  // bytes on the wire
    std::string type() const { return header.value("type", std::string()); }
};

inline void putU32(std::string& out, uint32_t v) {
    out.push_back(static_cast<char>(v >> 24));
    out.push_back(static_cast<char>(v >> 16));
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v));
}

inline uint32_t getU32(const char* p) {
    auto b = reinterpret_cast<const unsigned char*>(p);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

// Encodes a frame. Invalid UTF-8 in header strings is replaced, never thrown.
std::string encode(const nlohmann::json& header, std::string_view body = {});

// Whether the JSON text `s` nests arrays/objects at most `max_depth` deep
// and has at most `max_items` separators (`,` and `:`, about one per value)
// outside strings. A linear scan, run before parsing: a parser builds a node
// per level and per value, so a small text of `[[[[...` or `[0,0,0,...`
// would cost many times its size in memory. Malformed text may pass; the
// parser rejects it.
bool jsonWithin(std::string_view s, int max_depth, size_t max_items);

// Incremental decoder: feed bytes, take whole frames. After an error the
// stream is unusable (the caller closes it).
class Decoder {
  public:
    // What a frame may be; checked as soon as the bytes that say it arrive,
    // so an oversized frame is refused before it is buffered.
    struct Limits {
        uint32_t max_frame = kMaxFrame;   // the length field
        uint32_t max_header = kMaxFrame;  // the header length field
        int max_depth = kMaxDepth;        // nesting of the header's JSON
        size_t max_items = SIZE_MAX;      // separators in the header (jsonWithin)
    };

    void setLimits(const Limits& l) { lim_ = l; }
    const Limits& limits() const { return lim_; }

    void feed(const char* data, size_t n) { buf_.append(data, n); }

    // A frame, nothing yet (nullopt, error empty), or a protocol error.
    std::optional<Frame> next(std::string& error);

    // Bytes of an unfinished frame (a truncated stream if the peer closed).
    size_t pending() const { return buf_.size() - pos_; }
    // Bytes the buffer holds allocated (for tests of its bound).
    size_t capacity() const { return buf_.capacity(); }

  private:
    std::optional<Frame> compact();
    static constexpr size_t kKeep = 256u << 10;
    Limits lim_;
    std::string buf_;
    size_t pos_ = 0;
};

// A relative path without "..", "." or empty components; "" if unsafe.
std::string safeRelative(std::string_view p);

// Typed accessors that never throw on a peer's malformed fields.
inline std::string jstr(const nlohmann::json& j, const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
inline int64_t jint(const nlohmann::json& j, const char* k, int64_t def = 0) {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : def;
}
inline bool jbool(const nlohmann::json& j, const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_boolean() && it->get<bool>();
}
std::vector<std::string> jstrs(const nlohmann::json& j, const char* k);

}  // namespace herd::ccproto
