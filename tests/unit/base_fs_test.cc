#include "base/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace herd {
namespace {

namespace stdfs = std::filesystem;

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void put(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

// A private temporary directory, removed afterwards; GetParam() false runs
// every test on the fallback path (no openat2).
class FsTest : public ::testing::TestWithParam<bool> {
  protected:
    void SetUp() override {
        setOpenat2ForTesting(GetParam());
        char tmpl[] = "/tmp/herd-fs-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
        // Outside the directory under test: what a planted link points at.
        ::mkdir((tmp_ + "/outside").c_str(), 0755);
        put(tmp_ + "/outside/victim", "precious");
        ::mkdir((tmp_ + "/d").c_str(), 0700);
        auto d = Dir::open(tmp_ + "/d");
        ASSERT_TRUE(d.ok()) << d.error().text();
        dir_ = std::move(*d);
    }
    void TearDown() override {
        setOpenat2ForTesting(true);
        std::error_code ec;
        stdfs::remove_all(tmp_, ec);
    }
    std::string in(const std::string& rel) const { return tmp_ + "/d/" + rel; }
    void link(const std::string& target, const std::string& rel) const {
        ASSERT_EQ(::symlink(target.c_str(), in(rel).c_str()), 0);
    }

    std::string tmp_;
    Dir dir_;
};

TEST_P(FsTest, WritesAndReadsFiles) {
    ASSERT_TRUE(dir_.writeFile("a", "hello", 0640).ok());
    auto r = dir_.readFile("a", 100);
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_EQ(*r, "hello");
    struct stat st {};
    ASSERT_EQ(::stat(in("a").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u & ~0022u);
    // Past the limit: an error, not a truncated file.
    auto big = dir_.readFile("a", 4);
    ASSERT_FALSE(big.ok());
    EXPECT_EQ(big.error().errnum(), EFBIG);
    EXPECT_NE(big.error().text().find(in("a")), std::string::npos) << big.error().text();
}

TEST_P(FsTest, RefusesSymlinksAnywhere) {
    link(tmp_ + "/outside/victim", "leaf");
    link(tmp_ + "/outside", "sub");
    auto w = dir_.writeFile("leaf", "owned", 0644);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.error().errnum(), ELOOP);
    EXPECT_NE(w.error().text().find("open " + in("leaf")), std::string::npos) << w.error().text();
    EXPECT_FALSE(dir_.writeFile("sub/victim", "owned", 0644).ok());
    EXPECT_FALSE(dir_.readFile("sub/victim", 100).ok());
    EXPECT_FALSE(dir_.openDir("sub").ok());
    EXPECT_FALSE(dir_.makeDirs("sub/x/y", 0700).ok());
    EXPECT_FALSE(dir_.mkfifo("sub/fifo", 0600).ok());
    EXPECT_FALSE(dir_.writeFileAtomic("sub/victim", "owned", 0644).ok());
    EXPECT_EQ(slurp(tmp_ + "/outside/victim"), "precious");
    EXPECT_FALSE(stdfs::exists(tmp_ + "/outside/x"));
    EXPECT_FALSE(stdfs::exists(tmp_ + "/outside/fifo"));
}

TEST_P(FsTest, RefusesPathsOutside) {
    for (const char* rel : {"../outside/victim", "/etc/passwd", "a/../../outside/victim", ""}) {
        auto r = dir_.readFile(rel, 100);
        ASSERT_FALSE(r.ok()) << rel;
        EXPECT_EQ(r.error().errnum(), EXDEV) << rel;
    }
}

TEST_P(FsTest, AtomicWriteReplacesALinkNotItsTarget) {
    link(tmp_ + "/outside/victim", "rec");
    ASSERT_TRUE(dir_.writeFileAtomic("rec", "new", 0600).ok());
    EXPECT_EQ(slurp(tmp_ + "/outside/victim"), "precious");
    EXPECT_EQ(slurp(in("rec")), "new");
    EXPECT_FALSE(stdfs::is_symlink(in("rec")));
    // Nothing left beside it.
    int n = 0;
    for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(tmp_ + "/d")) ++n;
    EXPECT_EQ(n, 1);
}

TEST_P(FsTest, MakesDirectoriesAndFifos) {
    auto d = dir_.makeDirs("x/y/z", 0700);
    ASSERT_TRUE(d.ok()) << d.error().text();
    EXPECT_EQ(d->path(), in("x/y/z"));
    EXPECT_TRUE(stdfs::is_directory(in("x/y/z")));
    EXPECT_TRUE(dir_.mkdir("x", 0700).ok());  // an existing directory is fine
    ASSERT_TRUE(dir_.writeFile("f", "", 0600).ok());
    auto m = dir_.mkdir("f", 0700);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().errnum(), EEXIST);
    link(tmp_ + "/outside", "l");
    EXPECT_FALSE(dir_.mkdir("l", 0700).ok());
    ASSERT_TRUE(dir_.mkfifo("x/fifo", 0600).ok());
    EXPECT_TRUE(dir_.mkfifo("x/fifo", 0600).ok());
    EXPECT_TRUE(S_ISFIFO(dir_.lstat("x/fifo")->st_mode));
    // A FIFO is not read (that would block until a writer came).
    EXPECT_FALSE(dir_.readFile("x/fifo", 10).ok());
}

TEST_P(FsTest, UnlinkRemovesTheLinkItself) {
    link(tmp_ + "/outside/victim", "l");
    ASSERT_TRUE(dir_.unlink("l").ok());
    EXPECT_FALSE(stdfs::exists(in("l")) || stdfs::is_symlink(in("l")));
    EXPECT_EQ(slurp(tmp_ + "/outside/victim"), "precious");
    EXPECT_TRUE(dir_.unlink("l").ok());           // missing: fine
    EXPECT_TRUE(dir_.unlink("nodir/file").ok());  // missing parent: fine
}

TEST_P(FsTest, RemoveTreeFollowsNoLink) {
    ASSERT_TRUE(dir_.makeDirs("t/upper/etc", 0755).ok());
    ASSERT_TRUE(dir_.writeFile("t/upper/etc/f", "x", 0644).ok());
    ASSERT_TRUE(dir_.mkfifo("t/fifo0", 0600).ok());
    link(tmp_ + "/outside/victim", "t/upper/victim-link");
    link(tmp_ + "/outside", "t/upper/dir-link");
    link(tmp_ + "/outside", "t/upper/etc/deeper-link");
    ASSERT_TRUE(dir_.removeTree("t").ok());
    EXPECT_FALSE(stdfs::exists(in("t")));
    EXPECT_EQ(slurp(tmp_ + "/outside/victim"), "precious");
    EXPECT_TRUE(dir_.removeTree("t").ok());  // missing: fine
    // A top that is a link: the link goes, its target stays.
    link(tmp_ + "/outside", "top-link");
    ASSERT_TRUE(dir_.removeTree("top-link").ok());
    EXPECT_EQ(slurp(tmp_ + "/outside/victim"), "precious");
    // Through a linked directory: refused.
    link(tmp_ + "/outside", "via");
    EXPECT_FALSE(dir_.removeTree("via/victim").ok());
    EXPECT_EQ(slurp(tmp_ + "/outside/victim"), "precious");
}

TEST_P(FsTest, RemoveTreeHandlesDeepTrees) {
    // Deeper than PATH_MAX allows as one path, made with descriptors.
    ASSERT_EQ(::mkdir(in("deep").c_str(), 0700), 0);
    int fd = ::open(in("deep").c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd, 0);
    const std::string name(200, 'n');
    for (int i = 0; i < 300; ++i) {
        ASSERT_EQ(::mkdirat(fd, name.c_str(), 0700), 0);
        int nfd = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY);
        ::close(fd);
        ASSERT_GE(nfd, 0);
        fd = nfd;
        if (i % 50 == 0) {
            ASSERT_EQ(::symlinkat((tmp_ + "/outside").c_str(), fd, "l"), 0);
        }
    }
    ::close(fd);
    auto r = dir_.removeTree("deep");
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_FALSE(stdfs::exists(in("deep")));
    EXPECT_EQ(slurp(tmp_ + "/outside/victim"), "precious");
}

TEST_P(FsTest, ReadsTheNumberOfAKernelFile) {
    put(in("n"), "40\n");
    auto n = readNumberFile(in("n"), 63);
    ASSERT_TRUE(n.ok()) << n.error().text();
    EXPECT_EQ(*n, 40u);
}

TEST_P(FsTest, ANumberFileWithJunkIsAnErrorNamingIt) {
    put(in("n"), "max\n");
    auto n = readNumberFile(in("n"), 63);
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.error().text(), in("n") + " \"max\": not a number (allowed: 0 to 63)");
    EXPECT_EQ(n.error().errnum(), 0);
    put(in("n"), "64\n");
    n = readNumberFile(in("n"), 63);
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.error().text(), in("n") + " 64: out of range (allowed: 0 to 63)");
    put(in("n"), std::string(100, '1'));
    n = readNumberFile(in("n"), UINT64_MAX);
    ASSERT_FALSE(n.ok());
    EXPECT_NE(n.error().text().find(in("n")), std::string::npos) << n.error().text();
    // A missing file is the open error.
    n = readNumberFile(in("none"), 63);
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.error().errnum(), ENOENT);
}

INSTANTIATE_TEST_SUITE_P(Openat2, FsTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "openat2" : "fallback"; });

class PrivateDirTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/herd-fs-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        stdfs::remove_all(tmp_, ec);
    }
    std::string tmp_;
};

TEST_F(PrivateDirTest, CreatesAFreshDirectory0700) {
    ::umask(077);
    auto d = openPrivateDir(tmp_ + "/a/b/base", 0700, true, "base directory");
    ::umask(022);
    ASSERT_TRUE(d.ok()) << d.error().text();
    struct stat st {};
    ASSERT_EQ(::stat((tmp_ + "/a/b/base").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    ASSERT_EQ(::stat((tmp_ + "/a").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    // Opening it again is fine; without `create` a missing one is ENOENT.
    EXPECT_TRUE(openPrivateDir(tmp_ + "/a/b/base", 0700, false, "base directory").ok());
    auto missing = openPrivateDir(tmp_ + "/nope", 0700, false, "base directory");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().errnum(), ENOENT);
}

TEST_F(PrivateDirTest, RefusesWritableBySomeoneElse) {
    ASSERT_EQ(::mkdir((tmp_ + "/base").c_str(), 0700), 0);
    ASSERT_EQ(::chmod((tmp_ + "/base").c_str(), 0777), 0);
    auto d = openPrivateDir(tmp_ + "/base", 0700, true, "base directory");
    ASSERT_FALSE(d.ok());
    const std::string& t = d.error().text();
    EXPECT_NE(t.find("base directory " + tmp_ + "/base is not safe"), std::string::npos) << t;
    EXPECT_NE(t.find("mode 0777"), std::string::npos) << t;
    EXPECT_NE(t.find("chmod 0700"), std::string::npos) << t;
}

TEST_F(PrivateDirTest, RefusesASymlink) {
    ASSERT_EQ(::mkdir((tmp_ + "/real").c_str(), 0700), 0);
    ASSERT_EQ(::symlink((tmp_ + "/real").c_str(), (tmp_ + "/base").c_str()), 0);
    auto d = openPrivateDir(tmp_ + "/base", 0700, true, "base directory");
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().text().find("is a symbolic link (to " + tmp_ + "/real)"), std::string::npos)
        << d.error().text();
}

TEST_F(PrivateDirTest, FollowsRootsLinksAboveIt) {
    ASSERT_EQ(::mkdir((tmp_ + "/real").c_str(), 0755), 0);
    ASSERT_EQ(::symlink("real", (tmp_ + "/alias").c_str()), 0);
    auto d = openPrivateDir(tmp_ + "/alias/base", 0700, true, "base directory");
    ASSERT_TRUE(d.ok()) << d.error().text();
    EXPECT_TRUE(stdfs::is_directory(tmp_ + "/real/base"));
}

TEST_F(PrivateDirTest, ChecksAncestors) {
    const std::string open_dir = tmp_ + "/open";
    ASSERT_EQ(::mkdir(open_dir.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
    auto d = openPrivateDir(open_dir + "/base", 0700, true, "base directory");
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().text().find(open_dir + " above it"), std::string::npos) << d.error().text();
    EXPECT_FALSE(stdfs::exists(open_dir + "/base")) << "made nothing in an unsafe place";
    // Sticky, as /tmp: fine.
    ASSERT_EQ(::chmod(open_dir.c_str(), 01777), 0);
    EXPECT_TRUE(openPrivateDir(open_dir + "/base", 0700, true, "base directory").ok());
}

TEST_F(PrivateDirTest, RefusesAnotherUsersDirectories) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
    const std::string theirs = tmp_ + "/theirs";
    ASSERT_EQ(::mkdir(theirs.c_str(), 0755), 0);
    ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
    auto above = openPrivateDir(theirs + "/base", 0700, true, "base directory");
    ASSERT_FALSE(above.ok());
    EXPECT_NE(above.error().text().find("owner uid 65534"), std::string::npos)
        << above.error().text();
    auto self = openPrivateDir(theirs, 0700, true, "base directory");
    ASSERT_FALSE(self.ok());
    EXPECT_NE(self.error().text().find("owner uid 65534"), std::string::npos)
        << self.error().text();
    // A link above it owned by someone else: they could repoint it.
    ASSERT_EQ(::mkdir((tmp_ + "/real").c_str(), 0755), 0);
    ASSERT_EQ(::symlink("real", (tmp_ + "/alias").c_str()), 0);
    ASSERT_EQ(::lchown((tmp_ + "/alias").c_str(), 65534, 65534), 0);
    auto linked = openPrivateDir(tmp_ + "/alias/base", 0700, true, "base directory");
    ASSERT_FALSE(linked.ok());
    EXPECT_NE(linked.error().text().find("symbolic link owned by uid 65534"), std::string::npos)
        << linked.error().text();
}

}  // namespace
}  // namespace herd
