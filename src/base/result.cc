#include "base/result.h"

#include <cstring>

namespace herd {

std::string errnoName(int err) {
    // strerrorname_np is glibc >= 2.32 (Debian 12 has 2.36).
    if (const char* n = strerrordesc_np(err) ? strerrorname_np(err) : nullptr) return n;
    return std::to_string(err);
}

Error Error::sys(int err, std::string op, std::string object) {
    Error e;
    e.errno_ = err;
    e.text_ = std::move(op);
    if (!object.empty()) e.text_ += " " + object;
    e.text_ += ": ";
    e.text_ += strerrordesc_np(err) ? strerrordesc_np(err) : "Unknown error";
    e.text_ += " (" + errnoName(err) + ")";
    return e;
}

}  // namespace herd
