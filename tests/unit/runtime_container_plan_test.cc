// Launch planning (runtime/container_spec.h): what a container's launch
// derives from its spec (root and overlay layers, binds, isolation profile,
// cgroup limits, NICs, disk), with no root and no I/O; and the container
// record's JSON form.
#include <gtest/gtest.h>

#include "runtime/container_spec.h"

using namespace herd::runtime;

namespace {

PlanContext ctx() {
    PlanContext c;
    c.base = "/tmp/hb";
    c.prefix = "tp";
    c.pids_max = 4096;
    c.cgroup_ns = true;
    return c;
}

ContainerSpec spec() {
    ContainerSpec s;
    s.id = 7;
    s.name = "web";
    s.uuid = "0b0e2d1c-0000-4000-8000-000000000001";
    s.hostname = "web";
    s.filesystem = "/srv/rootfs";
    s.snapshot = true;
    s.disk_limit_mib = 1024;
    s.init = {"/init"};
    s.memory_mib = 512;
    s.vcpus = 2;
    return s;
}

ContainerPlan plan(const ContainerSpec& s) {
    auto p = planContainer(s, ctx());
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().text());
    return p.ok() ? *p : ContainerPlan{};
}

TEST(ContainerPlan, SnapshotOnDisk) {
    auto p = plan(spec());
    EXPECT_EQ(p.dir, "7");
    EXPECT_EQ(p.path, "/tmp/hb/7");
    EXPECT_EQ(p.launch.root, "/tmp/hb/7/fs");
    EXPECT_EQ(p.launch.lowerdir, "/srv/rootfs");
    // Relative to the disk's root until the disk exists.
    EXPECT_EQ(p.launch.upperdir, "upper");
    EXPECT_EQ(p.launch.workdir, "work");
    EXPECT_EQ(p.launch.layers_fd, -1);
    EXPECT_EQ(p.disk_mib, 1024u);
    EXPECT_EQ(p.disk_fallback, "/tmp/hb/7/disk");
    EXPECT_EQ(p.mkdirs, std::vector<std::string>{"7/fs"});
    EXPECT_FALSE(p.launch.host_storage);
}

TEST(ContainerPlan, SnapshotWithoutDiskLimit) {
    auto s = spec();
    s.disk_limit_mib = 0;
    auto p = plan(s);
    EXPECT_EQ(p.disk_mib, 0u);
    EXPECT_EQ(p.launch.upperdir, "/tmp/hb/7/upper");
    EXPECT_EQ(p.launch.workdir, "/tmp/hb/7/work");
    EXPECT_EQ(p.mkdirs, (std::vector<std::string>{"7/fs", "7/upper", "7/work"}));
}

TEST(ContainerPlan, NoSnapshotRunsOnTheFilesystemWithTheStricterProfile) {
    auto s = spec();
    s.snapshot = false;
    auto p = plan(s);
    EXPECT_EQ(p.launch.root, "/srv/rootfs");
    EXPECT_TRUE(p.launch.lowerdir.empty());
    EXPECT_TRUE(p.mkdirs.empty());
    EXPECT_EQ(p.disk_mib, 0u);  // the disk limit holds only the overlay's changes
    EXPECT_TRUE(p.launch.host_storage);
}

TEST(ContainerPlan, BindsInOrderFifosVolumesCc) {
    auto s = spec();
    s.fifos = 2;
    s.volumes = {{"/srv/data", "scratch", false, false, false}, {"/srv/ro", "/ro", true}};
    s.cc_socket = "/tmp/hb/7/cc";
    auto p = plan(s);
    EXPECT_EQ(p.fifos, (std::vector<std::string>{"7/fifo0", "7/fifo1"}));
    const auto& b = p.launch.binds;
    ASSERT_EQ(b.size(), 5u);
    EXPECT_EQ(b[0].source, "/tmp/hb/7/fifo0");
    EXPECT_EQ(b[0].target, "/dev/fifos/fifo0");
    EXPECT_TRUE(b[0].file);
    EXPECT_EQ(b[1].target, "/dev/fifos/fifo1");
    EXPECT_EQ(b[2].source, "/srv/data");
    EXPECT_EQ(b[2].target, "/scratch");  // made absolute
    EXPECT_FALSE(b[2].file);
    EXPECT_FALSE(b[2].readonly);
    EXPECT_EQ(b[3].target, "/ro");
    EXPECT_TRUE(b[3].readonly);
    EXPECT_EQ(b[4].source, "/tmp/hb/7/cc");
    EXPECT_EQ(b[4].target, "/cc");
    EXPECT_TRUE(b[4].file);
}

TEST(ContainerPlan, HostStorageProfile) {
    auto s = spec();
    s.volumes = {{"/srv/ro", "/ro", true}};
    EXPECT_FALSE(plan(s).launch.host_storage);  // read-only: nothing can be planted
    s.volumes = {{"/srv/rw", "/rw"}};
    EXPECT_TRUE(plan(s).launch.host_storage);
    s.volumes = {{"/srv/rw", "/rw", false, true, false}};
    EXPECT_TRUE(plan(s).launch.host_storage);  // suid alone does not opt out
    s.volumes = {{"/srv/rw", "/rw", false, true, true}};
    EXPECT_FALSE(plan(s).launch.host_storage);  // `:suid,dev`
    s.volumes.clear();
    s.fifos = 1;
    s.cc_socket = "/tmp/hb/7/cc";
    EXPECT_FALSE(plan(s).launch.host_storage);  // file binds are not host storage
}

TEST(ContainerPlan, ProcessAndLimits) {
    auto s = spec();
    s.preinit = "/usr/local/bin/pre";
    s.init = {"/sbin/init", "-v"};
    auto p = plan(s);
    EXPECT_EQ(p.launch.hostname, "web");
    EXPECT_EQ(p.launch.uuid_file, "/tmp/hb/7/uuid");
    EXPECT_EQ(p.launch.preinit, "/usr/local/bin/pre");
    EXPECT_EQ(p.launch.init, (std::vector<std::string>{"/sbin/init", "-v"}));
    EXPECT_EQ(p.launch.env.back(), "container=herd");
    EXPECT_TRUE(p.launch.console.empty());  // the console's pty is made later
    EXPECT_TRUE(p.launch.cgroup_ns);
    EXPECT_FALSE(p.launch.net_admin);
    EXPECT_EQ(p.limits.memory_bytes, 512ull << 20);
    EXPECT_EQ(p.limits.vcpus, 2u);
    EXPECT_EQ(p.limits.pids_max, 4096u);
    s.memory_mib = 0;
    EXPECT_EQ(plan(s).limits.memory_bytes, 0u);  // unlimited
}

TEST(ContainerPlan, Nics) {
    auto s = spec();
    s.nics = {{"00:16:3e:00:00:01", "mega_bridge", 5, true}, {"", "other", 0, false}};
    auto p = plan(s);
    EXPECT_TRUE(p.launch.net_admin);  // the guest configures its own NICs
    ASSERT_EQ(p.veths.size(), 2u);
    EXPECT_EQ(p.veths[0].host_name, "tpv7n0");
    EXPECT_EQ(p.veths[0].peer_name, "veth0");
    EXPECT_EQ(p.veths[0].peer_mac, "00:16:3e:00:00:01");
    EXPECT_EQ(p.veths[0].master, 0);  // the switch fills it in
    EXPECT_EQ(p.veths[1].host_name, "tpv7n1");
    EXPECT_EQ(p.veths[1].peer_name, "veth1");
}

TEST(ContainerPlan, NicNameThatCannotFit) {
    auto s = spec();
    s.id = 2000000;
    s.nics = {{"", "mega_bridge", 1, true}};
    auto c = ctx();
    c.prefix = "abcdefgh";
    EXPECT_FALSE(planContainer(s, c).ok());
}

ContainerRecord sampleRecord() {
    ContainerRecord r;
    r.id = 12;
    r.name = "db";
    r.uuid = "0b0e2d1c-0000-4000-8000-000000000002";
    r.generation = 3;
    r.init_pid = 4242;
    r.init_start = 987654321;
    r.released = true;
    r.cgroup = "12.3";
    r.netns = "net:[4026532001]";
    r.veths = {"herdv12n0", "herdv12n1"};
    r.disk = DiskKind::Attached;
    r.disk_path = "/tmp/herd/12/disk";
    r.disk_mib = 1024;
    r.console = "/tmp/herd/12/console";
    r.root = "/tmp/herd/12/fs";
    return r;
}

TEST(ContainerRecord, RoundTrip) {
    const auto r = sampleRecord();
    auto back = recordFromJson(recordToJson(r));
    ASSERT_TRUE(back.ok()) << back.error().text();
    EXPECT_EQ(back->id, r.id);
    EXPECT_EQ(back->name, r.name);
    EXPECT_EQ(back->uuid, r.uuid);
    EXPECT_EQ(back->generation, r.generation);
    EXPECT_EQ(back->init_pid, r.init_pid);
    EXPECT_EQ(back->init_start, r.init_start);
    EXPECT_EQ(back->released, r.released);
    EXPECT_EQ(back->cgroup, r.cgroup);
    EXPECT_EQ(back->netns, r.netns);
    EXPECT_EQ(back->veths, r.veths);
    EXPECT_EQ(back->disk, r.disk);
    EXPECT_EQ(back->disk_path, r.disk_path);
    EXPECT_EQ(back->disk_mib, r.disk_mib);
    EXPECT_EQ(back->console, r.console);
    EXPECT_EQ(back->root, r.root);
}

TEST(ContainerRecord, DownContainer) {
    ContainerRecord r;
    r.id = 1;
    auto back = recordFromJson(recordToJson(r));
    ASSERT_TRUE(back.ok()) << back.error().text();
    EXPECT_EQ(back->init_pid, 0);
    EXPECT_EQ(back->disk, DiskKind::None);
    EXPECT_TRUE(back->veths.empty());
}

TEST(ContainerRecord, RefusesWhatIsNotARecord) {
    EXPECT_FALSE(recordFromJson("").ok());
    EXPECT_FALSE(recordFromJson("{\"id\":1").ok());  // torn
    EXPECT_FALSE(recordFromJson("[]").ok());
    EXPECT_FALSE(recordFromJson("{\"version\":1}").ok());  // fields missing
    std::string text = recordToJson(sampleRecord());
    auto swap = [&](const std::string& from, const std::string& to) {
        std::string t = text;
        t.replace(t.find(from), from.size(), to);
        return recordFromJson(t);
    };
    EXPECT_FALSE(swap("\"version\":1", "\"version\":2").ok());
    EXPECT_FALSE(swap("\"attached\"", "\"elsewhere\"").ok());
    EXPECT_FALSE(swap("\"init_pid\":4242", "\"init_pid\":\"4242\"").ok());
}

}  // namespace
