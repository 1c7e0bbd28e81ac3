// The VM registry, queue-time checks and the lifecycle through DryRuntime
// (reference §4.1, §4.4-4.6, §8.2).
#include <gtest/gtest.h>

#include "service/herd.h"
#include "service/vm_ops.h"

namespace herd {
namespace {

Herd makeHerd() {
    Options o;
    o.base = "/tmp/herd-unit";
    o.hostname = "h1";
    return Herd(o);
}

std::string err(const Result<void>& r) {
    return r.ok() ? "" : r.error().text();
}

std::string states(Herd& h, const std::string& ns) {
    std::string out;
    for (Vm* vm : h.vms().inNamespace(ns))
        out += vm->name + "=" + std::string(stateString(vm->state)) + " ";
    return out;
}

TEST(ServiceVm, LaunchAssignsIdsNamesAndUuids) {
    Herd h = makeHerd();
    Namespace& ns = h.namespaces().active();
    ASSERT_EQ(err(queueVms(h, ns, "2", VmType::Container, ns.vm_config)), "");
    ASSERT_EQ(err(scheduleQueue(h, ns)), "");
    ASSERT_EQ(err(queueVms(h, ns, "foo", VmType::Container, ns.vm_config)), "");
    ASSERT_EQ(err(scheduleQueue(h, ns)), "");
    auto vms = h.vms().inNamespace(ns.name);
    ASSERT_EQ(vms.size(), 3u);
    EXPECT_EQ(vms[0]->name, "vm-0");
    EXPECT_EQ(vms[1]->name, "vm-1");
    EXPECT_EQ(vms[2]->name, "foo");
    EXPECT_EQ(vms[2]->id, 2);
    EXPECT_EQ(vms[2]->config.hostname, "foo");
    EXPECT_EQ(vms[0]->uuid().size(), 36u);
    EXPECT_EQ(vms[0]->uuid()[14], '4');
    EXPECT_NE(vms[0]->uuid(), vms[1]->uuid());
    EXPECT_EQ(vms[0]->info("fifo", h.vlans()).value(), "0");
    EXPECT_EQ(vms[0]->info("type", h.vlans()).value(), "container");
    EXPECT_FALSE(vms[0]->info("kernel", h.vlans()).ok());
}

TEST(ServiceVm, QueueChecksInOrder) {
    Herd h = makeHerd();
    Namespace& ns = h.namespaces().active();
    VmConfig cfg = ns.vm_config;
    ASSERT_EQ(err(queueVms(h, ns, "foo", VmType::Container, cfg)), "");
    ASSERT_EQ(err(scheduleQueue(h, ns)), "");
    EXPECT_EQ(err(queueVms(h, ns, "foo", VmType::Container, cfg)),
              "vm already exists with name `foo`");
    EXPECT_EQ(err(queueVms(h, ns, "bad/name", VmType::Container, cfg)),
              "invalid name; must only include letters, numbers, hyphens and underscores: "
              "`bad/name`");
    cfg.uuid = h.vms().inNamespace(ns.name)[0]->uuid();
    EXPECT_EQ(err(queueVms(h, ns, "a,b", VmType::Container, cfg)),
              "cannot launch multiple VMs with a pre-configured UUID");
    EXPECT_EQ(err(queueVms(h, ns, "bar", VmType::Container, cfg)),
              "vm already exists with UUID `" + cfg.uuid + "`");
    ns.queueing = true;
    cfg.uuid = "u-1";
    ASSERT_EQ(err(queueVms(h, ns, "bar", VmType::Container, cfg)), "");
    EXPECT_EQ(err(queueVms(h, ns, "bar", VmType::Container, ns.vm_config)),
              "vm already queued with name `bar`");
    EXPECT_EQ(err(queueVms(h, ns, "baz", VmType::Container, cfg)),
              "vm already queued with UUID `u-1`");
    ASSERT_EQ(err(scheduleQueue(h, ns)), "");
    EXPECT_EQ(err(scheduleQueue(h, ns)),
              "namespace must contain at least one queued VM to launch VMs");
}

TEST(ServiceVm, Lifecycle) {
    Herd h = makeHerd();
    Namespace& ns = h.namespaces().active();
    ASSERT_EQ(err(queueVms(h, ns, "foo[0-2]", VmType::Container, ns.vm_config)), "");
    ASSERT_EQ(err(scheduleQueue(h, ns)), "");
    const std::string n = ns.name;
    EXPECT_EQ(states(h, n), "foo0=BUILDING foo1=BUILDING foo2=BUILDING ");
    EXPECT_EQ(err(startVms(h, n, "foo0")), "");
    EXPECT_EQ(err(startVms(h, n, "foo0")), "vm is already running");
    EXPECT_EQ(err(stopVms(h, n, "foo1")), "VM state error: foo1");
    EXPECT_EQ(err(stopVms(h, n, "nope")), "vm not found: nope");
    EXPECT_EQ(err(killVms(h, n, "foo0")), "");
    EXPECT_EQ(err(killVms(h, n, "foo1")), "");
    EXPECT_EQ(err(startVms(h, n, "all")), "");  // wild: QUIT VMs stay down
    EXPECT_EQ(states(h, n), "foo0=QUIT foo1=QUIT foo2=RUNNING ");
    EXPECT_EQ(err(startVms(h, n, "foo0")), "");  // named: relaunched
    EXPECT_EQ(err(stopVms(h, n, "0")), "");      // by id
    EXPECT_EQ(states(h, n), "foo0=PAUSED foo1=QUIT foo2=RUNNING ");
    EXPECT_EQ(err(flushVms(h, n, "foo0")), "VM state error: foo0");
    EXPECT_EQ(err(flushVms(h, n, "foo1")), "");
    EXPECT_EQ(err(killVms(h, n, "all")), "");
    flushAll(h, n);
    EXPECT_TRUE(h.vms().inNamespace(n).empty());
    // Ids are never reused.
    ASSERT_EQ(err(queueVms(h, ns, "foo0", VmType::Container, ns.vm_config)), "");
    ASSERT_EQ(err(scheduleQueue(h, ns)), "");
    EXPECT_EQ(h.vms().inNamespace(n)[0]->id, 3);
}

TEST(ServiceVm, NamespacesIsolateVms) {
    Herd h = makeHerd();
    Namespace& a = h.namespaces().getOrCreate("a");
    Namespace& b = h.namespaces().getOrCreate("b");
    ASSERT_EQ(err(queueVms(h, a, "foo", VmType::Container, a.vm_config)), "");
    ASSERT_EQ(err(scheduleQueue(h, a)), "");
    ASSERT_EQ(err(queueVms(h, b, "foo", VmType::Container, b.vm_config)), "");
    ASSERT_EQ(err(scheduleQueue(h, b)), "");
    EXPECT_EQ(err(startVms(h, "a", "all")), "");
    EXPECT_EQ(states(h, "a"), "foo=RUNNING ");
    EXPECT_EQ(states(h, "b"), "foo=BUILDING ");
    EXPECT_EQ(err(destroyNamespace(h, "a")), "");
    EXPECT_EQ(states(h, "a"), "");
    EXPECT_EQ(h.namespaces().find("a"), nullptr);
    EXPECT_EQ(err(destroyNamespace(h, "a")), "unknown namespace: a");
    EXPECT_EQ(err(destroyNamespace(h, "all")), "");
    EXPECT_TRUE(h.vms().empty());
}

}  // namespace
}  // namespace herd
