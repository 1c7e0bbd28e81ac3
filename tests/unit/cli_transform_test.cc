// .filter and .columns (reference §2.5), as minicli's builtins.
#include <gtest/gtest.h>

#include "cli/response.h"
#include "cli/transform.h"

namespace herd::cli {
namespace {

using Rows = std::vector<std::vector<std::string>>;

Response vms(std::string host, Rows rows) {
    Response r;
    r.host = std::move(host);
    r.header = {"id", "name", "state", "tags"};
    r.tabular = std::move(rows);
    return r;
}

Batch sample() {
    return {vms("h1", {{"0", "foo", "RUNNING", "{}"},
                       {"1", "bar", "BUILDING", "{\"role\":\"web\"}"},
                       {"2", "foobar", "RUNNING", "[a b]"}})};
}

Filter mustParse(std::string_view spec) {
    auto f = parseFilter(spec);
    EXPECT_TRUE(f.ok()) << spec;
    return f.ok() ? *f : Filter{};
}

std::vector<std::string> column(const Batch& b, size_t col) {
    std::vector<std::string> out;
    for (const auto& r : b) {
        for (const auto& row : r.tabular) out.push_back(row.at(col));
    }
    return out;
}

using V = std::vector<std::string>;

TEST(CliFilter, ParseOperators) {
    Filter f = mustParse("State=RUNNING");
    EXPECT_EQ(f.column, "state");
    EXPECT_EQ(f.value, "running");
    EXPECT_FALSE(f.negate);
    EXPECT_FALSE(f.fuzzy);

    f = mustParse("state!=running");
    EXPECT_TRUE(f.negate);
    EXPECT_FALSE(f.fuzzy);

    f = mustParse("name~foo");
    EXPECT_TRUE(f.fuzzy);
    EXPECT_FALSE(f.negate);

    f = mustParse("name!~foo");
    EXPECT_TRUE(f.fuzzy);
    EXPECT_TRUE(f.negate);

    // `~` is tried before `=`, so the value may hold `=`.
    f = mustParse("tags~role=web");
    EXPECT_EQ(f.column, "tags");
    EXPECT_EQ(f.value, "role=web");

    f = mustParse("name=");
    EXPECT_EQ(f.value, "");
}

TEST(CliFilter, ParseErrors) {
    for (const char* bad : {"state", "a=b=c", "a~b~c", ""}) {
        auto f = parseFilter(bad);
        ASSERT_FALSE(f.ok()) << bad;
        EXPECT_EQ(f.error().text(), "invalid filter, see help");
    }
}

TEST(CliFilter, EqualityIsCaseInsensitive) {
    Batch b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("state=running")).ok());
    EXPECT_EQ(column(b, 1), (V{"foo", "foobar"}));
}

TEST(CliFilter, NegationAndSubstring) {
    Batch b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("state!=RUNNING")).ok());
    EXPECT_EQ(column(b, 1), V{"bar"});

    b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("name~OO")).ok());
    EXPECT_EQ(column(b, 1), (V{"foo", "foobar"}));

    b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("name!~bar")).ok());
    EXPECT_EQ(column(b, 1), V{"foo"});

    // `=` is exact for plain cells.
    b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("name=fo")).ok());
    EXPECT_TRUE(column(b, 1).empty());
}

TEST(CliFilter, ListAndObjectCellsUseSubstring) {
    Batch b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("tags=web")).ok());
    EXPECT_EQ(column(b, 1), V{"bar"});

    b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("tags=a")).ok());
    EXPECT_EQ(column(b, 1), V{"foobar"});

    b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("tags!=web")).ok());
    EXPECT_EQ(column(b, 1), (V{"foo", "foobar"}));
}

TEST(CliFilter, ColumnPrefixResolution) {
    Batch b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("sta=building")).ok());
    EXPECT_EQ(column(b, 1), V{"bar"});

    Response r;
    r.host = "h";
    r.header = {"name", "namespace"};
    r.tabular = {{"a", "x"}, {"b", "y"}};
    Batch amb{r};
    auto e = applyFilter(amb, mustParse("nam=a"));
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().text(), "ambiguous column `nam`");
    // The batch is left as it was on error.
    EXPECT_EQ(amb[0].tabular.size(), 2u);

    // An exact name wins over the longer names it prefixes, wherever it is.
    Batch exact{r};
    ASSERT_TRUE(applyFilter(exact, mustParse("NAME=a")).ok());
    EXPECT_EQ(column(exact, 0), V{"a"});
    r.header = {"namea", "nameb", "name"};
    r.tabular = {{"1", "2", "a"}, {"3", "4", "b"}};
    Batch later{r};
    ASSERT_TRUE(applyFilter(later, mustParse("name=b")).ok());
    EXPECT_EQ(column(later, 2), V{"b"});
}

TEST(CliFilter, NoSuchColumn) {
    Batch b = sample();
    auto e = applyFilter(b, mustParse("Color=red"));
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().text(), "no such column `color`");
}

TEST(CliFilter, HostFiltersWholeResponses) {
    Response s1;
    s1.host = "h1";
    s1.response = "one";
    Response s2 = s1;
    s2.host = "h2";
    Batch b{s1, s2, vms("h2", {{"0", "x", "RUNNING", "{}"}})};
    ASSERT_TRUE(applyFilter(b, mustParse("host=H2")).ok());
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(b[0].response, "one");
    EXPECT_EQ(b[0].host, "h2");
    EXPECT_EQ(b[1].tabular.size(), 1u);
}

TEST(CliFilter, NonTabularPassesUnchanged) {
    Response s;
    s.host = "h1";
    s.response = "text";
    Response empty;
    empty.host = "h1";
    empty.header = {"a"};
    Batch b{s, empty};
    ASSERT_TRUE(applyFilter(b, mustParse("zzz=1")).ok());
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(b[0].response, "text");
}

TEST(CliFilter, StackedFilters) {
    Batch b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("state=running")).ok());
    ASSERT_TRUE(applyFilter(b, mustParse("name!=foo")).ok());
    EXPECT_EQ(column(b, 1), V{"foobar"});
}

TEST(CliColumns, KeepAndReorder) {
    Batch b = sample();
    ASSERT_TRUE(applyColumns(b, "state,name").ok());
    EXPECT_EQ(b[0].header, (V{"state", "name"}));
    EXPECT_EQ(b[0].tabular[0], (V{"RUNNING", "foo"}));
    Flags f;
    f.annotate = false;
    EXPECT_EQ(render(b, f), "state    | name\nBUILDING | bar\nRUNNING  | foo\nRUNNING  | foobar");
}

TEST(CliColumns, PrefixesShowFullNames) {
    Batch b = sample();
    ASSERT_TRUE(applyColumns(b, "na,st").ok());
    EXPECT_EQ(b[0].header, (V{"name", "state"}));
    EXPECT_EQ(b[0].tabular[1], (V{"bar", "BUILDING"}));
}

TEST(CliColumns, NamesAreCaseSensitive) {
    // minicli's .columns compares names exactly (unlike .filter).
    Batch b = sample();
    auto e = applyColumns(b, "NAME");
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().text(), "no such column `NAME`");
}

TEST(CliColumns, Errors) {
    Batch b = sample();
    auto e = applyColumns(b, "name,nosuch");
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().text(), "no such column `nosuch`");
    EXPECT_EQ(b[0].header.size(), 4u);  // untouched

    Response r;
    r.host = "h";
    r.header = {"name", "namespace"};
    r.tabular = {{"a", "x"}};
    Batch amb{r};
    e = applyColumns(amb, "nam");
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().text(), "ambiguous column `nam`");
}

TEST(CliColumns, HeaderWithoutRowsTakesTheList) {
    Response r;
    r.host = "h";
    r.header = {"id", "name", "state"};
    Batch b{r};
    ASSERT_TRUE(applyColumns(b, "na,st").ok());
    EXPECT_EQ(b[0].header, (V{"na", "st"}));
}

TEST(CliColumns, RepeatedAndShortRows) {
    // A column asked for twice appears twice (its cells are moved, not
    // copied, except for the repeats); a row shorter than the header gets
    // empty cells.
    Batch b = sample();
    b[0].tabular[1].resize(2);
    ASSERT_TRUE(applyColumns(b, "name,state,name").ok());
    EXPECT_EQ(b[0].header, (V{"name", "state", "name"}));
    EXPECT_EQ(b[0].tabular[0], (V{"foo", "RUNNING", "foo"}));
    EXPECT_EQ(b[0].tabular[1], (V{"bar", "", "bar"}));
}

TEST(CliColumns, MixedBatchResolvesInOrder) {
    // An empty table before a full one takes the names as typed; the ones
    // after it see the names the full one resolved.
    Response empty;
    empty.host = "h0";
    empty.header = {"id", "name", "state", "tags"};
    Batch b{empty, sample()[0], empty};
    ASSERT_TRUE(applyColumns(b, "na").ok());
    EXPECT_EQ(b[0].header, V{"na"});
    EXPECT_EQ(b[1].header, V{"name"});
    EXPECT_EQ(b[2].header, V{"name"});
}

TEST(CliFilter, ErrorLeavesBatchUntouched) {
    Response other;
    other.host = "h2";
    other.header = {"x"};
    other.tabular = {{"1"}};
    Batch b{sample()[0], other};
    auto e = applyFilter(b, mustParse("state=running"));
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(b[0].tabular.size(), 3u);
    EXPECT_EQ(b[1].tabular.size(), 1u);
}

TEST(CliColumns, OrderOfDotCommandsMatters) {
    // `.columns name,state .filter tags=web cmd` works...
    Batch b = sample();
    ASSERT_TRUE(applyFilter(b, mustParse("tags=web")).ok());
    ASSERT_TRUE(applyColumns(b, "name,state").ok());
    EXPECT_EQ(column(b, 0), V{"bar"});
    // ...`.filter tags=web .columns name,state cmd` does not.
    Batch c = sample();
    ASSERT_TRUE(applyColumns(c, "name,state").ok());
    auto e = applyFilter(c, mustParse("tags=web"));
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().text(), "no such column `tags`");
}

}  // namespace
}  // namespace herd::cli
