// vm config fields, parsing and print forms (reference §3).
#include <gtest/gtest.h>

#include "service/gostr.h"
#include "service/vmconfig.h"

namespace herd {
namespace {

ConfigContext ctx() {
    ConfigContext c;
    c.filepath = "/tmp/herd/files";
    c.hostname = "h1";
    c.hosts = {"h1"};
    c.lookup_vlan = [](const std::string& a) -> Result<int> {
        auto n = go::atoi(a);
        return n.ok() ? Result<int>(static_cast<int>(*n)) : Result<int>(200);
    };
    return c;
}

Result<void> set(VmConfig& c, const std::string& f, std::vector<std::string> args) {
    return findConfigField(f)->set(c, args, ctx());
}

std::string get(const VmConfig& c, const std::string& f) {
    return findConfigField(f)->get(c);
}

TEST(ServiceVmConfig, Defaults) {
    VmConfig c;
    EXPECT_EQ(get(c, "memory"), "2048");
    EXPECT_EQ(get(c, "vcpus"), "1");
    EXPECT_EQ(get(c, "snapshot"), "true");
    EXPECT_EQ(get(c, "backchannel"), "true");
    EXPECT_EQ(get(c, "coschedule"), "-1");
    EXPECT_EQ(get(c, "init"), "[/init]");
    EXPECT_EQ(get(c, "fifos"), "0");
    EXPECT_EQ(get(c, "filesystem"), "");
    EXPECT_EQ(get(c, "networks"), "[]");
    EXPECT_EQ(get(c, "qemu"), "kvm");
    EXPECT_EQ(get(c, "append"), "");
}

TEST(ServiceVmConfig, NumericErrorsAreGo) {
    VmConfig c;
    EXPECT_EQ(set(c, "memory", {"abc"}).error().text(),
              "strconv.ParseUint: parsing \"abc\": invalid syntax");
    EXPECT_EQ(set(c, "vcpus", {"-1"}).error().text(),
              "strconv.ParseUint: parsing \"-1\": invalid syntax");
    EXPECT_EQ(set(c, "fifos", {"99999999999999999999"}).error().text(),
              "strconv.ParseUint: parsing \"99999999999999999999\": value out of range");
    EXPECT_EQ(set(c, "coschedule", {"x"}).error().text(),
              "strconv.ParseInt: parsing \"x\": invalid syntax");
    EXPECT_TRUE(set(c, "coschedule", {"-5"}).ok());
    EXPECT_EQ(get(c, "coschedule"), "-5");
    EXPECT_TRUE(set(c, "memory", {"512"}).ok());
    EXPECT_EQ(c.memory, 512u);
}

TEST(ServiceVmConfig, PathsAreMadeAbsolute) {
    VmConfig c;
    ASSERT_TRUE(set(c, "filesystem", {"rootfs"}).ok());
    EXPECT_EQ(c.filesystem, "/tmp/herd/files/rootfs");
    ASSERT_TRUE(set(c, "filesystem", {"/abs/fs"}).ok());
    EXPECT_EQ(c.filesystem, "/abs/fs");
    ASSERT_TRUE(set(c, "volume", {"/data", "scratch/../d"}).ok());
    EXPECT_EQ(c.volumes.at("/data"), "/tmp/herd/files/d");
    ASSERT_TRUE(set(c, "hostname", {"rel"}).ok());
    EXPECT_EQ(c.hostname, "rel");  // not a path
}

TEST(ServiceVmConfig, ScheduleAndColocate) {
    VmConfig c;
    EXPECT_EQ(set(c, "schedule", {"other"}).error().text(), "host is not in namespace: other");
    EXPECT_TRUE(set(c, "schedule", {"localhost"}).ok());
    EXPECT_EQ(set(c, "colocate", {"vm1"}).error().text(),
              "cannot specify colocate and schedule in the same config");
    c.clear("schedule");
    EXPECT_TRUE(set(c, "colocate", {"vm1"}).ok());
    EXPECT_EQ(set(c, "schedule", {"h1"}).error().text(),
              "cannot specify schedule and colocate in the same config");
}

TEST(ServiceVmConfig, NetSpecs) {
    auto n = parseNetSpec("100");
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->str(), "100");
    n = parseNetSpec("br0,100,13:37:13:37:00:01");
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->bridge, "br0");
    EXPECT_EQ(n->str(), "br0,100,13:37:13:37:00:01");
    n = parseNetSpec("10,B4:B6:76:69:68:68");
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->str(), "10,b4:b6:76:69:68:68");
    n = parseNetSpec("100,e1000");  // no QEMU: bridge 100, alias e1000
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->bridge, "100");
    EXPECT_EQ(n->alias, "e1000");
    n = parseNetSpec("100,QinQ");
    ASSERT_TRUE(n.ok());
    EXPECT_TRUE(n->qinq);
    EXPECT_EQ(n->str(), "100,qinq");
    EXPECT_EQ(parseNetSpec("a,b,c").error().text(), "malformed netspec");
    EXPECT_EQ(parseNetSpec("a,b,c,d,e,f").error().text(), "malformed netspec");

    VmConfig c;
    ASSERT_TRUE(set(c, "networks", {"100", "mega_bridge,foo"}).ok());
    EXPECT_EQ(get(c, "networks"), "[100 foo]");
    EXPECT_EQ(c.networks[1].vlan, 200);
    EXPECT_FALSE(set(c, "networks", {"1", "a,b,c"}).ok());
    EXPECT_TRUE(c.networks.empty());  // a bad spec clears the list
}

TEST(ServiceVmConfig, MapsListsAndClear) {
    VmConfig c;
    ASSERT_TRUE(set(c, "tags", {"b", "2"}).ok());
    ASSERT_TRUE(set(c, "tags", {"a", "1"}).ok());
    EXPECT_EQ(get(c, "tags"), "a -> 1\nb -> 2\n");
    ASSERT_TRUE(set(c, "init", {"/bin/sh", "-c", "echo hi"}).ok());
    EXPECT_EQ(get(c, "init"), "[/bin/sh -c echo hi]");
    c.clear("init");
    EXPECT_EQ(get(c, "init"), "[/init]");
    c.memory = 1;
    c.clear();
    EXPECT_EQ(c.memory, 2048u);
    EXPECT_TRUE(c.tags.empty());
}

TEST(ServiceVmConfig, SummaryLayout) {
    VmConfig c;
    c.volumes["/scratch"] = "/tmp/minivolume";
    std::string s = c.summary();
    EXPECT_NE(s.find("VM configuration:\nMemory:           2048\nVCPUs:            1\n"),
              std::string::npos);
    EXPECT_NE(s.find("Tags:             {}\n\nKVM configuration:\n"), std::string::npos);
    EXPECT_NE(s.find("Container configuration:\nFilesystem Path: \nHostname:        \n"
                     "Init:            [/init]\nPre-init:        \nFIFOs:           0\n"
                     "Volumes:         \n                 /scratch -> /tmp/minivolume\n"),
              std::string::npos);
}

TEST(ServiceVmConfig, ConfigFile) {
    VmConfig c;
    c.uuid = "u1";
    c.hostname = "foo";
    c.memory = 512;
    c.snapshot = false;
    c.init = {"/bin/sh", "-c", "sleep 1"};
    c.tags["k"] = "v";
    c.volumes["/d"] = "/s";
    EXPECT_EQ(c.configFile(),
              "vm config uuid u1\nvm config memory 512\nvm config snapshot false\n"
              "vm config tags k v\nvm config hostname foo\n"
              "vm config init /bin/sh -c \"sleep 1\"\nvm config volume /d /s\n");
}

TEST(ServiceGo, Durations) {
    EXPECT_EQ(go::duration(0), "0s");
    EXPECT_EQ(go::duration(1500), "1.5µs");
    EXPECT_EQ(go::duration(1500000), "1.5ms");
    EXPECT_EQ(go::duration(62500000000), "1m2.5s");
    EXPECT_EQ(go::duration(3600000000000), "1h0m0s");
    EXPECT_EQ(go::duration(999), "999ns");
}

TEST(ServiceGo, QuoteAndJson) {
    EXPECT_EQ(go::quote("a\"b\n"), "\"a\\\"b\\n\"");
    EXPECT_EQ(go::quote("\x01"), "\"\\x01\"");
    EXPECT_EQ(go::jsonMap({{"b", "<"}, {"a", "1"}}), "{\"a\":\"1\",\"b\":\"\\u003c\"}");
    EXPECT_EQ(go::jsonMap({}), "{}");
}

}  // namespace
}  // namespace herd
