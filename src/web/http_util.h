// Pure helpers of the web server: URL parsing, percent-decoding, the path
// rules of static files, Content-Type, listen addresses and the token rule.
// No I/O, so that they are unit-tested on their own (tests/unit/web_util_test.cc).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace herd::web {

// Percent-decodes `s` (`+` stays `+`: paths and our query values never use
// form encoding). nullopt for a truncated or non-hex escape, or a decoded NUL.
std::optional<std::string> percentDecode(std::string_view s);

// A request target split at `?`: the raw path and the decoded query
// parameters (first occurrence wins). nullopt when the query does not decode.
struct Target {
    std::string path;  // raw, still percent-encoded
    std::map<std::string, std::string> query;
};
std::optional<Target> splitTarget(std::string_view target);

// The relative file path for a decoded URL path below a served directory, or
// nullopt when it could leave it or is not a plain file name: empty, "." or
// ".." segments, empty segments (`a//b`), a backslash or a NUL.
std::optional<std::string> sanitizeRelPath(std::string_view decoded);

// The Content-Type of a served file, by extension.
std::string contentType(std::string_view path);

// A listen address: "addr:port", "[v6]:port", ":port" or "port"; the address
// defaults to 127.0.0.1. Errors name the bad part.
struct ListenAddr {
    std::string host;  // as given, without brackets
    unsigned short port = 0;
};
Result<ListenAddr> parseListenAddr(std::string_view s);

// Whether `host` (an IP literal or "localhost") only reaches this machine.
bool isLoopback(std::string_view host);

// The token cookie's name for a server on `port`: `herd_token_<port>`, so
// that two servers on one host (cookies ignore ports) keep their own.
std::string tokenCookieName(unsigned short port);

// What a request offers as its token: `?token=`, else the cookie
// `cookie_name`, else `Authorization: Bearer`. Empty when it offers none.
std::string offeredToken(const std::map<std::string, std::string>& query,
                         std::string_view cookie_header, std::string_view cookie_name,
                         std::string_view authorization);

// Whether a request's Host header names this server, which listens on
// `listen_host` (as given to parseListenAddr) and `port`: the listen address
// with the port, or, on loopback, localhost / 127.0.0.1 / [::1] with the port
// (the port may be left out when it is 80). Refusing other names defeats DNS
// rebinding. On a wildcard address (0.0.0.0, ::) any Host is accepted: the
// token protects that server. Case-insensitive; an empty Host is refused.
bool hostAllowed(std::string_view host_header, std::string_view listen_host, unsigned short port);

// Whether an Origin header is the page's own origin for this request:
// `http://<Host header>` (case-insensitive). Anything else, `null` included,
// is another site.
bool sameOrigin(std::string_view origin, std::string_view host_header);

// Whether a Content-Type header is application/json (parameters such as
// `; charset=utf-8` allowed). A cross-site form or a `no-cors` fetch cannot
// send it without a CORS preflight, which this server never grants.
bool isJsonContentType(std::string_view content_type);

// Compares in time independent of where the strings differ.
bool tokenEquals(std::string_view a, std::string_view b);

// Whether `t` is usable as a token (in a URL and a cookie without escaping):
// 1 to 128 characters of [A-Za-z0-9._~-].
bool validToken(std::string_view t);

// A random 32-hex-digit token (getrandom).
std::string randomToken();

}  // namespace herd::web
