// runtime::Container's host side up to the clone, in a temporary base with a
// fake switch: the instance directory and its files, the overlay's
// directories, fifos, volume directories, the console, the NICs' names and
// switch plans, the record, and what flush removes. No cgroup, no clone.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "runtime/container.h"

using namespace herd;
using namespace herd::runtime;

namespace {

class FakeSwitch : public SwitchBackend {
  public:
    std::string_view kind() const override { return "fake"; }
    Result<PortPlan> prepare(const std::string& bridge, int vlan) override {
        return PortPlan{0, "sw-" + bridge, vlan};
    }
    Result<void> attach(Netlink&, const std::string&, const PortPlan&) override { return Ok(); }
    Result<void> detach(Netlink&, const std::string&) override { return Ok(); }
    Result<void> shutdown() override { return Ok(); }
    void forget() override {}
    std::vector<SwitchInfo> switches() const override { return {}; }
};

std::string readText(const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

mode_t modeOf(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
}

class ContainerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/herd-container-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        std::filesystem::create_directories(base_ + "/rootfs");
        auto d = Dir::open(base_);
        ASSERT_TRUE(d.ok());
        dir_ = std::move(*d);
        host_.base = &dir_;
        host_.plan = {base_, "tp", 100, false};
        host_.net = &switch_;
        host_.io = &io_;
        auto cd = Dir::open(base_);
        ASSERT_TRUE(cd.ok());
        auto l = ConsoleListener::create(io_, std::make_shared<const Dir>(std::move(*cd)));
        ASSERT_TRUE(l.ok()) << l.error().text();
        consoles_ = *l;
        host_.consoles = consoles_.get();
    }
    void TearDown() override {
        consoles_->close();
        io_.poll();
        std::filesystem::remove_all(base_);
    }

    // What a viewer that sends `line` to the console socket gets within a
    // second (the guest writes nothing here: a viewer gets nothing, an
    // unknown VM one line).
    std::string viewerGets(const std::string& line) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s/console", base_.c_str());
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        EXPECT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
        std::string got;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        while (std::chrono::steady_clock::now() < deadline) {
            io_.run_one_for(std::chrono::milliseconds(5));
            char buf[256];
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0) got.append(buf, static_cast<size_t>(n));
            if (n == 0) break;
        }
        ::close(fd);
        return got;
    }

    ContainerSpec spec() const {
        ContainerSpec s;
        s.id = 5;
        s.name = "web";
        s.uuid = "0b0e2d1c-0000-4000-8000-000000000005";
        s.hostname = "web";
        s.filesystem = base_ + "/rootfs";
        s.fifos = 2;
        s.volumes = {{base_ + "/vol/a", "/data"}};
        s.init = {"/init"};
        s.nics = {{"00:16:3e:00:00:05", "mega_bridge", 3, true}, {"", "lab", 0, false}};
        return s;
    }

    std::string base_;
    Dir dir_;
    FakeSwitch switch_;
    boost::asio::io_context io_;
    std::shared_ptr<ConsoleListener> consoles_;
    ContainerHost host_;
};

TEST_F(ContainerTest, PreparesTheHostSide) {
    Container c(host_, 5);
    ASSERT_TRUE(c.makeDir("web", spec().uuid).ok());
    const std::string inst = base_ + "/5";
    EXPECT_EQ(modeOf(inst) & 07777, 0700u);
    EXPECT_EQ(readText(inst + "/name"), "web");
    EXPECT_EQ(readText(inst + "/uuid"), spec().uuid + "\n");

    auto r = c.prepare(spec());
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_EQ(c.generation(), 1u);
    EXPECT_TRUE(S_ISDIR(modeOf(inst + "/fs")));
    EXPECT_TRUE(S_ISDIR(modeOf(inst + "/upper")));
    EXPECT_TRUE(S_ISDIR(modeOf(inst + "/work")));
    EXPECT_TRUE(S_ISFIFO(modeOf(inst + "/fifo0")));
    EXPECT_TRUE(S_ISFIFO(modeOf(inst + "/fifo1")));
    EXPECT_TRUE(S_ISDIR(modeOf(base_ + "/vol/a")));  // a volume's host side is made
    EXPECT_EQ(modeOf(inst + "/console"), 0u);        // consoles share <base>/console
    EXPECT_NE(c.console(), nullptr);
    EXPECT_EQ(viewerGets("5\n"), "");  // a viewer of this console
    EXPECT_EQ(c.console()->viewerCount(), 1u);
    EXPECT_EQ(c.root(), inst + "/fs");
    EXPECT_EQ(c.nicNames(), (std::vector<std::string>{"tpv5n0", "tpv5n1"}));
    ASSERT_EQ(c.ports().size(), 2u);
    EXPECT_EQ(c.ports()[0].switch_name, "sw-mega_bridge");
    EXPECT_EQ(c.ports()[0].vlan, 3);
    EXPECT_TRUE(c.ports()[1].switch_name.empty());  // disconnected
    EXPECT_FALSE(c.running());

    auto rec = c.record();
    EXPECT_EQ(rec.id, 5);
    EXPECT_EQ(rec.name, "web");
    EXPECT_EQ(rec.generation, 1u);
    EXPECT_EQ(rec.init_pid, 0);  // not launched
    EXPECT_EQ(rec.veths, c.nicNames());
    EXPECT_EQ(rec.disk, DiskKind::None);
    EXPECT_EQ(rec.console, base_ + "/console");
    EXPECT_EQ(rec.root, inst + "/fs");

    // A relaunch's prepare keeps the console and the fifos.
    auto console = c.console();
    ASSERT_TRUE(c.prepare(spec()).ok());
    EXPECT_EQ(c.console(), console);
    EXPECT_EQ(c.generation(), 2u);

    ASSERT_TRUE(c.teardown().ok());
    EXPECT_EQ(c.console(), nullptr);
    EXPECT_EQ(viewerGets("5\n").rfind("herd: no console for vm 5", 0), 0u);
    ASSERT_TRUE(c.removeFiles().ok());
    EXPECT_EQ(modeOf(inst), 0u);
}

TEST_F(ContainerTest, MissingFilesystem) {
    Container c(host_, 5);
    ASSERT_TRUE(c.makeDir("web", spec().uuid).ok());
    auto s = spec();
    s.filesystem = base_ + "/nope";
    auto r = c.prepare(s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().errnum(), ENOENT);
    EXPECT_NE(r.error().text().find("filesystem"), std::string::npos);
}

TEST_F(ContainerTest, HostRootIsNoVolume) {
    Container c(host_, 5);
    ASSERT_TRUE(c.makeDir("web", spec().uuid).ok());
    auto s = spec();
    s.volumes = {{"/", "x"}};
    auto r = c.prepare(s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().text(),
              "volume x: / is the host's root directory, which cannot be a volume");
}

TEST_F(ContainerTest, KeepsAnExistingUuid) {
    Container c(host_, 5);
    ASSERT_TRUE(c.makeDir("web", "first").ok());
    ASSERT_TRUE(c.makeDir("web", "second").ok());
    EXPECT_EQ(readText(base_ + "/5/uuid"), "first\n");
}

}  // namespace
