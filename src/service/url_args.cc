#include "service/url_args.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "base/log.h"
#include "runtime/fetch.h"
#include "runtime/untar.h"
#include "service/files.h"

namespace herd {

namespace {

enum class Form { none, http, file, tar };

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

Form formOf(std::string_view v) {
    if (startsWithNoCase(v, "http://") || startsWithNoCase(v, "https://")) return Form::http;
    if (startsWithNoCase(v, "file:")) return Form::file;
    if (startsWithNoCase(v, "tar:")) return Form::tar;
    return Form::none;
}

// The cap on one download: HERD_DOWNLOAD_MAX (bytes) in the daemon's
// environment, else 1 GiB.
runtime::FetchLimits downloadLimits() {
    runtime::FetchLimits l;
    if (const char* v = std::getenv("HERD_DOWNLOAD_MAX")) {
        char* end = nullptr;
        const unsigned long long n = std::strtoull(v, &end, 10);
        if (end != v && *end == '\0' && n > 0) l.max_bytes = n;
    }
    return l;
}

std::string notFound(const std::string& what, const std::string& reason = {}) {
    std::string e = "get " + what + ": file not found";
    if (!reason.empty()) e += ": " + reason;
    return e;
}

// `<filepath>/<rel>` when it is a regular file (or, with `dirs`, a
// directory) reached without a symbolic link; nullopt when nothing is there;
// an error when something else is in the way.
Result<std::optional<std::string>> existing(const Dir& root, const std::string& rel,
                                            const std::string& what, bool dirs) {
    auto st = root.lstat(rel);
    if (!st.ok()) {
        if (st.error().errnum() == ENOENT) return std::optional<std::string>{};
        return Error::msg(notFound(what, st.error().text()));
    }
    if (S_ISREG(st->st_mode) || (dirs && S_ISDIR(st->st_mode))) {
        return std::optional<std::string>{root.pathOf(rel)};
    }
    return Error::msg(notFound(what, root.pathOf(rel) + " is not a regular file"));
}

Result<std::string> resolveHttp(const Dir& root, const std::string& url,
                                runtime::FetchCanceller& cancel) {
    auto u = runtime::parseUrl(url);
    if (!u.ok()) return Error::msg(notFound(url, u.error().text()));
    const std::string rel = files::clean(u->path).substr(1);
    // A URL naming a directory has no file name to save it under.
    if (rel.empty() || u->path.back() == '/') return Error::msg(notFound(u->path));
    auto have = existing(root, rel, u->path, false);
    if (!have.ok()) return have.error();
    if (*have) return **have;

    if (auto slash = rel.rfind('/'); slash != std::string::npos) {
        auto d = root.makeDirs(rel.substr(0, slash), 0755);
        if (!d.ok()) return Error::msg(notFound(u->path, d.error().text()));
    }
    logf(LogLevel::info, "file does not exist, downloading: {}", url);
    auto r = runtime::download(url, root, rel, downloadLimits(), &cancel);
    if (!r.ok) {
        logf(LogLevel::warn, "download {}: {}", url, r.reason);
        // minimega says only "file not found"; the reason is added where
        // the server did answer (a cap, a timeout, a certificate...).
        return Error::msg(notFound(u->path, r.missing ? "" : r.reason));
    }
    return root.pathOf(rel);
}

Result<std::string> resolveFile(const Dir& root, const std::string& rest) {
    const std::string rel = files::clean(rest).substr(1);
    auto have = existing(root, rel, rest, true);
    if (!have.ok()) return have.error();
    if (!*have) return Error::msg(notFound(rest));
    return **have;
}

// Another descriptor of `dir` itself.
Result<Dir> sameDir(const Dir& dir) {
    unique_fd dup(::fcntl(dir.fd(), F_DUPFD_CLOEXEC, 0));
    if (!dup) return Error::sysNow("dup", dir.path());
    return Dir(std::move(dup), dir.path());
}

Result<std::string> resolveTar(const Dir& root, const std::string& path) {
    // The archive's directory: beneath the file root for a relative path (or
    // an absolute one inside it); else the directory the user named.
    std::string rel;
    const std::string prefix = root.path() + "/";
    if (path.empty() || path[0] != '/') {
        rel = files::clean(path).substr(1);
    } else if (path.rfind(prefix, 0) == 0) {
        rel = files::clean(path.substr(prefix.size())).substr(1);
    }
    Result<Dir> dir = Error::msg("");
    std::string leaf;
    if (!rel.empty()) {
        auto have = existing(root, rel, path, false);
        if (!have.ok()) return have.error();
        if (!*have) return Error::msg(notFound(path));
        const auto slash = rel.rfind('/');
        leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
        dir = slash == std::string::npos ? sameDir(root) : root.openDir(rel.substr(0, slash));
    } else if (!path.empty() && path[0] == '/') {
        const auto slash = path.rfind('/');
        leaf = path.substr(slash + 1);
        dir = Dir::open(slash == 0 ? "/" : path.substr(0, slash));
    } else {
        return Error::msg(notFound(path));
    }
    if (!dir.ok()) return dir.error();
    if (leaf.empty()) return Error::msg(notFound(path));
    auto top = runtime::tarTopDir(*dir, leaf);
    if (!top.ok()) return top.error();
    auto st = dir->lstat(*top);
    if (st.ok()) {
        // Extracted before (minimega extracts once).
        if (S_ISDIR(st->st_mode)) return dir->pathOf(*top);
        return Error::msg("tar " + dir->pathOf(leaf) + ": " + dir->pathOf(*top) +
                          " exists and is not a directory");
    }
    HERD_TRY(runtime::extractTar(*dir, leaf, *top));
    return dir->pathOf(*top);
}

Result<std::string> resolve(const Dir& root, const std::string& v,
                            runtime::FetchCanceller& cancel) {
    switch (formOf(v)) {
        case Form::http:
            return resolveHttp(root, v, cancel);
        case Form::file:
            return resolveFile(root, v.substr(5));
        case Form::tar:
            return resolveTar(root, v.substr(4));
        case Form::none:
            break;
    }
    return v;
}

}  // namespace

Result<void> preprocessUrls(cli::Command& cmd, Herd& herd) {
    std::vector<std::string*> args;
    for (auto& [key, value] : cmd.strings) {
        if (formOf(value) != Form::none) args.push_back(&value);
    }
    for (auto& [key, values] : cmd.lists) {
        for (auto& v : values) {
            if (formOf(v) != Form::none) args.push_back(&v);
        }
    }
    if (args.empty()) return Ok();
    const std::shared_ptr<const Dir> root = herd.filesDir();
    if (!root) return Error::msg("preprocess: the file root is not open");

    // Copies in, results out: the work below runs without the command lock.
    std::vector<std::string> values;
    values.reserve(args.size());
    for (auto* a : args) values.push_back(*a);
    auto cancel = std::make_shared<runtime::FetchCanceller>();
    std::vector<std::string> out;
    std::optional<Error> err;
    herd.waitUnlocked(
        [&] {
            for (const auto& v : values) {
                auto r = resolve(*root, v, *cancel);
                if (!r.ok()) {
                    err = r.error();
                    return;
                }
                out.push_back(std::move(*r));
            }
        },
        [cancel] { cancel->cancel(); });
    if (err) return *err;
    for (size_t i = 0; i < args.size(); ++i) *args[i] = std::move(out[i]);
    return Ok();
}

}  // namespace herd
