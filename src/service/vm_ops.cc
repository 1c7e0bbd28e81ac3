#include "service/vm_ops.h"

#include "service/guest_mounts.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <stdexcept>

#include "service/capture.h"
#include "service/cc.h"
#include "service/gostr.h"
#include "service/hostnet.h"
#include "service/names.h"
#include "service/tap_mirror.h"

namespace herd {

Result<void> joinErrors(const std::vector<std::string>& errors) {
    if (errors.empty()) return Ok();
    std::string text;
    for (size_t i = 0; i < errors.size(); ++i) text += (i ? "\n" : "") + errors[i];
    return Error::msg(text);
}

namespace {

// The checks minimega makes when a VM is created at launch time.
Result<void> conflicts(Herd& herd, const std::string& ns, const std::string& name,
                       const VmConfig& config) {
    for (Vm* vm : herd.vms().inNamespace(ns)) {
        if (vm->type == VmType::Container && vm->config.filesystem == config.filesystem &&
            (!vm->config.snapshot || !config.snapshot))
            return Error::msg(
                fmt::format("filesystem conflict with vm {}: {}", vm->name, config.filesystem));
        if (vm->name == name) return Error::msg(fmt::format("duplicate VM name: {}", name));
        if (!config.uuid.empty() && vm->uuid() == config.uuid)
            return Error::msg(fmt::format("duplicate VM UUID: {}", config.uuid));
    }
    return Ok();
}

// A container's hostname (its name unless `vm config hostname` says
// otherwise) must fit the kernel's limit, checked here rather than failing
// later in sethostname.
Result<void> checkHostname(VmType type, std::string_view name, const std::string& hostname) {
    constexpr size_t kMaxHostname = 64;  // HOST_NAME_MAX
    if (type != VmType::Container) return Ok();
    if (!hostname.empty()) {
        if (hostname.size() <= kMaxHostname) return Ok();
        return Error::msg(
            fmt::format("invalid hostname: {} bytes, a container's hostname is at most {} bytes",
                        hostname.size(), kMaxHostname));
    }
    if (name.size() <= kMaxHostname) return Ok();
    return Error::msg(fmt::format(
        "invalid vm name: {} bytes, a container's name is its hostname, at most {} bytes (or set "
        "a shorter one with vm config hostname)",
        name.size(), kMaxHostname));
}

}  // namespace

ConfigContext configContext(Herd& herd, const std::string& ns) {
    ConfigContext ctx;
    ctx.filepath = herd.options().filepath;
    ctx.hostname = herd.options().hostname;
    ctx.hosts = {herd.options().hostname};
    ctx.lookup_vlan = [&herd, ns](const std::string& alias) {
        return herd.vlans().lookup(ns, alias);
    };
    return ctx;
}

Result<void> applyTarget(Herd& herd, const std::string& ns, std::string_view target,
                         const ApplyFn& fn) {
    auto t = parseTarget(target);
    if (!t) return t.error();
    auto names = t->names;
    auto ids = t->ids;

    std::vector<std::string> errors;
    std::map<std::string, bool> applied;  // by name and by id text
    for (Vm* vm : herd.vms().inNamespace(ns)) {
        if (!t->wild && !names.count(vm->name) && !ids.count(vm->id)) continue;
        names.erase(vm->name);
        ids.erase(vm->id);
        std::string name = vm->name, id = std::to_string(vm->id);
        bool ok = fn(*vm, t->wild, errors);
        applied[name] = ok;
        applied[id] = ok;
    }

    if (t->vals.size() == 1 && !t->wild) {
        const std::string& v = t->vals[0];
        auto id = go::atoi(v);
        std::string key = id.ok() ? std::to_string(*id) : v;
        if (names.size() + ids.size() == 1)
            errors.push_back(fmt::format("vm not found: {}", v));
        else if (!applied[key])
            errors.push_back(fmt::format("VM state error: {}", v));
    }
    return joinErrors(errors);
}

Result<void> queueVms(Herd& herd, Namespace& ns, std::string_view arg, VmType type,
                      VmConfig config) {
    auto expanded = expandLaunchNames(arg);
    if (!expanded) return expanded.error();
    const auto& names = *expanded;
    if (names.size() > 1 && !config.uuid.empty())
        return Error::msg("cannot launch multiple VMs with a pre-configured UUID");
    if (type == VmType::Container) HERD_TRY(herd.runtime().checkConfig(config));

    std::set<std::string> taken_name, taken_uuid;
    for (Vm* vm : herd.vms().inNamespace(ns.name)) {
        taken_name.insert(vm->name);
        taken_uuid.insert(vm->uuid());
    }
    for (auto& n : names) {
        if (taken_name.count(n))
            return Error::msg(fmt::format("vm already exists with name `{}`", n));
        if (!n.empty() && !validName(n))
            return Error::msg(fmt::format("{}: `{}`", invalidNameError(n), n));
        if (auto r = checkHostname(type, n, config.hostname); !r) return r.error();
    }
    if (!config.uuid.empty() && taken_uuid.count(config.uuid))
        return Error::msg(fmt::format("vm already exists with UUID `{}`", config.uuid));

    for (auto& q : ns.queue) {
        for (auto& n : q.names) taken_name.insert(n);
        taken_uuid.insert(q.config.uuid);
    }
    for (auto& n : names)
        if (!n.empty() && taken_name.count(n))
            return Error::msg(fmt::format("vm already queued with name `{}`", n));
    if (!config.uuid.empty() && taken_uuid.count(config.uuid))
        return Error::msg(fmt::format("vm already queued with UUID `{}`", config.uuid));

    ns.queue.push_back({names, type, std::move(config)});
    return Ok();
}

Result<void> scheduleQueue(Herd& herd, Namespace& ns,
                           const std::function<void(const std::string&)>& progress) {
    if (ns.queue.empty())
        return Error::msg("namespace must contain at least one queued VM to launch VMs");
    Runtime& rt = herd.runtime();
    size_t containers = 0, with_cc = 0;
    for (const auto& q : ns.queue) {
        if (q.type != VmType::Container) continue;
        containers += q.names.size();
        if (q.config.backchannel) with_cc += q.names.size();
    }
    // A launch the host cannot hold is refused whole, before it starts: a
    // queue built with `ns queueing` stays for another try; one made by
    // this very command goes with it.
    if (auto fits = rt.checkCapacity(containers, with_cc); !fits.ok()) {
        if (!ns.queueing) ns.queue.clear();
        return fits.error();
    }
    auto queue = std::move(ns.queue);
    ns.queue.clear();

    std::vector<std::string> errors;
    std::vector<Vm*> created;
    for (auto& q : queue) {
        for (auto name : q.names) {
            if (name.empty()) name = fmt::format("vm-{}", ns.vm_counter++);
            if (auto c = conflicts(herd, ns.name, name, q.config); !c) {
                errors.push_back(c.error().text());
                continue;
            }
            created.push_back(&herd.vms().create(name, ns.name, herd.options().hostname, q.type,
                                                 q.config, herd.options().base));
        }
    }
    // Batches, so that the runtime can launch in parallel; a large launch
    // in chunks, each followed by a progress line.
    std::vector<Result<void>> results;
    results.reserve(created.size());
    for (size_t at = 0; at < created.size(); at += kLaunchChunk) {
        const size_t end = std::min(created.size(), at + kLaunchChunk);
        auto chunk = rt.launchMany({created.begin() + at, created.begin() + end});
        std::move(chunk.begin(), chunk.end(), std::back_inserter(results));
        if (progress && created.size() > kLaunchChunk) {
            progress(fmt::format("vm launch: {} of {} launched", end, created.size()));
        }
    }
    for (size_t i = 0; i < created.size(); ++i) {
        if (results[i]) continue;
        Vm& vm = *created[i];
        if (vm.state != VmState::Error) {
            vm.state = VmState::Error;
            vm.tags()["error"] = results[i].error().text();
            herd.runtime().saveRecords({&vm});
        }
        errors.push_back(results[i].error().text());
    }
    return joinErrors(errors);
}

// Applies the target, then hands every selected VM to `batch` at once.
// `select` answers kSkip (does not apply in this state), kBatch, or kHandled
// (applies, already answered with an error).
enum Selection { kSkip, kBatch, kHandled };

template <typename Select, typename Batch>
Result<void> batchTarget(Herd& herd, const std::string& ns, std::string_view target, Select select,
                         Batch batch) {
    std::vector<Vm*> todo;
    auto r = applyTarget(herd, ns, target, [&](Vm& vm, bool wild, std::vector<std::string>& errs) {
        Selection sel = select(vm, wild, errs);
        if (sel == kBatch) todo.push_back(&vm);
        return sel != kSkip;
    });
    std::vector<std::string> errors;
    if (!r) errors.push_back(r.error().text());
    auto results = batch(todo);
    for (auto& x : results)
        if (!x) errors.push_back(x.error().text());
    return joinErrors(errors);
}

Result<void> startVms(Herd& herd, const std::string& ns, std::string_view target) {
    Runtime& rt = herd.runtime();
    return batchTarget(
        herd, ns, target,
        [&](Vm& vm, bool wild, std::vector<std::string>& errs) {
            switch (vm.state) {
                case VmState::Building:
                case VmState::Paused:
                    return kBatch;
                case VmState::Quit:
                case VmState::Error:
                    return wild ? kSkip : kBatch;
                case VmState::Running:
                    if (wild) return kSkip;
                    errs.push_back("vm is already running");
                    return kHandled;
            }
            return kSkip;
        },
        [&](const std::vector<Vm*>& vms) { return rt.startMany(vms); });
}

Result<void> stopVms(Herd& herd, const std::string& ns, std::string_view target) {
    Runtime& rt = herd.runtime();
    return applyTarget(herd, ns, target, [&](Vm& vm, bool, std::vector<std::string>& errs) {
        if (vm.state != VmState::Running) return false;
        if (auto r = rt.stop(vm); !r) errs.push_back(r.error().text());
        return true;
    });
}

namespace {

// What the services beside the VMs drop before these VMs' containers go:
// captures and mirrors of their veths (while the veths exist), `cc mount`s
// of their root filesystems.
void vmsGoing(Herd& herd, const std::vector<Vm*>& vms) {
    captureVmsDown(herd, vms);
    tapMirrorVmsDown(herd, vms);
    if (GuestMounts* gm = herd.guestMountsIfAny()) gm->vmsDown(vms);
}

}  // namespace

Result<void> killVms(Herd& herd, const std::string& ns, std::string_view target) {
    Runtime& rt = herd.runtime();
    return batchTarget(
        herd, ns, target,
        [&](Vm& vm, bool, std::vector<std::string>&) {
            return inStates(vm.state, kKillable) ? kBatch : kSkip;
        },
        [&](const std::vector<Vm*>& vms) {
            vmsGoing(herd, vms);
            return rt.killMany(vms);
        });
}

Result<void> flushVms(Herd& herd, const std::string& ns, std::string_view target) {
    Runtime& rt = herd.runtime();
    return batchTarget(
        herd, ns, target,
        [&](Vm& vm, bool, std::vector<std::string>&) {
            return inStates(vm.state, static_cast<unsigned>(VmState::Quit) |
                                          static_cast<unsigned>(VmState::Error))
                       ? kBatch
                       : kSkip;
        },
        [&](const std::vector<Vm*>& vms) {
            vmsGoing(herd, vms);
            auto results = rt.flushMany(vms);
            for (size_t i = 0; i < vms.size(); ++i)
                if (results[i]) herd.vms().erase(vms[i]->id);
            return results;
        });
}

void flushAll(Herd& herd, const std::string& ns) {
    std::vector<Vm*> done;
    for (Vm* vm : herd.vms().inNamespace(ns))
        if (inStates(vm->state,
                     static_cast<unsigned>(VmState::Quit) | static_cast<unsigned>(VmState::Error)))
            done.push_back(vm);
    // minimega logs flush failures and forgets the VMs anyway.
    vmsGoing(herd, done);
    (void)herd.runtime().flushMany(done);
    for (Vm* vm : done) herd.vms().erase(vm->id);
}

Result<void> destroyNamespace(Herd& herd, const std::string& name) {
    std::vector<std::string> targets;
    if (name == kWildcard)
        targets = herd.namespaces().names();
    else if (herd.namespaces().find(name))
        targets = {name};
    else
        return Error::msg(fmt::format("unknown namespace: {}", name));

    Runtime& rt = herd.runtime();
    for (auto& ns : targets) {
        captureClearNamespace(herd, ns);  // while the switches are there
        tapMirrorClearNamespace(herd, ns);
        std::vector<Vm*> live;
        for (Vm* vm : herd.vms().inNamespace(ns))
            if (inStates(vm->state, kKillable)) live.push_back(vm);
        (void)rt.killMany(live);
        auto all = herd.vms().inNamespace(ns);
        (void)rt.flushMany(all);
        for (Vm* vm : all) herd.vms().erase(vm->id);
        herd.vlans().clearNamespace(ns);
        ccClearNamespace(herd, ns);
        if (GuestMounts* gm = herd.guestMountsIfAny()) (void)gm->remove(ns, "");
        hostnetClearNamespace(herd, ns);
        herd.namespaces().erase(ns);
    }
    // With every namespace gone no VLAN is in use any more (minimega's
    // `clear all` also runs `clear vlans all`).
    if (name == kWildcard) herd.vlans().reset();
    return Ok();
}

}  // namespace herd
