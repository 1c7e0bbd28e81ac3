#include "runtime/untar.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <set>
#include <vector>

#include "base/log.h"

namespace herd::runtime {

namespace {

constexpr const char* kNotSingle = "unable to handle tar without a single top-level directory";

struct ArchiveCloser {
    void operator()(struct archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<struct archive, ArchiveCloser>;

// Opens the archive `rel` beneath `dir` for reading (any compression).
Result<ArchivePtr> openArchive(const Dir& dir, const std::string& rel, unique_fd& fd) {
    auto f = dir.openFile(rel, O_RDONLY);
    if (!f.ok()) return f.error();
    fd = std::move(*f);
    ArchivePtr a(archive_read_new());
    if (!a) return Error::msg("read tar " + dir.pathOf(rel) + ": out of memory");
    archive_read_support_filter_all(a.get());
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    if (archive_read_open_fd(a.get(), fd.get(), 64 * 1024) != ARCHIVE_OK) {
        return Error::msg("read tar " + dir.pathOf(rel) + ": " + archive_error_string(a.get()));
    }
    return a;
}

Error archiveError(struct archive* a, const Dir& dir, const std::string& rel) {
    const char* why = archive_error_string(a);
    return Error::msg("read tar " + dir.pathOf(rel) + ": " + (why ? why : "unknown error"));
}

// A member's name as a path beneath the extraction directory: leading "./"
// and repeated or trailing slashes dropped. Empty for the archive's "./".
// Absolute names and ".." components are errors.
Result<std::vector<std::string>> memberParts(const Dir& dir, const std::string& rel,
                                             const char* name) {
    const std::string n = name ? name : "";
    if (!n.empty() && n[0] == '/') {
        return Error::msg(
            "tar " + dir.pathOf(rel) + ": member `" + n +
            "` has an absolute name (members must stay beneath the archive's directory)");
    }
    std::vector<std::string> parts;
    size_t i = 0;
    while (i <= n.size()) {
        size_t j = n.find('/', i);
        if (j == std::string::npos) j = n.size();
        std::string c = n.substr(i, j - i);
        if (c == "..") {
            return Error::msg(
                "tar " + dir.pathOf(rel) + ": member `" + n +
                "` has a `..` component (members must stay beneath the archive's directory)");
        }
        if (!c.empty() && c != ".") parts.push_back(std::move(c));
        i = j + 1;
    }
    return parts;
}

// Another descriptor of `dir` itself.
Result<Dir> sameDir(const Dir& dir) {
    unique_fd dup(::fcntl(dir.fd(), F_DUPFD_CLOEXEC, 0));
    if (!dup) return Error::sysNow("dup", dir.path());
    return Dir(std::move(dup), dir.path());
}

std::string joinParts(const std::vector<std::string>& parts, size_t from, size_t to) {
    std::string out;
    for (size_t i = from; i < to; ++i) {
        if (!out.empty()) out += '/';
        out += parts[i];
    }
    return out;
}

// Writes one member beneath `root` (the temporary extraction directory).
Result<void> writeMember(const Dir& root, struct archive* a, struct archive_entry* e,
                         const std::vector<std::string>& parts, const Dir& tar_dir,
                         const std::string& tar_rel) {
    const std::string name = joinParts(parts, 0, parts.size());
    const std::string parent_rel = joinParts(parts, 0, parts.size() - 1);
    const std::string& leaf = parts.back();
    const mode_t perm = archive_entry_perm(e) & 0777;  // no set-ID or sticky bits
    const mode_t type = archive_entry_filetype(e);

    if (type == AE_IFDIR) {
        auto d = root.makeDirs(name, 0755);
        if (!d.ok()) return d.error();
        if (::fchmod(d->fd(), perm | 0700) != 0) return Error::sysNow("chmod", d->path());
        if (::fchown(d->fd(), archive_entry_uid(e), archive_entry_gid(e)) != 0) {
            return Error::sysNow("chown", d->path());
        }
        return Ok();
    }
    auto parent = parent_rel.empty() ? sameDir(root) : root.makeDirs(parent_rel, 0755);
    if (!parent.ok()) return parent.error();
    const std::string path = root.pathOf(name);
    auto replace = [&]() -> Result<void> {
        // A later member of the same name replaces the earlier one, as tar does.
        if (::unlinkat(parent->fd(), leaf.c_str(), 0) != 0 && errno != ENOENT) {
            return Error::sysNow("unlink", path);
        }
        return Ok();
    };

    if (const char* target = archive_entry_hardlink(e)) {
        auto tparts = memberParts(tar_dir, tar_rel, target);
        if (!tparts.ok()) return tparts.error();
        if (tparts->empty())
            return Error::msg("tar " + tar_dir.pathOf(tar_rel) + ": bad hard link `" + name + "`");
        auto tparent = tparts->size() == 1
                           ? sameDir(root)
                           : root.openDir(joinParts(*tparts, 0, tparts->size() - 1));
        if (!tparent.ok()) return tparent.error();
        HERD_TRY(replace());
        if (::linkat(tparent->fd(), tparts->back().c_str(), parent->fd(), leaf.c_str(), 0) != 0) {
            return Error::sysNow("link", path);
        }
        return Ok();
    }
    if (type == AE_IFLNK) {
        const char* target = archive_entry_symlink(e);
        HERD_TRY(replace());
        if (::symlinkat(target ? target : "", parent->fd(), leaf.c_str()) != 0) {
            return Error::sysNow("symlink", path);
        }
        if (::fchownat(parent->fd(), leaf.c_str(), archive_entry_uid(e), archive_entry_gid(e),
                       AT_SYMLINK_NOFOLLOW) != 0) {
            return Error::sysNow("chown", path);
        }
        return Ok();
    }
    if (type != AE_IFREG) {
        logf(LogLevel::info,
             "tar {}: member {} skipped (only files, directories and links are extracted)",
             tar_dir.pathOf(tar_rel), name);
        return Ok();
    }
    HERD_TRY(replace());
    unique_fd fd(::openat(parent->fd(), leaf.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return Error::sysNow("create", path);
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
        const int r = archive_read_data_block(a, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK) return archiveError(a, tar_dir, tar_rel);
        if (::lseek(fd.get(), offset, SEEK_SET) < 0) return Error::sysNow("seek", path);
        HERD_TRY(writeAll(fd.get(), std::string_view(static_cast<const char*>(buf), size), path));
    }
    if (::ftruncate(fd.get(), archive_entry_size(e)) != 0) return Error::sysNow("truncate", path);
    if (::fchown(fd.get(), archive_entry_uid(e), archive_entry_gid(e)) != 0) {
        return Error::sysNow("chown", path);
    }
    if (::fchmod(fd.get(), perm) != 0) return Error::sysNow("chmod", path);
    return Ok();
}

}  // namespace

Result<std::string> tarTopDir(const Dir& dir, const std::string& rel) {
    unique_fd fd;
    auto a = openArchive(dir, rel, fd);
    if (!a.ok()) return a.error();
    std::set<std::string> tops;
    bool nested = false;  // some member lies below the top-level name
    bool top_is_dir = false;
    struct archive_entry* e = nullptr;
    for (;;) {
        const int r = archive_read_next_header(a->get(), &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return archiveError(a->get(), dir, rel);
        auto parts = memberParts(dir, rel, archive_entry_pathname(e));
        if (!parts.ok()) return parts.error();
        if (parts->empty()) continue;
        tops.insert(parts->front());
        if (parts->size() > 1) nested = true;
        if (parts->size() == 1 && archive_entry_filetype(e) == AE_IFDIR) top_is_dir = true;
    }
    if (tops.size() != 1 || (!nested && !top_is_dir)) return Error::msg(kNotSingle);
    return *tops.begin();
}

Result<void> extractTar(const Dir& dir, const std::string& rel, const std::string& top) {
    unique_fd fd;
    auto a = openArchive(dir, rel, fd);
    if (!a.ok()) return a.error();

    static std::atomic<unsigned> counter{0};
    const std::string tmp = fmt::format(".{}.extract.{}.{}", top, ::getpid(), counter.fetch_add(1));
    HERD_TRY(dir.mkdir(tmp, 0700));
    auto cleanup = [&](Error e) -> Result<void> {
        if (auto r = dir.removeTree(tmp); !r.ok()) logf(LogLevel::warn, "{}", r.error().text());
        return e;
    };
    auto root = dir.openDir(tmp);
    if (!root.ok()) return cleanup(root.error());

    struct archive_entry* e = nullptr;
    for (;;) {
        const int r = archive_read_next_header(a->get(), &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return cleanup(archiveError(a->get(), dir, rel));
        auto parts = memberParts(dir, rel, archive_entry_pathname(e));
        if (!parts.ok()) return cleanup(parts.error());
        if (parts->empty()) continue;
        if (parts->front() != top) return cleanup(Error::msg(kNotSingle));
        if (auto w = writeMember(*root, a->get(), e, *parts, dir, rel); !w.ok()) {
            const std::string where = "tar " + dir.pathOf(rel);
            return cleanup(w.error().text().rfind(where, 0) == 0 ? w.error()
                                                                 : w.error().wrap(where));
        }
    }
    if (::renameat(root->fd(), top.c_str(), dir.fd(), top.c_str()) != 0) {
        return cleanup(Error::sysNow("rename", dir.pathOf(top)));
    }
    if (auto r = dir.removeTree(tmp); !r.ok()) logf(LogLevel::warn, "{}", r.error().text());
    return Ok();
}

}  // namespace herd::runtime
