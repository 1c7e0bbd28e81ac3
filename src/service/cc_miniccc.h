// minimega's own guest agent, miniccc, on a VM's cc socket: a session that
// translates its protocol (proto/ron.h: the `RON` magic, then gob Message
// values) to and from herd-cc's frames (proto/ccproto.h), so that the cc
// service treats a miniccc client exactly as a herd-cc agent: same hello
// checks, limits, budgets and escaping, since everything the client says
// reaches the service as the frame a herd-cc agent would have sent.
//
// Pure: no I/O. The connection (service/cc.cc) feeds it the client's bytes,
// hands the frames it makes to the service, and writes what it returns.
//
//   client heartbeat (first)   -> hello (the rest of it after the welcome)
//   client heartbeat (later)   -> info (when it changed), procs (when they
//                                 changed), tags, a response per Response
//   client FILE with an ID     -> file (a `cc recv` chunk; Name is relative to /)
//   client FILE without one    -> a request for a `cc send` file: served by
//                                 the connection from the files the service
//                                 offered it (offer()), nothing else
//   welcome                    -> the client's first heartbeat echoed back
//   command                    -> COMMAND with that one command
//   kill / killall (with id)   -> COMMAND with PID / KillAll
// A background command answers once in miniccc (at its start); the session
// passes that answer on twice, as herd-cc's start and exit answers, so the
// service does not wait for a second one.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "proto/ccproto.h"
#include "proto/gob.h"

namespace herd {

namespace minicccLimits {
// Bytes a client may send before its first heartbeat is in (the magic,
// type definitions, the heartbeat).
inline constexpr size_t kHelloBytes = 64u << 10;
// Garbage allowed before the magic.
inline constexpr size_t kMagicBytes = 64;
// Files offered to one connection that it may still ask for.
inline constexpr size_t kMaxOffers = 1024;
// Tags merged from one heartbeat.
inline constexpr size_t kMaxTags = 64;
}  // namespace minicccLimits

class MinicccSession {
  public:
    // The internal frame type of a file request (never given to the service).
    static constexpr const char* kFileRequest = "miniccc-file-request";

    MinicccSession();

    // Bytes from the client.
    void feed(const char* data, size_t n);
    // The magic to send back once the client's was seen (once), else "".
    std::string takeMagicReply();
    // The next frame for the service (or a kFileRequest with "name"),
    // nothing yet, or a protocol error (then the connection is closed).
    std::optional<ccproto::Frame> next(std::string& error);
    // The service welcomed the client: later messages may be larger.
    void welcomed();

    // Bytes for the client that carry a frame the service sent ("" when it
    // has none).
    std::string fromService(const ccproto::Frame& f);
    // The periodic heartbeat the server sends.
    std::string heartbeat();
    // One FILE message of a `cc send` file (error: the request failed).
    std::string fileChunk(const std::string& name, unsigned perm, std::string data, int64_t offset,
                          bool eof);
    std::string fileError(const std::string& name, const std::string& error);

    // A file the service sent with a command: the client may fetch it.
    void offer(const std::string& rel, const std::string& host, unsigned mode);
    struct Offer {
        std::string host;
        unsigned mode = 0644;
    };
    std::optional<Offer> offered(const std::string& rel) const;

    size_t pendingBytes() const { return dec_.pending() + magic_.size(); }

  private:
    void translate(const gob::Value& m, size_t wire, std::string& error);
    void fromHeartbeat(const gob::Value& client, bool first);
    void push(nlohmann::json header, std::string body = {});
    std::string command(int id, gob::Value cmd);

    gob::Decoder dec_;
    gob::Encoder enc_;
    bool magic_seen_ = false;
    bool magic_replied_ = false;
    std::string magic_;  // bytes before and of the magic
    bool hello_seen_ = false;
    bool hello_given_ = false;  // the hello frame went to the service
    bool welcomed_ = false;
    size_t hello_wire_ = 0;  // bytes read before the hello
    gob::Value hello_;       // the first heartbeat, echoed as the welcome
    std::deque<ccproto::Frame> out_;
    size_t wire_ = 0;  // wire bytes of the message being translated (first frame carries them)
    nlohmann::json last_info_, last_procs_;
    std::set<int> background_, signals_;  // command ids
    std::map<std::string, Offer> offers_;
    std::deque<std::string> offer_order_;
};

}  // namespace herd
