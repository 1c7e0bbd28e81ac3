// A VM's record (service/vm_record.h): what a later daemon reads back after a
// crash or `quit keep`: the VM as it was, its config rebuilt through the
// `vm config` setters, and its refusal of anything that is not a whole
// record.
#include <gtest/gtest.h>

#include "service/vm_record.h"

using namespace herd;

namespace {

Vm sampleVm() {
    Vm vm;
    vm.id = 7;
    vm.name = "web1";
    vm.ns = "exp";
    vm.host = "h1";
    vm.state = VmState::Paused;
    vm.launch_time = std::chrono::steady_clock::now() - std::chrono::seconds(90);
    vm.config.uuid = "0f0e0d0c-0b0a-4908-8706-050403020100";
    vm.config.memory = 512;
    vm.config.vcpus = 2;
    vm.config.snapshot = false;
    vm.config.backchannel = false;
    vm.config.hostname = "web one";
    vm.config.init = {"/bin/sh", "-c", "echo 'a b'; sleep 5"};
    vm.config.fifos = 3;
    vm.config.disk_limit = 64;
    vm.config.volumes["/scratch"] = "/srv/data:ro";
    vm.config.qemu_append = {"-nographic"};
    vm.config.tags = {{"role", "front end"}, {"error", "x \"quoted\""}};
    NetConfig n;
    n.alias = "dmz";
    n.vlan = 101;
    n.bridge = "br9";
    n.mac = "00:16:3e:00:00:01";
    n.tap = "tpv7n0";
    n.ip4 = "10.0.0.7";
    n.ip6 = "fe80::1";
    n.qos.delay = "30ms";
    n.raw = "br9,dmz";
    vm.config.networks.push_back(n);
    return vm;
}

runtime::ContainerRecord sampleContainer() {
    runtime::ContainerRecord r;
    r.id = 7;
    r.name = "web1";
    r.init_pid = 4242;
    r.init_start = 99;
    r.released = true;
    r.cgroup = "7.1";
    r.veths = {"tpv7n0"};
    return r;
}

TEST(VmRecord, RoundTrip) {
    const Vm vm = sampleVm();
    auto back = parseVmRecord(vmRecordJson(vm, sampleContainer()), "/b", "h1");
    ASSERT_TRUE(back.ok()) << back.error().text();
    const Vm& v = *back->vm;
    EXPECT_EQ(v.id, 7);
    EXPECT_EQ(v.name, "web1");
    EXPECT_EQ(v.ns, "exp");
    EXPECT_EQ(v.state, VmState::Paused);
    EXPECT_EQ(v.instance_path, "/b/7");
    const auto age = std::chrono::steady_clock::now() - v.launch_time;
    EXPECT_GE(age, std::chrono::seconds(89));
    EXPECT_LE(age, std::chrono::seconds(91));
    // The config, field by field through the setters: the same file.
    EXPECT_EQ(v.config.configFile(), vm.config.configFile());
    EXPECT_EQ(v.config.init, vm.config.init);
    EXPECT_EQ(v.config.hostname, "web one");
    EXPECT_EQ(v.config.volumes, vm.config.volumes);
    EXPECT_EQ(v.config.qemu_append, vm.config.qemu_append);
    EXPECT_EQ(v.config.tags, vm.config.tags);
    ASSERT_EQ(v.config.networks.size(), 1u);
    const NetConfig& n = v.config.networks[0];
    EXPECT_EQ(n.alias, "dmz");
    EXPECT_EQ(n.vlan, 101);
    EXPECT_EQ(n.bridge, "br9");
    EXPECT_EQ(n.tap, "tpv7n0");
    EXPECT_EQ(n.ip4, "10.0.0.7");
    EXPECT_EQ(n.ip6, "fe80::1");
    EXPECT_EQ(n.qos.delay, "30ms");
    EXPECT_EQ(back->container.init_pid, 4242);
    EXPECT_EQ(back->container.cgroup, "7.1");
}

TEST(VmRecord, RefusesWhatIsNotARecord) {
    const std::string text = vmRecordJson(sampleVm(), sampleContainer());
    EXPECT_FALSE(parseVmRecord("", "/b", "h").ok());
    EXPECT_FALSE(parseVmRecord(text.substr(0, text.size() / 2), "/b", "h").ok());  // torn
    EXPECT_FALSE(parseVmRecord("[]", "/b", "h").ok());
    auto swap = [&](const std::string& from, const std::string& to) {
        std::string t = text;
        auto at = t.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        t.replace(at, from.size(), to);
        return parseVmRecord(t, "/b", "h");
    };
    EXPECT_FALSE(swap("\"version\":1}\n", "\"version\":2}\n").ok());
    EXPECT_FALSE(swap("\"PAUSED\"", "\"ASLEEP\"").ok());
    EXPECT_FALSE(
        swap("\"host\":\"h1\",\"id\":7", "\"host\":\"h1\",\"id\":8").ok());  // not its container's
    EXPECT_FALSE(swap("\"vlan\":101", "\"vlan\":\"101\"").ok());
}

TEST(VmRecord, ConfigLinesThisBinaryRefusesAreWarnings) {
    // A newer binary must not drop a running VM over one field: the field
    // keeps its default and the record says why.
    std::string text = vmRecordJson(sampleVm(), sampleContainer());
    const std::string from = "[\"memory\",\"512\"]";
    auto at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, from.size(), "[\"memory\",\"lots\"],[\"nosuch\",\"1\"]");
    auto back = parseVmRecord(text, "/b", "h1");
    ASSERT_TRUE(back.ok()) << back.error().text();
    EXPECT_EQ(back->vm->config.memory, 2048u);
    EXPECT_EQ(back->vm->config.vcpus, 2u);
    ASSERT_EQ(back->warnings.size(), 2u);
    EXPECT_NE(back->warnings[0].find("memory lots"), std::string::npos) << back->warnings[0];
    EXPECT_NE(back->warnings[1].find("nosuch"), std::string::npos) << back->warnings[1];
}

}  // namespace
