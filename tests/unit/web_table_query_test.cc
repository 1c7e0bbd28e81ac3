// The web page's table queries: parameters, filter, sort and window.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "web/table_query.h"

namespace herd::web {
namespace {

TableRows sample(int n) {
    TableRows rows;
    for (int i = 0; i < n; ++i) {
        TableRow r;
        r.ns = i % 2 ? "b" : "a";
        r.id = i;
        r.name = "vm-" + std::to_string(i);
        r.state = i % 3 == 0 ? "RUNNING" : "BUILDING";
        r.memory = std::to_string(100 + (i * 37) % 11);
        r.tags = i == 7 ? "{role: Web}" : "{}";
        rows.push_back(r);
    }
    return rows;
}

nlohmann::json slice(const TableRows& rows, const std::map<std::string, std::string>& params) {
    auto q = tableQueryFromParams(params);
    EXPECT_TRUE(q.ok()) << (q.ok() ? "" : q.error().text());
    return nlohmann::json::parse(tableSlice(rows, q.ok() ? *q : TableQuery{}));
}

std::vector<std::string> names(const nlohmann::json& m) {
    std::vector<std::string> out;
    for (const auto& v : m["vms"]) out.push_back(v["name"]);
    return out;
}

TEST(WebTableQuery, WindowAndTotals) {
    auto rows = sample(10);
    auto m = slice(rows, {{"offset", "8"}, {"count", "5"}});
    EXPECT_EQ(m["type"], "vms");
    EXPECT_EQ(m["total"], 10);
    EXPECT_EQ(m["all"], 10);
    EXPECT_EQ(m["running"], 4);  // 0 3 6 9
    EXPECT_EQ(m["offset"], 8);
    EXPECT_EQ(names(m), (std::vector<std::string>{"vm-8", "vm-9"}));
    EXPECT_EQ(m["namespaces"], (nlohmann::json{"a", "b"}));
    // Past the end: an empty window, the totals still there.
    m = slice(rows, {{"offset", "50"}});
    EXPECT_EQ(m["vms"].size(), 0u);
    EXPECT_EQ(m["offset"], 10);
    EXPECT_EQ(m["total"], 10);
}

TEST(WebTableQuery, FilterNarrowsTheTotal) {
    auto rows = sample(10);
    auto m = slice(rows, {{"filter", "state=running"}});
    EXPECT_EQ(m["total"], 4);
    EXPECT_EQ(m["all"], 10);
    m = slice(rows, {{"filter", "RUN vm-6"}});  // every word must match
    EXPECT_EQ(names(m), std::vector<std::string>{"vm-6"});
    m = slice(rows, {{"filter", "tags~web"}});
    EXPECT_EQ(names(m), std::vector<std::string>{"vm-7"});
    m = slice(rows, {{"filter", "namespace=b state=running"}});
    EXPECT_EQ(names(m), (std::vector<std::string>{"vm-3", "vm-9"}));
}

TEST(WebTableQuery, SortNumericThenById) {
    auto rows = sample(12);
    auto m = slice(rows, {{"sort", "memory"}, {"order", "desc"}, {"count", "3"}});
    ASSERT_EQ(m["vms"].size(), 3u);
    EXPECT_EQ(m["vms"][0]["memory"], "110");
    // Names sort as text: vm-10 before vm-2.
    m = slice(rows, {{"sort", "name"}});
    EXPECT_EQ(names(m)[2], "vm-10");
    // Ties keep namespace, then id order.
    m = slice(rows, {{"sort", "state"}});
    EXPECT_EQ(names(m)[0], "vm-2");
    EXPECT_EQ(m["vms"][0]["namespace"], "a");
    EXPECT_EQ(names(m)[1], "vm-4");
}

TEST(WebTableQuery, WindowOrderMatchesAFullSort) {
    auto rows = sample(200);
    auto all = names(slice(rows, {{"sort", "memory"}, {"count", "1000"}}));
    ASSERT_EQ(all.size(), 200u);
    auto part = names(slice(rows, {{"sort", "memory"}, {"offset", "57"}, {"count", "20"}}));
    EXPECT_EQ(part, std::vector<std::string>(all.begin() + 57, all.begin() + 77));
}

TEST(WebTableQuery, BadParametersAreNamed) {
    auto err = [](const std::map<std::string, std::string>& p) {
        auto q = tableQueryFromParams(p);
        return q.ok() ? std::string("ok") : q.error().text();
    };
    EXPECT_EQ(err({{"offset", "-1"}}), "offset: expected a whole number of 0 or more, got \"-1\"");
    EXPECT_EQ(err({{"count", "ten"}}), "count: expected a whole number of 0 or more, got \"ten\"");
    EXPECT_EQ(err({{"order", "up"}}), "order: expected asc or desc, got \"up\"");
    EXPECT_NE(err({{"sort", "nosuch"}}).find("sort: no column `nosuch` (columns: namespace, id"),
              std::string::npos);
    EXPECT_NE(err({{"filter", "bogus=1"}}).find("filter: no column `bogus`"), std::string::npos);
    EXPECT_EQ(err({{"filter", std::string(300, 'x')}}), "filter: 300 bytes, at most 256 allowed");
    EXPECT_NE(err({{"limit", "5"}}).find("unknown parameter \"limit\""), std::string::npos);
    EXPECT_EQ(err({{"token", "t"}, {"namespace", "x"}}), "ok");
}

TEST(WebTableQuery, HugeCountsAreCapped) {
    auto q = tableQueryFromParams({{"count", "99999999999999999999999"}});
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->count, kMaxTableSlice);
    auto j = tableQueryFromJson(nlohmann::json{{"count", 1e300}});
    EXPECT_FALSE(j.ok());  // not a whole number
    j = tableQueryFromJson(nlohmann::json{{"count", 18446744073709551615ULL}, {"offset", 3}});
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j->count, kMaxTableSlice);
    EXPECT_EQ(j->offset, 3u);
    EXPECT_FALSE(tableQueryFromJson(nlohmann::json{{"offset", -2}}).ok());
    EXPECT_FALSE(tableQueryFromJson(nlohmann::json{{"filter", 5}}).ok());
}

TEST(WebTableQuery, WholeTableMessage) {
    auto m = nlohmann::json::parse(tableAll(sample(3)));
    EXPECT_EQ(m["type"], "vms");
    ASSERT_EQ(m["vms"].size(), 3u);
    EXPECT_EQ(m["vms"][2]["name"], "vm-2");
    EXPECT_FALSE(m.contains("total"));
}

}  // namespace
}  // namespace herd::web
