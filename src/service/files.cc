#include "service/files.h"

#include <fnmatch.h>
#include <time.h>

#include <algorithm>

namespace herd::files {

namespace {

bool hasMeta(std::string_view s) {
    return s.find_first_of("*?[\\") != std::string_view::npos;
}

std::string join(const std::string& dir, const std::string& name) {
    return dir.empty() ? name : dir + "/" + name;
}

// A bracket expression that never closes: Go's filepath.Match reports it
// (ErrBadPattern), fnmatch would only fail to match.
bool badPattern(std::string_view p) {
    for (size_t i = 0; i < p.size(); ++i) {
        if (p[i] == '\\') {
            if (++i >= p.size()) return true;
        } else if (p[i] == '[') {
            size_t j = i + 1;
            if (j < p.size() && (p[j] == '^' || p[j] == '!')) ++j;
            if (j < p.size() && p[j] == ']') ++j;
            while (j < p.size() && p[j] != ']') ++j;
            if (j >= p.size()) return true;
            i = j;
        }
    }
    return false;
}

// The names in directory `rel` (relative to root, "" for the root), sorted.
Result<std::vector<std::string>> namesIn(const Dir& root, const std::string& rel) {
    Result<std::vector<std::string>> names = std::vector<std::string>{};
    if (rel.empty()) {
        names = root.list();
    } else {
        auto dir = root.openDir(rel);
        if (!dir.ok()) return dir.error();
        names = dir->list();
    }
    if (names.ok()) std::sort(names->begin(), names->end());
    return names;
}

// The names in directory `rel` that match `pattern`. A `rel` that is not a
// directory (or is a link) has none.
Result<std::vector<std::string>> matchIn(const Dir& root, const std::string& rel,
                                         const std::string& pattern) {
    std::vector<std::string> out;
    auto names = namesIn(root, rel);
    if (!names.ok()) return out;
    for (const auto& n : *names) {
        if (::fnmatch(pattern.c_str(), n.c_str(), FNM_PATHNAME) == 0) out.push_back(join(rel, n));
    }
    return out;
}

// Go's filepath.Glob on a pattern relative to the root.
Result<std::vector<std::string>> globRel(const Dir& root, const std::string& pat) {
    if (!hasMeta(pat)) {
        if (pat.empty() || root.exists(pat)) return std::vector<std::string>{pat};
        return std::vector<std::string>{};
    }
    const size_t slash = pat.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : pat.substr(0, slash);
    const std::string leaf = slash == std::string::npos ? pat : pat.substr(slash + 1);
    if (badPattern(leaf)) return Error::msg("syntax error in pattern");
    std::vector<std::string> dirs{dir};
    if (hasMeta(dir)) {
        auto d = globRel(root, dir);
        if (!d.ok()) return d.error();
        dirs = std::move(*d);
    }
    std::vector<std::string> out;
    for (const auto& d : dirs) {
        auto m = matchIn(root, d, leaf);
        if (!m.ok()) return m.error();
        out.insert(out.end(), m->begin(), m->end());
    }
    return out;
}

Result<struct stat> statOf(const Dir& root, const std::string& rel) {
    if (!rel.empty()) return root.lstat(rel);
    struct stat st {};
    if (::fstat(root.fd(), &st) != 0) return Error::sysNow("stat", root.path());
    return st;
}

// The entries of directory `rel` in name order. `recursive`: every file
// below it instead, depth first (Go's filepath.Walk), directories and links
// to directories not listed themselves.
Result<void> walk(const Dir& root, const std::string& rel, bool recursive,
                  std::vector<Entry>& out) {
    auto names = namesIn(root, rel);
    if (!names.ok()) return names.error();
    for (const auto& n : *names) {
        const std::string child = join(rel, n);
        auto st = root.lstat(child);
        if (!st.ok()) continue;  // gone meanwhile
        const bool dir = S_ISDIR(st->st_mode);
        if (dir && recursive) {
            HERD_TRY(walk(root, child, true, out));
        } else {
            out.push_back({child, dir, *st});
        }
    }
    return Ok();
}

}  // namespace

std::string clean(std::string_view p) {
    std::vector<std::string_view> parts;
    size_t i = 0;
    while (i <= p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string_view::npos) j = p.size();
        std::string_view part = p.substr(i, j - i);
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        i = j + 1;
    }
    std::string out;
    for (auto part : parts) {
        out += '/';
        out += part;
    }
    return out.empty() ? "/" : out;
}

Result<std::vector<std::string>> glob(const Dir& root, const std::string& cleaned) {
    return globRel(root, cleaned.substr(1));
}

Result<std::vector<Entry>> list(const Dir& root, const std::string& cleaned, bool recursive) {
    auto matches = glob(root, cleaned);
    if (!matches.ok()) return matches.error();
    std::vector<Entry> out;
    for (const auto& m : *matches) {
        auto st = statOf(root, m);
        if (!st.ok()) continue;
        if (!S_ISDIR(st->st_mode)) {
            out.push_back({m, false, *st});
            continue;
        }
        HERD_TRY(walk(root, m, recursive, out));
    }
    return out;
}

Result<void> remove(const Dir& root, const std::string& cleaned) {
    auto matches = glob(root, cleaned);
    if (!matches.ok()) return matches.error();
    for (const auto& m : *matches) {
        if (!m.empty()) {
            HERD_TRY(root.removeTree(m));
            continue;
        }
        auto names = root.list();
        if (!names.ok()) return names.error();
        for (const auto& n : *names) HERD_TRY(root.removeTree(n));
    }
    return Ok();
}

std::string rfc3339(const struct timespec& t) {
    struct tm tm {};
    ::localtime_r(&t.tv_sec, &tm);
    char buf[64];
    ::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out = buf;
    long off = tm.tm_gmtoff;
    if (off == 0) return out + "Z";
    const char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    char zone[32];
    ::snprintf(zone, sizeof zone, "%c%02d:%02d", sign, static_cast<int>(off / 3600 % 100),
               static_cast<int>(off / 60 % 60));
    return out + zone;
}

}  // namespace herd::files
