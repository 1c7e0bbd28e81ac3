// vm config fields, parsing and print forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "service/gostr.h"
#include "service/vm.h"
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
    return findConfigField(f)->value.set(c, args, ctx());
}

std::string get(const VmConfig& c, const std::string& f) {
    return findConfigField(f)->value.get(c);
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
    // Fields herd does not use keep Go's parser texts, as minimega.
    EXPECT_EQ(set(c, "cores", {"-1"}).error().text(),
              "strconv.ParseUint: parsing \"-1\": invalid syntax");
    EXPECT_EQ(set(c, "coschedule", {"x"}).error().text(),
              "strconv.ParseInt: parsing \"x\": invalid syntax");
    EXPECT_TRUE(set(c, "coschedule", {"-5"}).ok());
    EXPECT_EQ(get(c, "coschedule"), "-5");
    EXPECT_TRUE(set(c, "memory", {"512"}).ok());
    EXPECT_EQ(c.memory, 512u);
}

TEST(ServiceVmConfig, NumbersAreRangeChecked) {
    VmConfig c;
    const std::string mem_allowed =
        ": want a size in MiB from 1 to 16777216 (e.g. 2048, 512M, 2G), or unlimited";
    EXPECT_EQ(set(c, "memory", {"abc"}).error().text(), "invalid memory \"abc\"" + mem_allowed);
    EXPECT_EQ(set(c, "memory", {"-5"}).error().text(), "invalid memory \"-5\"" + mem_allowed);
    EXPECT_EQ(set(c, "memory", {"0"}).error().text(), "invalid memory \"0\"" + mem_allowed);
    EXPECT_FALSE(set(c, "memory", {"+5"}).ok());
    EXPECT_FALSE(set(c, "memory", {"5 "}).ok());
    EXPECT_FALSE(set(c, "memory", {"5K"}).ok());
    EXPECT_FALSE(set(c, "memory", {""}).ok());
    // Huge values are refused, not wrapped by `<< 20`.
    EXPECT_FALSE(set(c, "memory", {"18446744073709551615"}).ok());
    EXPECT_FALSE(set(c, "memory", {"99999999999999999999999"}).ok());
    EXPECT_FALSE(set(c, "memory", {"16777217"}).ok());
    EXPECT_FALSE(set(c, "memory", {"16385G"}).ok());
    EXPECT_EQ(c.memory, 2048u);  // nothing changed
    EXPECT_TRUE(set(c, "memory", {"16777216"}).ok());
    EXPECT_TRUE(set(c, "memory", {"2G"}).ok());
    EXPECT_EQ(c.memory, 2048u);
    EXPECT_TRUE(set(c, "memory", {"512m"}).ok());
    EXPECT_EQ(get(c, "memory"), "512");
    EXPECT_TRUE(set(c, "memory", {"1GiB"}).ok());
    EXPECT_EQ(c.memory, 1024u);
    EXPECT_TRUE(set(c, "memory", {"unlimited"}).ok());
    EXPECT_EQ(c.memory, kUnlimited);
    EXPECT_EQ(get(c, "memory"), "unlimited");
    EXPECT_EQ(c.info("memory", VmType::Container).value(), "unlimited");

    EXPECT_EQ(set(c, "vcpus", {"0"}).error().text(),
              "invalid vcpus \"0\": want a whole number from 1 to 4096");
    EXPECT_EQ(set(c, "vcpus", {"-1"}).error().text(),
              "invalid vcpus \"-1\": want a whole number from 1 to 4096");
    EXPECT_TRUE(set(c, "vcpus", {"4"}).ok());
    EXPECT_EQ(set(c, "fifos", {"99999999999999999999"}).error().text(),
              "invalid fifos \"99999999999999999999\": want a whole number from 0 to 256");
    EXPECT_FALSE(set(c, "fifos", {"257"}).ok());
    EXPECT_TRUE(set(c, "fifos", {"0"}).ok());
}

TEST(ServiceVmConfig, DiskLimit) {
    VmConfig c;
    EXPECT_EQ(get(c, "disk-limit"), "1024");
    EXPECT_EQ(c.disk_limit, kDefaultDiskLimitMiB);
    EXPECT_TRUE(set(c, "disk-limit", {"32"}).ok());
    EXPECT_EQ(get(c, "disk-limit"), "32");
    EXPECT_TRUE(set(c, "disk-limit", {"2G"}).ok());
    EXPECT_EQ(c.disk_limit, 2048u);
    EXPECT_EQ(set(c, "disk-limit", {"0"}).error().text(),
              "invalid disk-limit \"0\": want a size in MiB from 1 to 16777216 (e.g. 2048, "
              "512M, 2G), or unlimited");
    EXPECT_EQ(c.disk_limit, 2048u);
    EXPECT_TRUE(set(c, "disk-limit", {"unlimited"}).ok());
    EXPECT_EQ(get(c, "disk-limit"), "unlimited");
    EXPECT_NE(c.configFile().find("vm config disk-limit unlimited\n"), std::string::npos);
    EXPECT_NE(c.summary().find("FIFOs:           0\nDisk limit:      unlimited\nVolumes:"),
              std::string::npos);
    c.clear("disk-limit");
    EXPECT_EQ(c.disk_limit, kDefaultDiskLimitMiB);
    EXPECT_EQ(c.configFile().find("disk-limit"), std::string::npos);  // default: no line
    c.disk_limit = 64;
    c.clear();
    EXPECT_EQ(c.disk_limit, kDefaultDiskLimitMiB);
    // The KVM `disks` field is a different one.
    ASSERT_NE(findConfigField("disks"), nullptr);
    EXPECT_NE(findConfigField("disks"), findConfigField("disk-limit"));
}

TEST(ServiceVmConfig, Uuid) {
    VmConfig c;
    EXPECT_TRUE(set(c, "uuid", {"0B5C2A8E-3F1D-4C6B-9E7A-1D2C3B4A5F60"}).ok());
    EXPECT_EQ(c.uuid, "0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f60");  // cc matches lower case
    for (std::string bad :
         {"../../../../tmp/x", "foo", "0b5c2a8e3f1d4c6b9e7a1d2c3b4a5f60",
          "0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f6", "0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f6g",
          "0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f60/", "{0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f60}"}) {
        auto r = set(c, "uuid", {bad});
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error().text().find("want 8-4-4-4-12 hexadecimal digits"), std::string::npos);
    }
    EXPECT_EQ(c.uuid, "0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f60");  // unchanged
    EXPECT_TRUE(set(c, "uuid", {""}).ok());                     // random at launch
    EXPECT_EQ(c.uuid, "");
}

TEST(ServiceVmConfig, Volumes) {
    VmConfig c;
    for (std::string root : {"/", "//", "/./", "/srv/..", "/srv/../../", "///.//"}) {
        auto r = set(c, "volume", {"/data", root});
        ASSERT_FALSE(r.ok()) << root;
        EXPECT_NE(r.error().text().find("the host's root directory cannot be a volume"),
                  std::string::npos);
    }
    EXPECT_FALSE(set(c, "volume", {"/data", "../../../../../.."}).ok());  // under the file root
    EXPECT_FALSE(set(c, "volume", {"/data", "/:ro"}).ok());
    EXPECT_TRUE(c.volumes.empty());

    ASSERT_TRUE(set(c, "volume", {"/data", "/srv/data:ro,suid,dev"}).ok());
    EXPECT_EQ(c.volumes.at("/data"), "/srv/data:ro,suid,dev");  // printed as typed
    EXPECT_EQ(get(c, "volume"), "/data -> /srv/data:ro,suid,dev\n");
    auto v = parseVolumeSource(c.volumes.at("/data"));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->path, "/srv/data");
    EXPECT_TRUE(v->readonly);
    EXPECT_TRUE(v->suid);
    EXPECT_TRUE(v->dev);
    v = parseVolumeSource("/srv//x/./y");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->path, "/srv/x/y");
    EXPECT_FALSE(v->readonly || v->suid || v->dev);  // rw, nosuid, nodev
    v = parseVolumeSource("/srv/x:rw");
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->readonly);

    auto r = set(c, "volume", {"/x", "/srv/x:ro,exec"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().text(),
              "invalid volume option \"exec\" in \"/srv/x:ro,exec\": allowed are ro, rw, suid, "
              "dev, separated by commas after a colon");
    EXPECT_FALSE(set(c, "volume", {"/x", "/srv/x:"}).ok());
    EXPECT_FALSE(set(c, "volume", {"/x", "/srv/x:ro,rw"}).ok());
    EXPECT_EQ(c.volumes.size(), 1u);
    ASSERT_TRUE(set(c, "volume", {"/rel", "scratch:ro"}).ok());
    EXPECT_EQ(c.volumes.at("/rel"), "/tmp/herd/files/scratch:ro");
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
    n = parseNetSpec("100,e1000");  // a QEMU NIC model is a driver
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->bridge, kDefaultBridge);
    EXPECT_EQ(n->alias, "100");
    EXPECT_EQ(n->driver, "e1000");
    EXPECT_EQ(n->str(), "100");   // the default driver is left out
    n = parseNetSpec("100,foo");  // anything else before the VLAN is a bridge
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->bridge, "100");
    EXPECT_EQ(n->alias, "foo");
    n = parseNetSpec("100,QinQ");
    ASSERT_TRUE(n.ok());
    EXPECT_TRUE(n->qinq);
    EXPECT_EQ(n->str(), "100,qinq");
    EXPECT_EQ(parseNetSpec("a,b,c").error().text(), "malformed netspec");
    EXPECT_EQ(parseNetSpec("a,b,c,qinq").error().text(), "malformed netspec");
    EXPECT_EQ(parseNetSpec("a,b,13:37:13:37:00:01,nonic").error().text(), "malformed netspec");
    EXPECT_EQ(parseNetSpec("a,b,c,d,e,f").error().text(), "malformed netspec");

    VmConfig c;
    ASSERT_TRUE(set(c, "networks", {"100", "mega_bridge,foo"}).ok());
    EXPECT_EQ(get(c, "networks"), "[100 foo]");
    EXPECT_EQ(c.networks[1].vlan, 200);
    EXPECT_FALSE(set(c, "networks", {"1", "a,b,c"}).ok());
    EXPECT_TRUE(c.networks.empty());  // a bad spec clears the list
}

TEST(ServiceVmConfig, NetSpecDriverForms) {
    const std::string mac = "13:37:13:37:00:01";
    struct Want {
        std::string spec, bridge, alias, mac, driver;
        bool qinq;
    };
    const std::string def_br(kDefaultBridge), def_drv(kDefaultDriver);
    for (const Want& w : std::vector<Want>{
             {"100,virtio-net-pci", def_br, "100", "", "virtio-net-pci", false},
             {"100,rtl8139,qinq", def_br, "100", "", "rtl8139", true},
             {"100," + mac + ",rtl8139", def_br, "100", mac, "rtl8139", false},
             {"br,100,rtl8139", "br", "100", "", "rtl8139", false},
             {"br,100,rtl8139,qinq", "br", "100", "", "rtl8139", true},
             {"br,100," + mac + ",e1000", "br", "100", mac, "e1000", false},
             {"100," + mac + ",i82559c,qinq", def_br, "100", mac, "i82559c", true},
             {"br,100," + mac + ",vmxnet3,QinQ", "br", "100", mac, "vmxnet3", true},
         }) {
        auto n = parseNetSpec(w.spec);
        ASSERT_TRUE(n.ok()) << w.spec;
        EXPECT_EQ(n->bridge, w.bridge) << w.spec;
        EXPECT_EQ(n->alias, w.alias) << w.spec;
        EXPECT_EQ(n->mac, w.mac) << w.spec;
        EXPECT_EQ(n->driver, w.driver) << w.spec;
        EXPECT_EQ(n->qinq, w.qinq) << w.spec;
        // The print form parses back to the same NIC.
        auto again = parseNetSpec(n->str());
        ASSERT_TRUE(again.ok()) << n->str();
        EXPECT_EQ(again->driver, w.driver) << n->str();
        EXPECT_EQ(again->bridge, w.bridge) << n->str();
    }
    EXPECT_TRUE(isNicDriver("e1000"));
    EXPECT_FALSE(isNicDriver("E1000"));
    EXPECT_FALSE(isNicDriver(""));
}

// Every field is complete, and the summary shows each labelled field once.
TEST(ServiceVmConfig, TableIsConsistent) {
    std::map<std::string, int> shown;
    for (auto& block : summaryLayout())
        for (auto& name : block.fields) {
            const ConfigField* f = findConfigField(name);
            ASSERT_NE(f, nullptr) << name;
            EXPECT_FALSE(f->label.empty()) << name;
            ++shown[name];
        }
    const VmConfig d;
    for (auto& f : configFields()) {
        const FieldValue& v = f.value;
        ASSERT_TRUE(v.get && v.set && v.show && v.info && v.copy && v.is_default && v.file_args)
            << f.name;
        EXPECT_TRUE(v.is_default(d)) << f.name;
        EXPECT_EQ(shown[f.name], f.label.empty() ? 0 : 1) << f.name;
        EXPECT_EQ(v.arity == FieldArity::Map, static_cast<bool>(v.lookup)) << f.name;
        EXPECT_EQ(findConfigField(f.name), &f);
        for (auto& a : f.aliases) EXPECT_EQ(findConfigField(a), &f) << a;
        if (!f.column.empty()) {
            const auto& cols = vmInfoColumns();
            EXPECT_NE(std::find(cols.begin(), cols.end(), f.column), cols.end()) << f.column;
        }
    }
}

TEST(ServiceVmConfig, InfoColumnsByVmType) {
    VmConfig c;
    c.fifos = 3;
    c.disks = {"/d.qcow2"};
    EXPECT_EQ(c.info("fifo", VmType::Container).value(), "3");
    EXPECT_FALSE(c.info("fifo", VmType::Kvm).ok());
    EXPECT_FALSE(c.info("disks", VmType::Container).ok());  // N/A for containers
    EXPECT_EQ(c.info("disks", VmType::Kvm).value(), "[/d.qcow2]");
    EXPECT_EQ(c.info("bond", VmType::Container).value(), "[]");
    c.bonds = {"0,1,active-backup", "2,3,balance-slb"};
    EXPECT_EQ(c.info("bond", VmType::Container).value(), "[0,1,active-backup, 2,3,balance-slb]");
    EXPECT_EQ(c.info("tags", VmType::Container).value(), "{}");
    EXPECT_EQ(c.info("name", VmType::Container).error().text(), "invalid info field: name");
}

TEST(ServiceVmConfig, AliasesAndEmptyGetters) {
    VmConfig c;
    EXPECT_EQ(get(c, "disks"), "[]");  // as minimega prints an empty disk list
    EXPECT_EQ(get(c, "bonds"), "[]");
    EXPECT_EQ(get(c, "qemu-append"), "");
    ASSERT_TRUE(set(c, "disk", {"a.qcow2"}).ok());
    EXPECT_EQ(get(c, "disks"), "[/tmp/herd/files/a.qcow2]");
    c.clear("disk");
    EXPECT_TRUE(c.disks.empty());
    ASSERT_TRUE(set(c, "state", {"/s"}).ok());
    EXPECT_EQ(c.migrate, "/s");
    c.clear("state");
    EXPECT_EQ(c.migrate, "");
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
                     "Disk limit:      1024\nVolumes:         \n                 /scratch -> "
                     "/tmp/minivolume\n"),
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
