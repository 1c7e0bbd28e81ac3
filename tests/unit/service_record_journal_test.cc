// The record journal (service/record_journal.h): last line wins, drops
// remove, a torn last line is skipped, compaction keeps exactly what is
// live, and a crash's temporary files are cleaned up.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "service/record_journal.h"

using namespace herd;

namespace {

class Journal : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/herd-journal-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        path_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(path_); }

    RecordJournal open() {
        auto d = Dir::open(path_);
        EXPECT_TRUE(d.ok());
        auto j = RecordJournal::open(std::move(*d));
        EXPECT_TRUE(j.ok()) << j.error().text();
        return std::move(*j);
    }
    std::string text() const {
        std::ifstream f(path_ + "/journal");
        std::stringstream s;
        s << f.rdbuf();
        return s.str();
    }
    void append(const std::string& t) const {
        std::ofstream f(path_ + "/journal", std::ios::app);
        f << t;
    }

    std::string path_;
};

TEST_F(Journal, LastLineWinsAndDropsRemove) {
    {
        auto j = open();
        ASSERT_TRUE(j.put(1, R"({"id":1,"v":"a"})").ok());
        ASSERT_TRUE(j.put(2, R"({"id":2,"v":"b"})").ok());
        ASSERT_TRUE(j.put(1, R"({"id":1,"v":"c"})").ok());
        ASSERT_TRUE(j.put(3, R"({"id":3,"v":"d"})").ok());
        ASSERT_TRUE(j.drop(2).ok());
        ASSERT_TRUE(j.sync().ok());
    }
    auto j = open();
    ASSERT_EQ(j.loaded().size(), 2u);
    EXPECT_EQ(j.loaded().at(1), R"({"id":1,"v":"c"})");
    EXPECT_EQ(j.loaded().at(3), R"({"id":3,"v":"d"})");
    EXPECT_EQ(j.skipped(), 0u);
    // Opening compacted it: exactly the live lines.
    EXPECT_EQ(text(), "{\"id\":1,\"v\":\"c\"}\n{\"id\":3,\"v\":\"d\"}\n");
}

TEST_F(Journal, TornAndGarbledLinesAreSkipped) {
    {
        auto j = open();
        ASSERT_TRUE(j.put(1, R"({"id":1,"v":"a"})").ok());
    }
    append("not json\n[1,2]\n{\"noid\":1}\n{\"id\":1,\"v\":\"tor");  // a crash mid-write
    auto j = open();
    ASSERT_EQ(j.loaded().size(), 1u);
    EXPECT_EQ(j.loaded().at(1), R"({"id":1,"v":"a"})");
    EXPECT_EQ(j.skipped(), 4u);
}

TEST_F(Journal, CompactionKeepsWhatIsLive) {
    auto j = open();
    const std::string big(1000, 'x');
    size_t n = 0;
    while (!j.wantsCompaction()) {
        ASSERT_TRUE(j.put(7, R"({"id":7,"pad":")" + big + R"("})").ok());
        ASSERT_LT(++n, 100000u);
    }
    EXPECT_GT(n, 8000u);  // not before 8 MiB
    ASSERT_TRUE(j.compact({{7, R"({"id":7,"v":"now"})"}}).ok());
    EXPECT_FALSE(j.wantsCompaction());
    EXPECT_EQ(text(), "{\"id\":7,\"v\":\"now\"}\n");
    ASSERT_TRUE(j.put(8, R"({"id":8})").ok());
    EXPECT_EQ(text(), "{\"id\":7,\"v\":\"now\"}\n{\"id\":8}\n");
}

TEST_F(Journal, ACrashedCompactionsFileGoes) {
    { std::ofstream(path_ + "/.journal.tmp.1.0") << "half"; }
    auto j = open();
    EXPECT_FALSE(std::filesystem::exists(path_ + "/.journal.tmp.1.0"));
    EXPECT_TRUE(j.loaded().empty());
}

}  // namespace
