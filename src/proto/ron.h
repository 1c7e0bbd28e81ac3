// minimega's cc protocol ("ron"), as its guest agent miniccc speaks it over
// a unix socket: the client writes the magic `RON`, the server answers
// `RON`, then each direction is a gob stream (proto/gob.h) of Message
// values. The message and its parts are Go structs matched by field name;
// the types below describe them for the encoder with the field names and
// gob kinds miniccc expects (ints as gob int, a file's mode as gob uint,
// data as bytes).
#pragma once

#include <string>

#include "proto/gob.h"

namespace herd::ron {

inline constexpr const char* kMagic = "RON";
inline constexpr const char* kVersion = "v1";

// Message.Type.
enum MessageType : int {
    kCommand = 0,
    kClient = 1,
    kTunnel = 2,
    kFile = 3,
    kPipe = 4,
    kUfs = 5,
    kHeartbeat = 6,
};

// The largest piece of a file in one FILE message, as minimega sends them.
inline constexpr size_t kFileChunk = 102400;

const gob::Type* messageType();

// Message.Version (and the hello's): the major version after a leading
// v/V, or -1 when there is none.
long majorVersion(const std::string& v);

}  // namespace herd::ron
