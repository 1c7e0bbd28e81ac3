// HTTP and HTTPS downloads into a directory the daemon owns (the file root),
// for the preprocessor's `http://` arguments.
//
// The server and the network are not trusted: the body is capped, every
// network step has a timeout, certificates are verified against the system
// store (OpenSSL's default paths, so SSL_CERT_FILE / SSL_CERT_DIR apply),
// redirects are followed a few times and never from https to http, and the
// file is written beneath the directory's descriptor (no symbolic link is
// followed) to a temporary name that is renamed over the final one only once
// the whole body has arrived.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/fs.h"
#include "base/result.h"

namespace herd::runtime {

struct Url {
    std::string scheme;  // "http" or "https"
    std::string host;    // without the brackets of an IPv6 literal
    std::string port;    // "80" / "443" when the URL has none
    std::string target;  // what the request asks for: raw path and query, "/" at least
    std::string path;    // the path, percent-decoded: "/images/a b.tar"
};

// Parses an absolute http:// or https:// URL. An error names what is wrong.
Result<Url> parseUrl(std::string_view text);

struct FetchLimits {
    uint64_t max_bytes = uint64_t{1} << 30;  // body size cap
    std::chrono::seconds timeout{30};        // each connect, handshake, read or write
    int max_redirects = 5;
};

// Lets another thread stop a download soon (the daemon is stopping).
class FetchCanceller {
  public:
    FetchCanceller();
    void cancel();
    bool cancelled() const;

  private:
    friend class Fetch;
    struct State;
    std::shared_ptr<State> state_;
};

struct FetchResult {
    bool ok = false;
    // The server has no such file (404, 410) or could not be reached: what
    // minimega reports as plain "file not found".
    bool missing = false;
    std::string reason;  // why it failed, for the log and the user
};

// Downloads `url` into `dir`/`rel` (its parent directories must exist),
// replacing what is there only on success.
FetchResult download(const std::string& url, const Dir& dir, const std::string& rel,
                     const FetchLimits& limits, FetchCanceller* cancel = nullptr);

}  // namespace herd::runtime
