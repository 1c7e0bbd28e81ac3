#include "web/http_util.h"

#include <arpa/inet.h>
#include <sys/random.h>

#include <fmt/format.h>

#include "cli/text.h"

namespace herd::web {

namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string_view trimSpaces(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

std::optional<std::string> percentDecode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') return std::nullopt;
        out += c;
    }
    return out;
}

std::optional<Target> splitTarget(std::string_view target) {
    Target t;
    auto q = target.find('?');
    t.path = std::string(target.substr(0, q));
    if (q == std::string_view::npos) return t;
    std::string_view rest = target.substr(q + 1);
    if (auto h = rest.find('#'); h != std::string_view::npos) rest = rest.substr(0, h);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        auto key = percentDecode(pair.substr(0, eq));
        auto val =
            percentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
        if (!key || !val) return std::nullopt;
        t.query.emplace(std::move(*key), std::move(*val));
    }
    return t;
}

std::optional<std::string> sanitizeRelPath(std::string_view decoded) {
    if (decoded.empty()) return std::nullopt;
    std::string_view rest = decoded;
    while (true) {
        auto slash = rest.find('/');
        std::string_view seg = rest.substr(0, slash);
        if (seg.empty() || seg == "." || seg == "..") return std::nullopt;
        if (seg.find('\\') != std::string_view::npos) return std::nullopt;
        if (seg.find('\0') != std::string_view::npos) return std::nullopt;
        if (slash == std::string_view::npos) break;
        rest = rest.substr(slash + 1);
    }
    return std::string(decoded);
}

std::string contentType(std::string_view path) {
    auto dot = path.rfind('.');
    auto slash = path.rfind('/');
    if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
        return "application/octet-stream";
    }
    std::string_view ext = path.substr(dot + 1);
    if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
    if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
    if (ext == "css") return "text/css; charset=utf-8";
    if (ext == "png") return "image/png";
    if (ext == "svg") return "image/svg+xml";
    if (ext == "json" || ext == "map") return "application/json";
    if (ext == "txt") return "text/plain; charset=utf-8";
    if (ext == "ico") return "image/x-icon";
    return "application/octet-stream";
}

Result<ListenAddr> parseListenAddr(std::string_view s) {
    ListenAddr a;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
            return Error::msg(fmt::format("web address `{}`: expected [address]:port", s));
        }
        a.host = std::string(s.substr(1, close - 1));
        port = s.substr(close + 2);
    } else if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
        a.host = std::string(s.substr(0, colon));
        if (a.host.find(':') != std::string::npos) {
            return Error::msg(
                fmt::format("web address `{}`: write IPv6 addresses as [addr]:port", s));
        }
        port = s.substr(colon + 1);
    } else {
        port = s;
    }
    if (a.host.empty()) a.host = "127.0.0.1";
    if (port.empty() || port.size() > 5) {
        return Error::msg(fmt::format("web address `{}`: bad port `{}`", s, port));
    }
    unsigned v = 0;
    for (char c : port) {
        if (c < '0' || c > '9')
            return Error::msg(fmt::format("web address `{}`: bad port `{}`", s, port));
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > 65535) return Error::msg(fmt::format("web address `{}`: bad port `{}`", s, port));
    a.port = static_cast<unsigned short>(v);
    return a;
}

bool isLoopback(std::string_view host) {
    if (host == "localhost") return true;
    std::string h(host);
    in_addr v4{};
    if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
        if (IN6_IS_ADDR_V4MAPPED(&v6)) return v6.s6_addr[12] == 127;
    }
    return false;
}

std::string tokenCookieName(unsigned short port) {
    return fmt::format("herd_token_{}", port);
}

std::string offeredToken(const std::map<std::string, std::string>& query,
                         std::string_view cookie_header, std::string_view cookie_name,
                         std::string_view authorization) {
    if (auto it = query.find("token"); it != query.end()) return it->second;
    std::string_view rest = cookie_header;
    while (!rest.empty()) {
        auto semi = rest.find(';');
        std::string_view kv = trimSpaces(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
        auto eq = kv.find('=');
        if (eq != std::string_view::npos && trimSpaces(kv.substr(0, eq)) == cookie_name) {
            std::string_view v = trimSpaces(kv.substr(eq + 1));
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            return std::string(v);
        }
    }
    std::string_view auth = trimSpaces(authorization);
    if (auth.size() > 7) {
        if (cli::text::toLower(auth.substr(0, 7)) == "bearer ")
            return std::string(trimSpaces(auth.substr(7)));
    }
    return {};
}

bool hostAllowed(std::string_view host_header, std::string_view listen_host, unsigned short port) {
    std::string host = cli::text::toLower(trimSpaces(host_header));
    if (host.empty()) return false;
    std::string listen(listen_host);
    // The canonical text of an IP literal, as a browser writes it in Host.
    in_addr v4{};
    in6_addr v6{};
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_pton(AF_INET, listen.c_str(), &v4) == 1) {
        if (v4.s_addr == INADDR_ANY) return true;
    } else if (inet_pton(AF_INET6, listen.c_str(), &v6) == 1) {
        if (IN6_IS_ADDR_UNSPECIFIED(&v6)) return true;
        if (inet_ntop(AF_INET6, &v6, text, sizeof text)) listen = text;
        listen = "[" + listen + "]";
    }
    listen = cli::text::toLower(listen);
    auto names = [&](std::string_view name) {
        return host == fmt::format("{}:{}", name, port) || (port == 80 && host == name);
    };
    if (names(listen)) return true;
    return isLoopback(listen_host) && (names("localhost") || names("127.0.0.1") || names("[::1]"));
}

bool sameOrigin(std::string_view origin, std::string_view host_header) {
    std::string host = cli::text::toLower(trimSpaces(host_header));
    return !host.empty() && cli::text::toLower(trimSpaces(origin)) == "http://" + host;
}

bool isJsonContentType(std::string_view content_type) {
    std::string_view type = content_type.substr(0, content_type.find(';'));
    return cli::text::toLower(trimSpaces(type)) == "application/json";
}

bool tokenEquals(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    size_t n = std::max(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
        unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= x ^ y;
    }
    return diff == 0;
}

bool validToken(std::string_view t) {
    if (t.empty() || t.size() > 128) return false;
    for (char c : t) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '~' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string randomToken() {
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
        if (n > 0) got += static_cast<size_t>(n);
    }
    std::string out;
    for (unsigned char c : b) out += fmt::format("{:02x}", c);
    return out;
}

}  // namespace herd::web
