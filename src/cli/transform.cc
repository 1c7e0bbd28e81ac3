// .filter and .columns, as minicli's builtins apply them to each batch.
#include "cli/transform.h"

#include "base/strings.h"
#include "cli/text.h"

namespace herd::cli {

namespace {

bool wrapped(std::string_view s, char open, char close) {
    return !s.empty() && s.front() == open && s.back() == close;
}

// Case-insensitive; list and object cells (`[...]`, `{...}`) always use
// substring matching.
bool matches(const Filter& f, std::string_view cell) {
    const std::string s = text::toLower(cell);
    const bool fuzzy = f.fuzzy || wrapped(s, '[', ']') || wrapped(s, '{', '}');
    const bool match = s == f.value || (fuzzy && s.find(f.value) != std::string::npos);
    return f.negate != match;
}

// Resolves a column name: an exact match wins, else the one header the name
// is a prefix of. .filter compares case-insensitively (`column` must then be
// lower-case), .columns exactly, as minicli does. `shown` is the name as
// typed, for the error texts.
Result<size_t> findColumn(const std::vector<std::string>& header, const std::string& column,
                          const std::string& shown, bool fold = true) {
    std::optional<size_t> prefixed;
    bool ambiguous = false;
    for (size_t i = 0; i < header.size(); ++i) {
        const std::string h = fold ? text::toLower(header[i]) : header[i];
        if (h == column) return i;
        if (!text::hasPrefix(h, column)) continue;
        if (prefixed) ambiguous = true;
        prefixed = i;
    }
    if (ambiguous) return Error::msg("ambiguous column `" + shown + "`");
    if (prefixed) return *prefixed;
    return Error::msg("no such column `" + shown + "`");
}

}  // namespace

Result<Filter> parseFilter(std::string_view spec) {
    struct Op {
        std::string_view sep;
        bool negate, fuzzy;
    };
    // The negated forms come first so that `a!=b` does not split at `=`.
    static constexpr Op ops[] = {
        {"!~", true, true}, {"~", false, true}, {"!=", true, false}, {"=", false, false}};
    for (const Op& op : ops) {
        auto parts = split(spec, op.sep);
        if (parts.size() != 2) continue;
        Filter f;
        f.column = text::toLower(parts[0]);
        f.value = text::toLower(parts[1]);
        f.negate = op.negate;
        f.fuzzy = op.fuzzy;
        return f;
    }
    return Error::msg("invalid filter, see help");
}

Result<void> applyFilter(Batch& batch, const Filter& f) {
    // Work on a copy: on error the caller still holds the batch untouched.
    Batch kept;
    for (const auto& r : batch) {
        // `host` is not a column of the table: it filters whole responses.
        if (f.column == "host") {
            if (matches(f, r.host)) kept.push_back(r);
            continue;
        }
        if (r.header.empty() || r.tabular.empty()) {
            kept.push_back(r);
            continue;
        }
        auto col = findColumn(r.header, f.column, f.column);
        if (!col.ok()) return col.error();
        Response filtered = r;
        filtered.tabular.clear();
        for (const auto& row : r.tabular) {
            if (*col < row.size() && matches(f, row[*col])) filtered.tabular.push_back(row);
        }
        kept.push_back(std::move(filtered));
    }
    batch = std::move(kept);
    return Ok();
}

Result<void> applyColumns(Batch& batch, std::string_view spec) {
    // As in minicli, the list is shared by the whole batch: once a name is
    // resolved against one response, later responses see the full name.
    std::vector<std::string> columns = split(spec, ",");
    Batch out = batch;
    for (auto& r : out) {
        if (r.header.empty()) continue;
        if (r.tabular.empty()) {
            r.header = columns;
            continue;
        }
        std::vector<std::vector<std::string>> rows(r.tabular.size());
        for (auto& col : columns) {
            auto j = findColumn(r.header, col, col, false);
            if (!j.ok()) return j.error();
            col = r.header[*j];
            for (size_t k = 0; k < r.tabular.size(); ++k) {
                const auto& row = r.tabular[k];
                rows[k].push_back(*j < row.size() ? row[*j] : std::string());
            }
        }
        r.tabular = std::move(rows);
        r.header = columns;
    }
    batch = std::move(out);
    return Ok();
}

}  // namespace herd::cli
