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
    // Every column is resolved before anything changes: on error the caller
    // still holds the batch untouched. Then rows are moved, never copied (a
    // batch may hold 10,000 rows and their Data).
    const bool by_host = f.column == "host";  // not a column: filters whole responses
    std::vector<size_t> cols(batch.size(), 0);
    if (!by_host) {
        for (size_t i = 0; i < batch.size(); ++i) {
            const auto& r = batch[i];
            if (r.header.empty() || r.tabular.empty()) continue;
            auto col = findColumn(r.header, f.column, f.column);
            if (!col.ok()) return col.error();
            cols[i] = *col;
        }
    }
    Batch kept;
    kept.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        Response& r = batch[i];
        if (by_host) {
            if (matches(f, r.host)) kept.push_back(std::move(r));
            continue;
        }
        if (!r.header.empty() && !r.tabular.empty()) {
            const size_t col = cols[i];
            auto rows = std::move(r.tabular);
            r.tabular.clear();
            for (auto& row : rows) {
                if (col < row.size() && matches(f, row[col])) r.tabular.push_back(std::move(row));
            }
        }
        kept.push_back(std::move(r));
    }
    batch = std::move(kept);
    return Ok();
}

Result<void> applyColumns(Batch& batch, std::string_view spec) {
    // As in minicli, the list is shared by the whole batch: once a name is
    // resolved against one response, later responses see the full name.
    // Everything is resolved first (an error leaves the batch untouched),
    // then cells are moved.
    std::vector<std::string> columns = split(spec, ",");
    std::vector<std::vector<size_t>> picks(batch.size());
    std::vector<std::vector<std::string>> headers(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        const auto& r = batch[i];
        if (r.header.empty()) continue;
        if (!r.tabular.empty()) {
            for (auto& col : columns) {
                auto j = findColumn(r.header, col, col, false);
                if (!j.ok()) return j.error();
                col = r.header[*j];
                picks[i].push_back(*j);
            }
        }
        headers[i] = columns;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
        auto& r = batch[i];
        if (r.header.empty()) continue;
        r.header = std::move(headers[i]);
        if (r.tabular.empty()) continue;
        const auto& pick = picks[i];
        // A column picked twice is copied; the last use takes the cell.
        std::vector<size_t> uses;
        for (size_t j : pick) {
            if (j >= uses.size()) uses.resize(j + 1, 0);
            ++uses[j];
        }
        for (auto& row : r.tabular) {
            std::vector<std::string> out(pick.size());
            std::vector<size_t> left = uses;
            for (size_t k = 0; k < pick.size(); ++k) {
                const size_t j = pick[k];
                if (j >= row.size()) continue;
                out[k] = --left[j] == 0 ? std::move(row[j]) : row[j];
            }
            row = std::move(out);
        }
    }
    return Ok();
}

}  // namespace herd::cli
