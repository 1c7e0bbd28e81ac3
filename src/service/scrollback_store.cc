#include "service/scrollback_store.h"

#include <cerrno>
#include <charconv>

#include "base/log.h"

namespace herd {

namespace {

constexpr const char* kHeader = "herd-scrollback 1\n";
// The whole file: 10,000 consoles of 64 KiB, and then some.
constexpr size_t kMaxFile = size_t{1} << 30;

}  // namespace

std::string encodeScrollbacks(const std::map<int, std::string>& scrollbacks) {
    std::string out = kHeader;
    for (const auto& [id, text] : scrollbacks) {
        out += std::to_string(id) + " " + std::to_string(text.size()) + "\n";
        out += text;
    }
    return out;
}

std::map<int, std::string> decodeScrollbacks(const std::string& text, size_t per_console) {
    std::map<int, std::string> out;
    const std::string header = kHeader;
    if (text.compare(0, header.size(), header) != 0) return out;
    size_t pos = header.size();
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos || nl - pos > 40) break;
        int id = -1;
        size_t len = 0;
        const char* p = text.data() + pos;
        const char* end = text.data() + nl;
        auto a = std::from_chars(p, end, id);
        if (a.ec != std::errc() || a.ptr == end || *a.ptr != ' ' || id < 0) break;
        auto b = std::from_chars(a.ptr + 1, end, len);
        if (b.ec != std::errc() || b.ptr != end) break;
        pos = nl + 1;
        if (len > text.size() - pos) break;  // torn
        size_t keep = std::min(len, per_console);
        out[id] = text.substr(pos + len - keep, keep);
        pos += len;
    }
    return out;
}

Result<void> saveScrollbacks(const Dir& base, const std::map<int, std::string>& scrollbacks) {
    return base.writeFileAtomic(kScrollbackFile, encodeScrollbacks(scrollbacks), 0600);
}

std::map<int, std::string> takeScrollbacks(const Dir& base, size_t per_console) {
    auto text = base.readFile(kScrollbackFile, kMaxFile);
    if (!text.ok()) {
        if (text.error().errnum() != ENOENT) {
            HERD_LOG(warn, "consoles' scrollback: {}", text.error().text());
            (void)base.unlink(kScrollbackFile);  // read once, whatever it held
        }
        return {};
    }
    (void)base.unlink(kScrollbackFile);
    return decodeScrollbacks(*text, per_console);
}

}  // namespace herd
