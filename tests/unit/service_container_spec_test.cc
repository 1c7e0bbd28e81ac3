// From a VM's configuration to its container's launch plan: what the
// service asks of the runtime (containerSpecOf) and what the runtime makes of
// it (planContainer), without root.
#include <gtest/gtest.h>

#include "runtime/container_spec.h"
#include "service/container_runtime.h"

namespace herd {
namespace {

Vm vmWith(VmConfig c) {
    Vm vm;
    vm.id = 3;
    vm.name = "web1";
    c.uuid = "0b0e2d1c-0000-4000-8000-000000000003";
    vm.config = std::move(c);
    return vm;
}

runtime::ContainerSpec specOf(const Vm& vm) {
    auto s = containerSpecOf(vm, "/srv/rootfs");
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().text());
    return s.ok() ? *s : runtime::ContainerSpec{};
}

runtime::ContainerPlan planOf(const runtime::ContainerSpec& s) {
    runtime::PlanContext ctx;
    ctx.base = "/tmp/hb";
    ctx.prefix = "tp";
    ctx.pids_max = 100;
    auto p = runtime::planContainer(s, ctx);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().text());
    return p.ok() ? *p : runtime::ContainerPlan{};
}

TEST(ContainerSpec, Defaults) {
    auto s = specOf(vmWith({}));
    EXPECT_EQ(s.id, 3);
    EXPECT_EQ(s.name, "web1");
    EXPECT_EQ(s.uuid, "0b0e2d1c-0000-4000-8000-000000000003");
    EXPECT_EQ(s.hostname, "web1");  // the name, unless configured
    EXPECT_EQ(s.filesystem, "/srv/rootfs");
    EXPECT_TRUE(s.snapshot);
    EXPECT_EQ(s.disk_limit_mib, kDefaultDiskLimitMiB);
    EXPECT_EQ(s.memory_mib, 2048u);
    EXPECT_EQ(s.vcpus, 1u);
    EXPECT_EQ(s.init, std::vector<std::string>{"/init"});
    EXPECT_TRUE(s.cc_socket.empty());  // the runtime opens it
    auto p = planOf(s);
    EXPECT_EQ(p.launch.root, "/tmp/hb/3/fs");
    EXPECT_EQ(p.disk_mib, kDefaultDiskLimitMiB);
    EXPECT_EQ(p.limits.memory_bytes, uint64_t{2048} << 20);
    EXPECT_FALSE(p.launch.host_storage);
    EXPECT_FALSE(p.launch.net_admin);
}

TEST(ContainerSpec, ConfiguredFields) {
    VmConfig c;
    c.hostname = "front";
    c.snapshot = false;
    c.disk_limit = kUnlimited;
    c.memory = kUnlimited;
    c.vcpus = 4;
    c.fifos = 1;
    c.preinit = "/usr/local/bin/pre";
    c.init = {"/sbin/init"};
    auto s = specOf(vmWith(c));
    EXPECT_EQ(s.hostname, "front");
    EXPECT_FALSE(s.snapshot);
    EXPECT_EQ(s.disk_limit_mib, 0u);
    EXPECT_EQ(s.memory_mib, 0u);
    auto p = planOf(s);
    EXPECT_EQ(p.launch.root, "/srv/rootfs");
    EXPECT_EQ(p.launch.hostname, "front");
    EXPECT_TRUE(p.launch.host_storage);  // writes to the filesystem itself
    EXPECT_EQ(p.limits.memory_bytes, 0u);
    EXPECT_EQ(p.limits.vcpus, 4u);
    EXPECT_EQ(p.limits.pids_max, 100u);
    EXPECT_EQ(p.fifos, std::vector<std::string>{"3/fifo0"});
    EXPECT_EQ(p.launch.preinit, "/usr/local/bin/pre");
}

TEST(ContainerSpec, Volumes) {
    VmConfig c;
    c.volumes = {{"/data", "/srv/data"}, {"ro", "/srv/ro:ro"}, {"/dev-ok", "/srv/x:suid,dev"}};
    auto s = specOf(vmWith(c));
    ASSERT_EQ(s.volumes.size(), 3u);
    auto p = planOf(s);
    // std::map order: /data, /dev-ok, ro.
    const auto& b = p.launch.binds;
    ASSERT_EQ(b.size(), 3u);
    EXPECT_EQ(b[0].source, "/srv/data");
    EXPECT_EQ(b[0].target, "/data");
    EXPECT_FALSE(b[0].readonly);
    EXPECT_EQ(b[1].source, "/srv/x");
    EXPECT_TRUE(b[1].allow_suid);
    EXPECT_TRUE(b[1].allow_dev);
    EXPECT_EQ(b[2].source, "/srv/ro");
    EXPECT_EQ(b[2].target, "/ro");
    EXPECT_TRUE(b[2].readonly);
    EXPECT_TRUE(p.launch.host_storage);  // /data is read-write, nosuid
}

TEST(ContainerSpec, BadVolumeIsAnError) {
    VmConfig c;
    c.volumes = {{"/data", "/srv/data:bogus"}};
    EXPECT_FALSE(containerSpecOf(vmWith(c), "/srv/rootfs").ok());
}

TEST(ContainerSpec, Nics) {
    VmConfig c;
    NetConfig a;
    a.vlan = 5;
    a.mac = "00:16:3e:00:00:0a";
    NetConfig b;
    b.bridge = "lab";
    b.vlan = kDisconnectedVlan;
    c.networks = {a, b};
    auto s = specOf(vmWith(c));
    ASSERT_EQ(s.nics.size(), 2u);
    EXPECT_EQ(s.nics[0].bridge, "mega_bridge");
    EXPECT_EQ(s.nics[0].vlan, 5);
    EXPECT_TRUE(s.nics[0].connected);
    EXPECT_EQ(s.nics[0].mac, "00:16:3e:00:00:0a");
    EXPECT_EQ(s.nics[1].bridge, "lab");
    EXPECT_FALSE(s.nics[1].connected);
    auto p = planOf(s);
    EXPECT_TRUE(p.launch.net_admin);
    ASSERT_EQ(p.veths.size(), 2u);
    EXPECT_EQ(p.veths[0].host_name, "tpv3n0");
    EXPECT_EQ(p.veths[0].peer_mac, "00:16:3e:00:00:0a");
    EXPECT_EQ(p.veths[1].host_name, "tpv3n1");
}

}  // namespace
}  // namespace herd
