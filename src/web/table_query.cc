#include "web/table_query.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <numeric>
#include <optional>
#include <set>
#include <string_view>

namespace herd::web {

namespace {

using Cell = std::string TableRow::*;

// Every column but id, which is a number.
const std::map<std::string, Cell, std::less<>>& textColumns() {
    static const std::map<std::string, Cell, std::less<>> cols = {
        {"namespace", &TableRow::ns},  {"name", &TableRow::name},     {"state", &TableRow::state},
        {"uptime", &TableRow::uptime}, {"memory", &TableRow::memory}, {"vcpus", &TableRow::vcpus},
        {"cpu", &TableRow::cpu},       {"vlan", &TableRow::vlan},     {"ip", &TableRow::ip},
        {"ip6", &TableRow::ip6},       {"tags", &TableRow::tags},
    };
    return cols;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string cellOf(const TableRow& r, std::string_view column) {
    if (column == "id") return std::to_string(r.id);
    return r.*(textColumns().find(column)->second);
}

std::string allowedColumns() {
    std::string out;
    for (const auto& c : tableColumns()) out += (out.empty() ? "" : ", ") + c;
    return out;
}

// One word of a filter.
struct Term {
    std::string column;  // "" = any of the searched columns
    std::string value;   // lower case
    bool exact = false;
};

Result<std::vector<Term>> parseFilter(std::string_view filter) {
    std::vector<Term> terms;
    size_t i = 0;
    while (i < filter.size()) {
        while (i < filter.size() && (filter[i] == ' ' || filter[i] == '\t')) ++i;
        size_t end = i;
        while (end < filter.size() && filter[end] != ' ' && filter[end] != '\t') ++end;
        if (end == i) break;
        std::string_view word = filter.substr(i, end - i);
        i = end;
        Term t;
        size_t op = word.find_first_of("=~");
        if (op == std::string_view::npos || op == 0) {
            t.value = lower(word);
        } else {
            t.column = lower(word.substr(0, op));
            t.exact = word[op] == '=';
            t.value = lower(word.substr(op + 1));
            const auto& cols = tableColumns();
            if (std::find(cols.begin(), cols.end(), t.column) == cols.end()) {
                return Error::msg(fmt::format("filter: no column `{}` (columns: {})", t.column,
                                              allowedColumns()));
            }
        }
        terms.push_back(std::move(t));
    }
    return terms;
}

bool matches(const TableRow& r, const Term& t) {
    if (!t.column.empty()) {
        std::string cell = lower(cellOf(r, t.column));
        return t.exact ? cell == t.value : cell.find(t.value) != std::string::npos;
    }
    static const char* searched[] = {"namespace", "id", "name", "state",
                                     "vlan",      "ip", "ip6",  "tags"};
    for (const char* c : searched)
        if (lower(cellOf(r, c)).find(t.value) != std::string::npos) return true;
    return false;
}

std::optional<double> number(const std::string& s) {
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

// An unsigned decimal number; a very long one saturates (counts are capped
// anyway).
Result<size_t> count(std::string_view name, std::string_view s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) {
        return Error::msg(fmt::format("{}: expected a whole number of 0 or more, got {:?}", name,
                                      std::string(s.substr(0, 40))));
    }
    if (s.size() > 12) return size_t{1000000000000};
    size_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

Result<TableQuery> finish(TableQuery q) {
    if (q.filter.size() > kMaxTableFilter) {
        return Error::msg(
            fmt::format("filter: {} bytes, at most {} allowed", q.filter.size(), kMaxTableFilter));
    }
    if (auto f = parseFilter(q.filter); !f.ok()) return f.error();
    const auto& cols = tableColumns();
    if (std::find(cols.begin(), cols.end(), q.sort) == cols.end()) {
        return Error::msg(fmt::format("sort: no column `{}` (columns: {})",
                                      std::string(q.sort.substr(0, 40)), allowedColumns()));
    }
    q.count = std::min(q.count, kMaxTableSlice);
    return q;
}

Result<bool> order(std::string_view s) {
    if (s == "asc") return false;
    if (s == "desc") return true;
    return Error::msg(
        fmt::format("order: expected asc or desc, got {:?}", std::string(s.substr(0, 40))));
}

nlohmann::ordered_json rowJson(const TableRow& r) {
    return {{"namespace", r.ns},  {"id", r.id},         {"name", r.name},   {"state", r.state},
            {"uptime", r.uptime}, {"memory", r.memory}, {"vcpus", r.vcpus}, {"cpu", r.cpu},
            {"vlan", r.vlan},     {"ip", r.ip},         {"ip6", r.ip6},     {"tags", r.tags}};
}

std::string dump(const nlohmann::ordered_json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

const std::vector<std::string>& tableColumns() {
    static const std::vector<std::string> cols = {"namespace", "id",     "name",  "state",
                                                  "uptime",    "memory", "vcpus", "cpu",
                                                  "vlan",      "ip",     "ip6",   "tags"};
    return cols;
}

Result<TableQuery> tableQueryFromParams(const std::map<std::string, std::string>& params) {
    TableQuery q;
    for (const auto& [k, v] : params) {
        if (k == "token" || k == "namespace") continue;  // the server's own
        if (k == "filter") {
            q.filter = v;
        } else if (k == "sort") {
            q.sort = v;
        } else if (k == "order") {
            auto o = order(v);
            if (!o.ok()) return o.error();
            q.desc = *o;
        } else if (k == "offset" || k == "count") {
            auto n = count(k, v);
            if (!n.ok()) return n.error();
            (k == "offset" ? q.offset : q.count) = *n;
        } else {
            return Error::msg(
                fmt::format("unknown parameter {:?} (allowed: filter, sort, order, offset, count)",
                            std::string(k.substr(0, 40))));
        }
    }
    return finish(std::move(q));
}

Result<TableQuery> tableQueryFromJson(const nlohmann::json& msg) {
    TableQuery q;
    auto str = [&](const char* key, std::string& out) -> Result<void> {
        auto it = msg.find(key);
        if (it == msg.end()) return Ok();
        if (!it->is_string()) return Error::msg(fmt::format("{}: expected a string", key));
        out = it->get<std::string>();
        return Ok();
    };
    auto num = [&](const char* key, size_t& out) -> Result<void> {
        auto it = msg.find(key);
        if (it == msg.end()) return Ok();
        if (it->is_number_unsigned()) {
            out = static_cast<size_t>(std::min<uint64_t>(it->get<uint64_t>(), 1000000000000));
            return Ok();
        }
        if (it->is_number_integer() && it->get<int64_t>() >= 0) {
            out = static_cast<size_t>(it->get<int64_t>());
            return Ok();
        }
        return Error::msg(fmt::format("{}: expected a whole number of 0 or more", key));
    };
    std::string ord = "asc";
    for (auto r : {str("filter", q.filter), str("sort", q.sort), str("order", ord),
                   num("offset", q.offset), num("count", q.count)}) {
        if (!r.ok()) return r.error();
    }
    auto o = order(ord);
    if (!o.ok()) return o.error();
    q.desc = *o;
    return finish(std::move(q));
}

std::string tableSlice(const TableRows& rows, const TableQuery& q) {
    auto terms = parseFilter(q.filter);
    std::vector<Term> filter = terms.ok() ? std::move(*terms) : std::vector<Term>{};
    std::vector<const TableRow*> hits;
    std::set<std::string> namespaces;
    size_t running = 0;
    for (const auto& r : rows) {
        namespaces.insert(r.ns);
        if (r.state == "RUNNING") ++running;
        if (std::all_of(filter.begin(), filter.end(), [&](const Term& t) { return matches(r, t); }))
            hits.push_back(&r);
    }
    // Sort keys once per row, not once per comparison.
    struct Key {
        const TableRow* row;
        std::string text;
        std::optional<double> num;
    };
    std::vector<Key> keys;
    keys.reserve(hits.size());
    for (const TableRow* r : hits) {
        if (q.sort == "id") {
            keys.push_back({r, {}, static_cast<double>(r->id)});
        } else {
            std::string text = cellOf(*r, q.sort);
            auto n = number(text);
            keys.push_back({r, std::move(text), n});
        }
    }
    auto less = [&](const Key& a, const Key& b) {
        if (a.num && b.num) {
            if (*a.num != *b.num) return q.desc ? *a.num > *b.num : *a.num < *b.num;
        } else if (a.text != b.text) {
            return q.desc ? a.text > b.text : a.text < b.text;
        }
        if (a.row->ns != b.row->ns) return a.row->ns < b.row->ns;
        return a.row->id < b.row->id;
    };
    const size_t begin = std::min(q.offset, keys.size());
    const size_t end = begin + std::min(q.count, keys.size() - begin);
    // Only the window needs its order: the rows before it only need to be
    // before it.
    std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(begin), keys.end(),
                     less);
    std::partial_sort(keys.begin() + static_cast<std::ptrdiff_t>(begin),
                      keys.begin() + static_cast<std::ptrdiff_t>(end), keys.end(), less);
    nlohmann::ordered_json vms = nlohmann::ordered_json::array();
    for (size_t i = begin; i < end; ++i) vms.push_back(rowJson(*keys[i].row));
    nlohmann::ordered_json msg = {
        {"type", "vms"},   {"total", hits.size()},     {"all", rows.size()},   {"running", running},
        {"offset", begin}, {"namespaces", namespaces}, {"vms", std::move(vms)}};
    return dump(msg);
}

std::string tableAll(const TableRows& rows) {
    nlohmann::ordered_json vms = nlohmann::ordered_json::array();
    for (const auto& r : rows) vms.push_back(rowJson(r));
    nlohmann::ordered_json msg = {{"type", "vms"}, {"vms", std::move(vms)}};
    return dump(msg);
}

}  // namespace herd::web
