// The web page's VM table on the server side: the rows of one refresh, and
// the slice of them one page asks for (filter, sort column, window). The page
// renders only the rows on screen, so a 10,000-VM table costs it a few dozen
// rows per message; filtering and sorting happen here. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"

namespace herd::web {

// One VM as the page shows it (cells as `vm info` prints them).
struct TableRow {
    std::string ns;
    int64_t id = 0;
    std::string name, state, uptime, memory, vcpus, cpu, vlan, ip, ip6, tags;
};
using TableRows = std::vector<TableRow>;

// The most rows one answer carries: a bigger count is cut to this.
inline constexpr size_t kMaxTableSlice = 1000;
inline constexpr size_t kDefaultTableSlice = 100;
inline constexpr size_t kMaxTableFilter = 256;  // bytes

// What a page asks to see. `filter`: words separated by spaces, each of
// which must match the row: `column=value` matches that column exactly,
// `column~value` as a substring, a bare word as a substring of any shown
// column; all case-insensitive. Sorting is by `sort` (numerically where both
// cells are numbers), then by namespace and id.
struct TableQuery {
    std::string filter;
    std::string sort = "id";
    bool desc = false;
    size_t offset = 0;
    size_t count = kDefaultTableSlice;
};

// From an HTTP query (`filter`, `sort`, `order`=asc|desc, `offset`,
// `count`; all optional) or a WebSocket message's members of the same names
// (`offset` and `count` as numbers there). Errors name the parameter, what
// was wrong and what is allowed.
Result<TableQuery> tableQueryFromParams(const std::map<std::string, std::string>& params);
Result<TableQuery> tableQueryFromJson(const nlohmann::json& msg);

// The columns `sort` and `column=value` accept.
const std::vector<std::string>& tableColumns();

// The {"type":"vms"} message for a query: the rows of the window, and
// `total` (rows matching the filter), `all` and `running` (every row),
// `offset`, `namespaces` (sorted, every row's). The filter was validated
// when the query was made.
std::string tableSlice(const TableRows& rows, const TableQuery& q);
// The whole table, for clients that never sent a query: {"type":"vms",
// "vms":[every row]} (the message before queries existed).
std::string tableAll(const TableRows& rows);

}  // namespace herd::web
