// file list|get|delete|status: the file root (-filepath) as minimega shows
// it on one host (service/files.h). With one host there is no mesh to fetch
// from: `file get` succeeds for what the root holds and reports anything
// else as not found, and nothing is ever in flight for `file status`.
#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/files.h"

namespace herd {

namespace {

using cli::Command;

const Dir* fileRoot(CommandContext& ctx) {
    if (!ctx.herd().filesDir() || !ctx.herd().filesDir()->valid()) {
        ctx.fail("no file root (-filepath) is open");
        return nullptr;
    }
    return ctx.herd().filesDir().get();
}

void fileList(Command& c, CommandContext& ctx, const Dir& root) {
    const std::string path = files::clean(c.has("path") ? c.str("path") : "/");
    auto entries = files::list(root, path, c.flag("recursive"));
    if (!entries.ok()) return ctx.fail(entries.error().text());
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : *entries) {
        rows.push_back({e.dir ? "<dir>" : "", e.name, std::to_string(e.st.st_size),
                        files::rfc3339(e.st.st_mtim)});
    }
    ctx.table({"dir", "name", "size", "modified"}, std::move(rows));
}

void fileCommand(Command& c, CommandContext& ctx) {
    const Dir* root = fileRoot(ctx);
    if (!root) return;
    if (c.flag("list")) return fileList(c, ctx, *root);
    if (c.flag("status")) return ctx.table({"filename", "tempdir", "completed", "queued"}, {});
    const std::string path = files::clean(c.str("file"));
    if (c.flag("delete")) return okOrFail(ctx, files::remove(*root, path));
    // get
    auto matches = files::glob(*root, path);
    if (!matches.ok()) return ctx.fail(matches.error().text());
    if (matches->empty()) return ctx.fail("get " + path + ": file not found");
    ctx.ok();
}

}  // namespace

void registerFileCommands(Herd& herd) {
    addHandler(herd,
               makeHandler("work with files served by herd",
                           "Files under the file root (-filepath, default <base>/files). Paths "
                           "are relative to it\nand may be shell globs (*, ?, [...]); `..` "
                           "cannot leave it, and symbolic links are\nshown as themselves, never "
                           "followed.\n\n"
                           "list: each matching file, or a matching directory's contents "
                           "(directories shown\nas <dir>); with recursive, every file below it. "
                           "Columns: dir, name, size\n(bytes), modified (RFC 3339).\n"
                           "get: succeeds when the file root holds the file (one host: nothing "
                           "to fetch).\ndelete: removes the matches, directories with their "
                           "contents; the root itself is\nemptied.\n"
                           "status: transfers in flight (none on one host).",
                           {"file <list,> [path]", "file <list,> <path> <recursive,>",
                            "file <get,> <file>", "file <delete,> <file>", "file <status,>"},
                           fileCommand));
}

}  // namespace herd
