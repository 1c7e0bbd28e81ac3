#include "service/guest_mounts.h"

#include <sys/stat.h>

#include <charconv>

#include "base/log.h"
#include "base/strings.h"

namespace herd {

namespace {

constexpr const char* kRecord = "guest-mounts";
constexpr size_t kRecordMax = 4 << 20;

// One line per mount: "<mount id> <path>".
std::vector<runtime::GuestMount> parseRecord(const std::string& text) {
    std::vector<runtime::GuestMount> out;
    for (const auto& line : split(text, "\n")) {
        auto sp = line.find(' ');
        if (sp == std::string::npos) continue;
        uint64_t id = 0;
        auto [p, ec] = std::from_chars(line.data(), line.data() + sp, id);
        if (ec != std::errc() || p != line.data() + sp || line.size() <= sp + 1) continue;
        out.push_back({line.substr(sp + 1), id});
    }
    return out;
}

Result<void> allOf(const std::vector<std::string>& errors) {
    if (errors.empty()) return Ok();
    std::string text;
    for (const auto& e : errors) text += (text.empty() ? "" : "\n") + e;
    return Error::msg(text);
}

}  // namespace

GuestMounts::~GuestMounts() {
    std::vector<std::string> errors;
    while (!mounts_.empty()) removeAt(mounts_.size() - 1, errors);
    for (const auto& e : errors) HERD_LOG(warn, "cc mount: {}", e);
}

Result<void> GuestMounts::add(Runtime& rt, const std::string& ns, const Vm& vm,
                              const std::string& path) {
    if (path.empty()) return Error::msg("must provide a mount path");
    if (path.find('\n') != std::string::npos)
        return Error::msg("mount path may not contain a newline");
    if (path[0] != '/') return Error::msg("mount path must be absolute: " + path);
    for (const auto& m : mounts_) {
        if (m.vm_id == vm.id) return Error::msg("already mounted at " + m.mount.target);
        if (m.mount.target == path)
            return Error::msg("mount point in use by " + m.vm_name + ": " + path);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return Error::msg("mount point does not exist");
    auto m = rt.mountRoot(vm, path);
    if (!m.ok()) return m.error();
    mounts_.push_back({ns, vm.id, vm.name, vm.uuid(), *m});
    save();
    return Ok();
}

void GuestMounts::removeAt(size_t i, std::vector<std::string>& errors) {
    if (auto r = runtime::unmountGuestRoot(mounts_[i].mount); !r.ok())
        errors.push_back(r.error().text());
    mounts_.erase(mounts_.begin() + static_cast<std::ptrdiff_t>(i));
}

Result<void> GuestMounts::remove(const std::string& ns, const std::string& key) {
    std::vector<std::string> errors;
    for (size_t i = mounts_.size(); i-- > 0;) {
        const CcMount& m = mounts_[i];
        if (m.ns != ns) continue;
        if (key.empty() || key == m.uuid || key == m.vm_name || key == m.mount.target)
            removeAt(i, errors);
    }
    save();
    return allOf(errors);
}

std::vector<const CcMount*> GuestMounts::list(const std::string& ns) const {
    std::vector<const CcMount*> out;
    for (const auto& m : mounts_)
        if (m.ns == ns) out.push_back(&m);
    return out;
}

void GuestMounts::vmsDown(const std::vector<Vm*>& vms) {
    std::vector<std::string> errors;
    bool changed = false;
    for (const Vm* vm : vms) {
        for (size_t i = mounts_.size(); i-- > 0;) {
            if (mounts_[i].vm_id != vm->id) continue;
            removeAt(i, errors);
            changed = true;
        }
    }
    if (changed) save();
    for (const auto& e : errors) HERD_LOG(warn, "cc mount: {}", e);
}

void GuestMounts::save() {
    if (!base_ || !base_->valid()) return;
    if (mounts_.empty()) {
        (void)base_->unlink(kRecord);
        return;
    }
    std::string text;
    for (const auto& m : mounts_)
        text += std::to_string(m.mount.mnt_id) + " " + m.mount.target + "\n";
    if (auto r = base_->writeFileAtomic(kRecord, text, 0600); !r.ok())
        HERD_LOG(warn, "cc mount: {}", r.error().text());
}

Result<void> nukeGuestMounts(const Dir& base) {
    auto text = base.readFile(kRecord, kRecordMax);
    if (!text.ok()) return Ok();  // no record: nothing was mounted
    std::vector<std::string> errors;
    for (const auto& m : parseRecord(*text)) {
        if (auto r = runtime::unmountGuestRoot(m); !r.ok()) errors.push_back(r.error().text());
    }
    HERD_TRY(allOf(errors));
    return base.unlink(kRecord);
}

}  // namespace herd
