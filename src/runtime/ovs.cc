#include "runtime/ovs.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "base/log.h"
#include "runtime/ovsdb.h"

namespace herd::runtime {

namespace {

using ovsdb::Json;
using Clock = std::chrono::steady_clock;

Json tagMap(std::string_view prefix) {
    return ovsdb::strMap({{std::string(kOvsPrefixKey), std::string(prefix)}});
}

bool isTagged(const Json& external_ids, std::string_view prefix) {
    if (!external_ids.is_array() || external_ids.size() != 2 || !external_ids[1].is_array()) {
        return false;
    }
    for (const auto& kv : external_ids[1]) {
        if (kv.is_array() && kv.size() == 2 && kv[0] == kOvsPrefixKey && kv[1] == prefix) {
            return true;
        }
    }
    return false;
}

Json selectOp(const std::string& table, Json where, Json columns) {
    return {{"op", "select"}, {"table", table}, {"where", std::move(where)}, {"columns", columns}};
}

Json insertOp(const std::string& table, Json row, const std::string& uuid_name) {
    return {{"op", "insert"}, {"table", table}, {"row", std::move(row)}, {"uuid-name", uuid_name}};
}

Json mutateOp(const std::string& table, Json where, Json mutations) {
    return {{"op", "mutate"},
            {"table", table},
            {"where", std::move(where)},
            {"mutations", std::move(mutations)}};
}

Json byUuid(const std::string& u) {
    return Json::array({ovsdb::cond("_uuid", "==", ovsdb::uuid(u))});
}

// Takes the Port rows `uuids` (and Mirror rows `mirrors`) off the bridge row
// `bridge` (unreferenced, they are dropped in the same commit).
Json deletePortsOp(const std::string& bridge, Json::array_t uuids, Json::array_t mirrors = {}) {
    Json mutations = Json::array();
    if (!uuids.empty()) {
        mutations.push_back(Json::array({"ports", "delete", ovsdb::set(std::move(uuids))}));
    }
    if (!mirrors.empty()) {
        mutations.push_back(Json::array({"mirrors", "delete", ovsdb::set(std::move(mirrors))}));
    }
    return mutateOp("Bridge", byUuid(bridge), std::move(mutations));
}

// Every Port, Bridge, Mirror and QoS row: what nuke and reconciliation decide on.
struct Inventory {
    struct Row {
        std::string uuid;
        std::string name;
        bool ours = false;
        std::vector<std::string> ports, mirrors;  // bridges only
    };
    std::vector<Row> ports, bridges, mirrors, qos;
};

Result<Inventory> inventory(ovsdb::Client& c, std::string_view prefix) {
    Json ops = Json::array(
        {selectOp("Port", Json::array(), {"_uuid", "name", "external_ids"}),
         selectOp("Bridge", Json::array(), {"_uuid", "name", "ports", "mirrors", "external_ids"}),
         selectOp("Mirror", Json::array(), {"_uuid", "name", "external_ids"}),
         selectOp("QoS", Json::array(), {"_uuid", "external_ids"})});
    auto r = c.transact(ops);
    if (!r.ok()) return r.error();
    Inventory inv;
    for (int t = 0; t < 4; ++t) {
        for (const auto& row : (*r)[t].value("rows", Json::array())) {
            Inventory::Row x;
            x.uuid = ovsdb::uuidOf(row["_uuid"]).value_or("");
            x.name = row.value("name", "");
            x.ours = isTagged(row["external_ids"], prefix);
            if (t == 1) {
                for (const auto& p : ovsdb::setItems(row["ports"])) {
                    if (auto u = ovsdb::uuidOf(p)) x.ports.push_back(*u);
                }
                for (const auto& m : ovsdb::setItems(row["mirrors"])) {
                    if (auto u = ovsdb::uuidOf(m)) x.mirrors.push_back(*u);
                }
            }
            std::vector<Inventory::Row>* tables[] = {&inv.ports, &inv.bridges, &inv.mirrors,
                                                     &inv.qos};
            tables[t]->push_back(std::move(x));
        }
    }
    return inv;
}

// A wait operation that aborts its transaction unless the bridge's ports are
// still exactly `ports`.
Json portsUnchanged(const std::string& bridge, const std::vector<std::string>& ports) {
    Json::array_t set;
    for (const auto& p : ports) set.push_back(ovsdb::uuid(p));
    return {{"op", "wait"},
            {"table", "Bridge"},
            {"where", byUuid(bridge)},
            {"columns", Json::array({"ports"})},
            {"until", "=="},
            {"rows", Json::array({{{"ports", ovsdb::set(std::move(set))}}})},
            {"timeout", 0}};
}

bool waitFailed(const Error& e) {
    return e.text().rfind("ovsdb transaction failed: wait ", 0) == 0;
}

Result<void> cleanupOnce(ovsdb::Client& c, std::string_view prefix,
                         const std::set<std::string>& keep) {
    auto inv = inventory(c, prefix);
    if (!inv.ok()) return inv.error();
    std::set<std::string> doomed;
    std::map<std::string, std::string> port_name;
    for (const auto& p : inv->ports) {
        port_name[p.uuid] = p.name;
        if (p.ours && !keep.count(p.uuid)) doomed.insert(p.uuid);
    }
    for (const auto& m : inv->mirrors) {
        if (m.ours && !keep.count(m.uuid)) doomed.insert(m.uuid);
    }
    Json ops = Json::array();
    Json gone_bridges = Json::array();
    for (const auto& b : inv->bridges) {
        Json::array_t del, del_mirrors;
        bool others = false;
        for (const auto& pu : b.ports) {
            if (doomed.count(pu)) {
                del.push_back(ovsdb::uuid(pu));
            } else if (port_name[pu] != b.name) {  // not the bridge's own local port
                others = true;
            }
        }
        for (const auto& mu : b.mirrors) {
            if (doomed.count(mu)) del_mirrors.push_back(ovsdb::uuid(mu));
        }
        if (b.ours && !keep.count(b.uuid) && !others) {
            // Decided on the ports read above: if someone adds one meanwhile,
            // the wait aborts the transaction rather than delete it too.
            ops.push_back(portsUnchanged(b.uuid, b.ports));
            gone_bridges.push_back(ovsdb::uuid(b.uuid));  // its ports go with it
        } else if (!del.empty() || !del_mirrors.empty()) {
            ops.push_back(deletePortsOp(b.uuid, std::move(del), std::move(del_mirrors)));
        }
    }
    if (!gone_bridges.empty()) {
        ops.push_back(
            mutateOp("Open_vSwitch", Json::array(),
                     Json::array({Json::array({"bridges", "delete", ovsdb::set(gone_bridges)})})));
    }
    // QoS rows are roots (they outlive their ports): ours go explicitly. The
    // doomed ports let go of them first, as ovsdb checks references before it
    // collects the unreferenced ports.
    bool qos_doomed = false;
    for (const auto& q : inv->qos) {
        if (!q.ours || keep.count(q.uuid)) continue;
        ops.push_back({{"op", "delete"}, {"table", "QoS"}, {"where", byUuid(q.uuid)}});
        qos_doomed = true;
    }
    if (qos_doomed) {
        for (const auto& p : inv->ports) {
            if (!doomed.count(p.uuid)) continue;
            ops.push_back({{"op", "update"},
                           {"table", "Port"},
                           {"where", byUuid(p.uuid)},
                           {"row", {{"qos", ovsdb::set({})}}}});
        }
    }
    if (ops.empty()) return Ok();
    auto r = c.transact(ops);
    if (!r.ok()) return r.error();
    return Ok();
}

// Removes the ports tagged with `prefix` and the bridges tagged with it that
// carry no one else's port, except the rows whose uuid is in `keep`. One
// transaction, guarded: when a bridge's ports changed between the read and
// the write, it is read again (and a bridge that got someone's port is kept).
Result<void> cleanup(ovsdb::Client& c, std::string_view prefix, const std::set<std::string>& keep) {
    constexpr int kTries = 5;
    for (int i = 1;; ++i) {
        auto r = cleanupOnce(c, prefix, keep);
        if (r.ok() || i == kTries || !waitFailed(r.error())) return r;
        HERD_LOG(info, "ovs cleanup: a bridge's ports changed meanwhile: reading again");
    }
}

bool softConnectError(const Error& e) {
    return e.errnum() == ENOENT || e.errnum() == ECONNREFUSED;
}

class OvsBackend : public SwitchBackend {
  public:
    OvsBackend(OvsOptions o, ovsdb::Client c) : opts_(std::move(o)), client_(std::move(c)) {}

    std::string_view kind() const override { return "ovs"; }

    Result<PortPlan> prepare(const std::string& bridge, int vlan) override {
        if (vlan < 0 || vlan > 4095) {
            return Error::msg("invalid vlan " + std::to_string(vlan) + " for bridge " + bridge);
        }
        if (bridge.empty()) return Error::msg("empty bridge name");
        // An OVS bridge is also a host interface of that name.
        if (bridge.size() > kMaxIfName) return Error::msg("bridge name over 15 bytes: " + bridge);
        std::lock_guard lock(mu_);
        HERD_TRY(ensureBridge(bridge));
        pairs_.insert({bridge, vlan});
        PortPlan p;
        p.switch_name = bridge;
        p.vlan = vlan;
        return p;
    }

    Result<void> attach(Netlink&, const std::string& port, const PortPlan& plan) override {
        std::lock_guard lock(mu_);
        return addPorts({{port, plan.switch_name, plan.vlan, false, "", nullptr}});
    }

    Result<void> attachMany(const std::vector<PortRequest>& ports) override {
        std::vector<NewPort> add;
        for (const auto& p : ports)
            add.push_back({p.name, p.plan.switch_name, p.plan.vlan, false, "", nullptr});
        std::lock_guard lock(mu_);
        return addPorts(add);
    }

    Result<void> detach(Netlink&, const std::string& port) override {
        std::lock_guard lock(mu_);
        return removePorts({port}, /*wait=*/true);
    }

    Result<void> releasePorts(const std::vector<std::string>& ports) override {
        std::lock_guard lock(mu_);
        return removePorts(ports, /*wait=*/false);
    }

    Result<void> createHostPort(Netlink& nl, const std::string& name,
                                const PortPlan& plan) override {
        if (name.empty() || name.size() > kMaxIfName) {
            return Error::msg("tap " + name + ": interface names are 1 to 15 bytes");
        }
        {
            std::lock_guard lock(mu_);
            if (ports_.count(name)) return Error::msg("tap " + name + ": already exists");
            HERD_TRY(addPorts({{name, plan.switch_name, plan.vlan, true, "", nullptr}}));
        }
        // ovs-vswitchd made the interface while applying the change.
        auto up = nl.setUp(name);
        if (!up.ok()) {
            std::lock_guard lock(mu_);
            (void)removePorts({name}, /*wait=*/true);
            return up.error();
        }
        return Ok();
    }

    Result<void> deleteHostPort(Netlink&, const std::string& name) override {
        std::lock_guard lock(mu_);
        auto it = ports_.find(name);
        if (it == ports_.end() || !it->second.host) {
            return Error::msg("tap " + name + ": not a host tap of this switch");
        }
        return removePorts({name}, /*wait=*/true);
    }

    // As minimega: an internal port without a tag (frames keep their VLAN
    // tags) and a Mirror row selecting everything on the bridge with that
    // port as its output, in one transaction.
    Result<std::vector<std::string>> openCapture(Netlink& nl, const std::string& bridge,
                                                 const std::string& mirror) override {
        {
            std::lock_guard lock(mu_);
            if (!bridges_.count(bridge)) return Error::msg("bridge not found: " + bridge);
            if (ports_.count(mirror)) return Error::msg("port " + mirror + ": already exists");
            HERD_TRY(addMirror(bridge, mirror));
        }
        auto up = nl.setUp(mirror);
        if (!up.ok()) {
            std::lock_guard lock(mu_);
            (void)removeMirror(mirror);
            return up.error();
        }
        return std::vector<std::string>{mirror};
    }

    Result<void> releaseCapture(Netlink&, const std::string& mirror) override {
        std::lock_guard lock(mu_);
        return removeMirror(mirror);
    }

    // As minimega: a Mirror row `mirror-<dst>` selecting what `src` sends
    // and receives, with `dst` as its output port. ovs-vswitchd applies a
    // Mirror row (added or removed) to the flows it translates afterwards;
    // it does not revalidate the datapath flows it has cached, so a busy
    // conversation keeps its old mirroring until some other change (a port,
    // a learned MAC) revalidates them or the flow goes idle (10 s).
    Result<void> addTapMirror(Netlink&, const std::string& bridge, const std::string& src,
                              const std::string& dst) override {
        std::lock_guard lock(mu_);
        auto on = [&](const std::string& name) {
            auto it = ports_.find(name);
            // A capture's mirror port is no tap.
            return it != ports_.end() && it->second.bridge == bridge && !mirrors_.count(name);
        };
        if (!on(src)) return Error::msg("source tap is not on bridge");
        if (!on(dst)) return Error::msg("destination tap is not on bridge");
        if (tap_mirrors_.count(dst)) return Error::msg("destination tap is already a mirror");
        Json ops = Json::array(
            {insertOp("Mirror",
                      {{"name", "mirror-" + dst},
                       {"select_src_port", ovsdb::uuid(ports_[src].uuid)},
                       {"select_dst_port", ovsdb::uuid(ports_[src].uuid)},
                       {"output_port", ovsdb::uuid(ports_[dst].uuid)},
                       {"external_ids", tagMap(opts_.prefix)}},
                      "mirror"),
             mutateOp("Bridge", byUuid(bridges_[bridge].uuid),
                      Json::array({Json::array(
                          {"mirrors", "insert", ovsdb::set({ovsdb::namedUuid("mirror")})})}))});
        appendCfgBump(ops);
        auto r = transact(ops);
        if (!r.ok()) return r.error().wrap("mirror " + src + " to " + dst);
        if ((*r)[1].value("count", 0) != 1) {
            bridges_.erase(bridge);
            return Error::msg("open vswitch bridge " + bridge + " was removed by someone else");
        }
        tap_mirrors_[dst] = {ovsdb::uuidOf((*r)[0]["uuid"]).value_or(""), bridge, src};
        return waitApplied(cfgOf(*r), 1);
    }

    Result<void> removeTapMirror(Netlink&, const std::string& dst) override {
        std::lock_guard lock(mu_);
        if (!tap_mirrors_.count(dst)) return Error::msg("not a valid mirror");
        auto r = removeTapMirrors({dst});
        if (!r.ok()) return Error::msg("delete mirror failed: " + r.error().text());
        return Ok();
    }

    // As `ovs-vsctl add-port <bridge> <iface>`: a port without a tag.
    Result<void> addTrunk(Netlink&, const std::string& bridge, const std::string& iface) override {
        std::lock_guard lock(mu_);
        if (auto it = uplinks_.find(iface); it != uplinks_.end() && it->second.bridge == bridge)
            return Error::msg("bridge already trunking to " + iface);
        if (bridge.size() > kMaxIfName) return Error::msg("bridge name over 15 bytes: " + bridge);
        HERD_TRY(ensureBridge(bridge));
        HERD_TRY(notAPort(iface));
        if (auto r = addPorts({{iface, bridge, -1, false, "", nullptr}}); !r.ok())
            return r.error().wrap("add port failed");
        uplinks_[iface] = {bridge, false};
        return Ok();
    }

    // As `ovs-vsctl add-port <bridge> <name> -- set interface <name>
    // type=vxlan|gre options:remote_ip=<ip> [options:key=<key>]`.
    Result<void> addTunnel(Netlink&, const std::string& bridge, const TunnelSpec& t) override {
        std::lock_guard lock(mu_);
        if (bridge.size() > kMaxIfName) return Error::msg("bridge name over 15 bytes: " + bridge);
        HERD_TRY(ensureBridge(bridge));
        HERD_TRY(notAPort(t.name));
        std::vector<std::pair<std::string, std::string>> options{{"remote_ip", ipText(t.remote)}};
        if (t.key) options.emplace_back("key", std::to_string(*t.key));
        if (auto r = addPorts({{t.name, bridge, -1, false, t.type, ovsdb::strMap(options)}});
            !r.ok())
            return r.error().wrap("add tunnel failed");
        uplinks_[t.name] = {bridge, true};
        return Ok();
    }

    Result<void> removeUplink(Netlink&, const std::string& bridge, const std::string& iface,
                              bool tunnel) override {
        std::lock_guard lock(mu_);
        auto it = uplinks_.find(iface);
        if (it == uplinks_.end() || it->second.bridge != bridge || it->second.tunnel != tunnel)
            return Error::msg(std::string(tunnel ? "unknown tunnel: " : "unknown trunk: ") + iface);
        auto r = removePorts({iface}, /*wait=*/true);
        if (!r.ok()) return r.error().wrap("remove port failed");
        uplinks_.erase(iface);
        return Ok();
    }

    std::vector<Uplink> uplinks() const override {
        std::lock_guard lock(mu_);
        std::vector<Uplink> out;
        for (const auto& [name, u] : uplinks_) out.push_back({u.bridge, name, u.tunnel});
        return out;
    }

    bool hasBridge(const std::string& bridge) const override {
        std::lock_guard lock(mu_);
        return bridges_.count(bridge) > 0;
    }

    // As `ovs-vsctl set bridge <bridge> <key>=<value>`: `column=value`
    // (true/false and integers as such, anything else a string), or
    // `column:key=value` for a map column (other_config, external_ids).
    Result<void> setBridgeConfig(const std::string& bridge, const std::string& key,
                                 const std::string& value) override {
        std::lock_guard lock(mu_);
        if (bridge.size() > kMaxIfName) return Error::msg("bridge name over 15 bytes: " + bridge);
        HERD_TRY(ensureBridge(bridge));
        Json ops = Json::array();
        auto colon = key.find(':');
        if (colon != std::string::npos) {
            const std::string column = key.substr(0, colon), k = key.substr(colon + 1);
            ops.push_back(mutateOp(
                "Bridge", byUuid(bridges_[bridge].uuid),
                Json::array({Json::array({column, "delete", ovsdb::set({Json(k)})}),
                             Json::array({column, "insert", ovsdb::strMap({{k, value}})})})));
        } else {
            Json v = value;
            if (value == "true" || value == "false") {
                v = value == "true";
            } else if (!value.empty() &&
                       value.find_first_not_of("0123456789") == std::string::npos &&
                       value.size() < 18) {
                v = std::stoll(value);
            }
            ops.push_back({{"op", "update"},
                           {"table", "Bridge"},
                           {"where", byUuid(bridges_[bridge].uuid)},
                           {"row", {{key, v}}}});
        }
        appendCfgBump(ops);
        auto r = transact(ops);
        if (!r.ok()) return Error::msg("set config failed: " + r.error().text());
        return waitApplied(cfgOf(*r), 1);
    }

    Result<void> destroyBridge(Netlink&, const std::string& bridge) override {
        std::lock_guard lock(mu_);
        auto b = bridges_.find(bridge);
        if (b == bridges_.end()) return Error::msg("bridge not found: " + bridge);
        std::vector<std::string> ours;
        for (const auto& [name, p] : ports_)
            if (p.bridge == bridge) ours.push_back(name);
        for (const auto& n : ours) uplinks_.erase(n);
        if (!b->second.created) {
            HERD_TRY(removePorts(ours, /*wait=*/true));
        } else {
            // Its ports and mirrors go with it (unreferenced rows).
            Json ops = Json::array({mutateOp(
                "Open_vSwitch", Json::array(),
                Json::array({Json::array(
                    {"bridges", "delete", ovsdb::set({ovsdb::uuid(b->second.uuid)})})}))});
            appendCfgBump(ops);
            auto r = transact(ops);
            if (!r.ok()) return r.error().wrap("delete bridge " + bridge);
            for (const auto& n : ours) {
                ports_.erase(n);
                mirrors_.erase(n);
            }
            for (auto it = tap_mirrors_.begin(); it != tap_mirrors_.end();)
                it = it->second.bridge == bridge ? tap_mirrors_.erase(it) : std::next(it);
            HERD_TRY(waitApplied(cfgOf(*r), ours.size()));
        }
        bridges_.erase(bridge);
        for (auto it = pairs_.begin(); it != pairs_.end();)
            it = it->first == bridge ? pairs_.erase(it) : std::next(it);
        return Ok();
    }

    Result<void> shutdown() override {
        std::lock_guard lock(mu_);
        auto c = client();
        if (!c.ok()) return c.error();
        auto r = cleanup(**c, opts_.prefix, {});
        clearState();
        return r;
    }

    void forget() override {
        std::lock_guard lock(mu_);
        clearState();
    }

    std::vector<SwitchInfo> switches() const override {
        std::lock_guard lock(mu_);
        std::vector<SwitchInfo> out;
        for (const auto& [bridge, vlan] : pairs_) {
            auto it = bridges_.find(bridge);
            if (it == bridges_.end()) continue;
            out.push_back({bridge, vlan, bridge, it->second.created});
        }
        return out;
    }

  private:
    struct NewPort {
        std::string name;
        std::string bridge;
        int vlan = 0;       // the port's tag; -1: none (a trunk, all VLANs tagged)
        bool host = false;  // an internal port (host tap)
        std::string type;   // the interface's type ("" = a system interface)
        Json options;       // the interface's options (null = none)
    };
    struct Port {
        std::string uuid;
        std::string bridge;
        bool host = false;
    };
    struct Bridge {
        std::string uuid;
        bool created = false;
    };

    Result<void> ensureBridge(const std::string& bridge) {
        if (bridges_.count(bridge)) return Ok();
        auto r = findOrCreateBridge(bridge);
        if (!r.ok()) return r.error().wrap("open vswitch bridge " + bridge);
        return Ok();
    }

    // An interface already on an Open vSwitch bridge (herd's or anyone's)
    // cannot be made a trunk or tunnel.
    Result<void> notAPort(const std::string& iface) {
        auto r = transact(Json::array(
            {selectOp("Port", Json::array({ovsdb::cond("name", "==", iface)}), {"_uuid"})}));
        if (!r.ok()) return r.error();
        if (!(*r)[0]["rows"].empty()) {
            return Error::msg("add port failed: " + iface +
                              " is already a port of an open vswitch bridge");
        }
        return Ok();
    }

    void clearState() {
        uplinks_.clear();
        ports_.clear();
        bridges_.clear();
        pairs_.clear();
        mirrors_.clear();
        tap_mirrors_.clear();
        noop_qos_.clear();
    }

    std::set<std::string> knownUuids() const {
        std::set<std::string> keep;
        for (const auto& [n, p] : ports_) keep.insert(p.uuid);
        for (const auto& [n, b] : bridges_) keep.insert(b.uuid);
        for (const auto& [n, m] : mirrors_) keep.insert(m);
        for (const auto& [n, m] : tap_mirrors_) keep.insert(m.uuid);
        if (!noop_qos_.empty()) keep.insert(noop_qos_);
        return keep;
    }

    // The connection, made again after a failure. A request that timed out
    // may still be committed by a server that was only slow: before anything
    // else, rows with our tag that we do not know of are removed.
    Result<ovsdb::Client*> client() {
        if (!client_.connected()) {
            auto c = ovsdb::Client::connect(opts_.db, opts_.timeout);
            if (!c.ok()) return c.error();
            client_ = std::move(*c);
        }
        if (reconcile_) {
            auto r = cleanup(client_, opts_.prefix, knownUuids());
            if (!r.ok()) return r.error();
            reconcile_ = false;
        }
        return &client_;
    }

    Result<Json> transact(const Json& ops) {
        auto c = client();
        if (!c.ok()) return c.error();
        auto r = (*c)->transact(ops);
        if (!r.ok() && !(*c)->connected()) reconcile_ = true;
        return r;
    }

    Result<void> findOrCreateBridge(const std::string& bridge) {
        auto found = transact(Json::array(
            {selectOp("Bridge", Json::array({ovsdb::cond("name", "==", bridge)}), {"_uuid"})}));
        if (!found.ok()) return found.error();
        const Json& rows = (*found)[0]["rows"];
        if (!rows.empty()) {
            bridges_[bridge] = {ovsdb::uuidOf(rows[0]["_uuid"]).value_or(""), false};
            return Ok();
        }
        // As `ovs-vsctl add-br`: the bridge with its local internal port.
        const std::string dp = opts_.datapath.empty() ? defaultOvsDatapath() : opts_.datapath;
        Json ops = Json::array(
            {insertOp("Interface", {{"name", bridge}, {"type", "internal"}}, "iface"),
             insertOp("Port", {{"name", bridge}, {"interfaces", ovsdb::namedUuid("iface")}},
                      "port"),
             insertOp("Bridge",
                      {{"name", bridge},
                       {"ports", ovsdb::namedUuid("port")},
                       {"datapath_type", dp},
                       {"external_ids", tagMap(opts_.prefix)}},
                      "br"),
             mutateOp("Open_vSwitch", Json::array(),
                      Json::array({Json::array(
                          {"bridges", "insert", ovsdb::set({ovsdb::namedUuid("br")})})}))});
        auto r = transact(ops);
        if (!r.ok()) return r.error();
        if ((*r)[3].value("count", 0) != 1) {
            return Error::msg("ovsdb at " + opts_.db + " has no Open_vSwitch row");
        }
        bridges_[bridge] = {ovsdb::uuidOf((*r)[2]["uuid"]).value_or(""), true};
        HERD_LOG(info, "created open vswitch bridge {} (datapath {})", bridge, dp);
        return Ok();
    }

    // Adds the ports (one transaction), waits until ovs-vswitchd has applied
    // it and checks that every interface opened; on failure nothing remains.
    // herd's linux-noop QoS row, deleted by someone else meanwhile, is made
    // again.
    Result<void> addPorts(const std::vector<NewPort>& add) {
        auto r = addPortsOnce(add);
        if (!r.ok() && !noop_qos_.empty() &&
            r.error().text().find("referential integrity") != std::string::npos) {
            noop_qos_.clear();  // someone deleted it
            r = addPortsOnce(add);
        }
        return r;
    }

    Result<void> addPortsOnce(const std::vector<NewPort>& add) {
        if (add.empty()) return Ok();
        Json ops = Json::array();
        // Rows of the same names still held (a removal that failed earlier).
        std::map<std::string, Json::array_t> stale;
        std::set<std::string> names;
        for (const auto& p : add) {
            if (!names.insert(p.name).second) return Error::msg("port " + p.name + " twice");
            if (!bridges_.count(p.bridge)) {
                return Error::msg("port " + p.name + ": bridge " + p.bridge + " is not set up");
            }
            if (auto it = ports_.find(p.name); it != ports_.end()) {
                stale[bridges_[it->second.bridge].uuid].push_back(ovsdb::uuid(it->second.uuid));
            }
        }
        for (auto& [bu, uuids] : stale) {
            ops.push_back(deletePortsOp(bu, std::move(uuids)));
        }
        // ovs-vswitchd manages the root qdisc of every port: one without a
        // QoS row gets its qdisc deleted when the port is added (a NIC moved
        // by `vm net connect` would lose its `qos`). A QoS row of type
        // linux-noop tells it to leave the qdisc to herd.
        std::optional<size_t> qos_op;
        Json noop = noop_qos_.empty() ? ovsdb::namedUuid("noopqos") : ovsdb::uuid(noop_qos_);
        std::map<std::string, Json::array_t> by_bridge;
        std::vector<size_t> port_op(add.size());
        for (size_t i = 0; i < add.size(); ++i) {
            const auto& p = add[i];
            Json iface{{"name", p.name}};
            if (p.host) iface["type"] = "internal";
            if (!p.type.empty()) iface["type"] = p.type;
            if (!p.options.is_null()) iface["options"] = p.options;
            ops.push_back(insertOp("Interface", iface, "i" + std::to_string(i)));
            Json port{{"name", p.name},
                      {"interfaces", ovsdb::namedUuid("i" + std::to_string(i))},
                      {"external_ids", tagMap(opts_.prefix)}};
            if (p.vlan >= 0) port["tag"] = p.vlan;
            if (!p.host) {
                port["qos"] = noop;
                if (noop_qos_.empty() && !qos_op) {
                    qos_op = ops.size();
                    ops.push_back(insertOp(
                        "QoS", {{"type", "linux-noop"}, {"external_ids", tagMap(opts_.prefix)}},
                        "noopqos"));
                }
            }
            port_op[i] = ops.size();
            ops.push_back(insertOp("Port", port, "p" + std::to_string(i)));
            by_bridge[p.bridge].push_back(ovsdb::namedUuid("p" + std::to_string(i)));
        }
        std::map<std::string, size_t> mutate_op;
        for (auto& [b, ports] : by_bridge) {
            mutate_op[b] = ops.size();
            ops.push_back(mutateOp(
                "Bridge", byUuid(bridges_[b].uuid),
                Json::array({Json::array({"ports", "insert", ovsdb::set(std::move(ports))})})));
        }
        appendCfgBump(ops);
        auto r = transact(ops);
        if (!r.ok()) return r.error();
        for (const auto& p : add) ports_.erase(p.name);  // the stale rows are gone
        if (qos_op) noop_qos_ = ovsdb::uuidOf((*r)[*qos_op]["uuid"]).value_or("");
        for (const auto& [b, idx] : mutate_op) {
            if ((*r)[idx].value("count", 0) != 1) {
                // Unreferenced, the new rows were dropped in the same commit.
                bridges_.erase(b);
                return Error::msg("open vswitch bridge " + b + " was removed by someone else");
            }
        }
        std::vector<std::string> added;
        for (size_t i = 0; i < add.size(); ++i) {
            ports_[add[i].name] = {ovsdb::uuidOf((*r)[port_op[i]]["uuid"]).value_or(""),
                                   add[i].bridge, add[i].host};
            added.push_back(add[i].name);
        }
        auto applied = waitApplied(cfgOf(*r), add.size());
        if (applied.ok()) applied = checkInterfaces(added);
        if (!applied.ok()) (void)removePorts(added, /*wait=*/false);
        return applied;
    }

    Result<void> removePorts(const std::vector<std::string>& names, bool wait) {
        // A tap mirror whose source or destination goes goes first (its
        // references to the ports are weak: it would stay, selecting nothing).
        std::vector<std::string> doomed;
        for (const auto& [d, m] : tap_mirrors_)
            if (std::find(names.begin(), names.end(), d) != names.end() ||
                std::find(names.begin(), names.end(), m.src) != names.end())
                doomed.push_back(d);
        if (!doomed.empty()) HERD_TRY(removeTapMirrors(doomed));
        std::map<std::string, Json::array_t> by_bridge;
        std::vector<std::string> known;
        for (const auto& n : names) {
            auto it = ports_.find(n);
            if (it == ports_.end()) continue;
            auto b = bridges_.find(it->second.bridge);
            if (b == bridges_.end()) {  // forgotten bridge: the rows went with it
                ports_.erase(it);
                continue;
            }
            by_bridge[b->second.uuid].push_back(ovsdb::uuid(it->second.uuid));
            known.push_back(n);
        }
        if (known.empty()) return Ok();
        Json ops = Json::array();
        for (auto& [bu, uuids] : by_bridge) {
            ops.push_back(deletePortsOp(bu, std::move(uuids)));
        }
        if (wait) appendCfgBump(ops);
        auto r = transact(ops);
        if (!r.ok()) return r.error().wrap("remove ports");
        for (const auto& n : known) ports_.erase(n);
        if (wait) return waitApplied(cfgOf(*r), known.size());
        return Ok();
    }

    // Deletes the tap mirrors whose destination is in `dsts` (one transaction).
    Result<void> removeTapMirrors(const std::vector<std::string>& dsts) {
        std::map<std::string, Json::array_t> by_bridge;
        std::vector<std::string> known;
        for (const auto& d : dsts) {
            auto it = tap_mirrors_.find(d);
            if (it == tap_mirrors_.end()) continue;
            auto b = bridges_.find(it->second.bridge);
            if (b == bridges_.end()) {  // forgotten bridge: the row went with it
                tap_mirrors_.erase(it);
                continue;
            }
            by_bridge[b->second.uuid].push_back(ovsdb::uuid(it->second.uuid));
            known.push_back(d);
        }
        if (known.empty()) return Ok();
        Json ops = Json::array();
        for (auto& [bu, uuids] : by_bridge) ops.push_back(deletePortsOp(bu, {}, std::move(uuids)));
        appendCfgBump(ops);
        auto r = transact(ops);
        if (!r.ok()) return r.error();
        for (const auto& d : known) tap_mirrors_.erase(d);
        return waitApplied(cfgOf(*r), 1);
    }

    Result<void> addMirror(const std::string& bridge, const std::string& name) {
        Json ops = Json::array(
            {insertOp("Interface", {{"name", name}, {"type", "internal"}}, "iface"),
             insertOp("Port",
                      {{"name", name},
                       {"interfaces", ovsdb::namedUuid("iface")},
                       {"external_ids", tagMap(opts_.prefix)}},
                      "port"),
             insertOp("Mirror",
                      {{"name", "mirror-" + name},
                       {"select_all", true},
                       {"output_port", ovsdb::namedUuid("port")},
                       {"external_ids", tagMap(opts_.prefix)}},
                      "mirror"),
             mutateOp("Bridge", byUuid(bridges_[bridge].uuid),
                      Json::array(
                          {Json::array({"ports", "insert", ovsdb::set({ovsdb::namedUuid("port")})}),
                           Json::array({"mirrors", "insert",
                                        ovsdb::set({ovsdb::namedUuid("mirror")})})}))});
        appendCfgBump(ops);
        auto r = transact(ops);
        if (!r.ok()) return r.error().wrap("mirror bridge " + bridge);
        if ((*r)[3].value("count", 0) != 1) {
            bridges_.erase(bridge);
            return Error::msg("open vswitch bridge " + bridge + " was removed by someone else");
        }
        ports_[name] = {ovsdb::uuidOf((*r)[1]["uuid"]).value_or(""), bridge, true};
        mirrors_[name] = ovsdb::uuidOf((*r)[2]["uuid"]).value_or("");
        auto applied = waitApplied(cfgOf(*r), 1);
        if (applied.ok()) applied = checkInterfaces({name});
        if (!applied.ok()) (void)removeMirror(name);
        return applied;
    }

    Result<void> removeMirror(const std::string& name) {
        auto p = ports_.find(name);
        auto m = mirrors_.find(name);
        if (p == ports_.end() || m == mirrors_.end()) return Ok();
        auto b = bridges_.find(p->second.bridge);
        if (b == bridges_.end()) {  // forgotten bridge: the rows went with it
            ports_.erase(p);
            mirrors_.erase(m);
            return Ok();
        }
        Json ops = Json::array({deletePortsOp(b->second.uuid, {ovsdb::uuid(p->second.uuid)},
                                              {ovsdb::uuid(m->second)})});
        appendCfgBump(ops);
        auto r = transact(ops);
        if (!r.ok()) return r.error().wrap("remove mirror port " + name);
        ports_.erase(p);
        mirrors_.erase(m);
        return waitApplied(cfgOf(*r), 1);
    }

    // Asks ovs-vswitchd to report when it has applied this transaction
    // (as ovs-vsctl does): next_cfg is bumped, and read back.
    static void appendCfgBump(Json& ops) {
        ops.push_back(mutateOp("Open_vSwitch", Json::array(),
                               Json::array({Json::array({"next_cfg", "+=", 1})})));
        ops.push_back(selectOp("Open_vSwitch", Json::array(), {"next_cfg"}));
    }

    static int64_t cfgOf(const Json& results) {
        const Json& rows = results.back()["rows"];
        return rows.empty() ? 0 : rows[0].value("next_cfg", int64_t{0});
    }

    Result<void> waitApplied(int64_t cfg, size_t nports) {
        const auto limit = opts_.timeout + std::chrono::milliseconds(10 * nports);
        const auto deadline = Clock::now() + limit;
        auto pause = std::chrono::milliseconds(1);
        for (;;) {
            auto r = transact(Json::array({selectOp("Open_vSwitch", Json::array(), {"cur_cfg"})}));
            if (!r.ok()) return r.error();
            const Json& rows = (*r)[0]["rows"];
            if (!rows.empty() && rows[0].value("cur_cfg", int64_t{0}) >= cfg) return Ok();
            if (Clock::now() >= deadline) {
                return Error::msg("ovs-vswitchd did not apply the change within " +
                                  std::to_string(limit.count()) + " ms (is ovs-vswitchd running?)");
            }
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(20));
        }
    }

    // ovs-vswitchd records why it could not open an interface in its row.
    Result<void> checkInterfaces(const std::vector<std::string>& names) {
        Json ops = Json::array();
        for (const auto& n : names) {
            ops.push_back(selectOp("Interface", Json::array({ovsdb::cond("name", "==", n)}),
                                   {"name", "error"}));
        }
        auto r = transact(ops);
        if (!r.ok()) return r.error();
        for (size_t i = 0; i < names.size(); ++i) {
            for (const auto& row : (*r)[i]["rows"]) {
                const Json& err = row["error"];
                if (err.is_string() && !err.get<std::string>().empty()) {
                    return Error::msg("port " + names[i] + ": " + err.get<std::string>());
                }
            }
        }
        return Ok();
    }

    OvsOptions opts_;
    mutable std::mutex mu_;  // attach may come from launch workers
    ovsdb::Client client_;
    bool reconcile_ = false;
    std::map<std::string, Port> ports_;      // by name
    std::map<std::string, Bridge> bridges_;  // by name
    std::set<std::pair<std::string, int>> pairs_;
    std::map<std::string, std::string> mirrors_;  // capture port name -> Mirror row uuid
    std::string noop_qos_;                        // herd's linux-noop QoS row, once made
    struct TapMirror {
        std::string uuid;  // its Mirror row
        std::string bridge;
        std::string src;
    };
    std::map<std::string, TapMirror> tap_mirrors_;  // `tap mirror`s by destination port
    struct OvsUplink {
        std::string bridge;
        bool tunnel = false;
    };
    std::map<std::string, OvsUplink> uplinks_;  // trunks and tunnels by port name
};

}  // namespace

std::string defaultOvsDatapath() {
    struct stat st {};
    return ::stat("/sys/module/openvswitch", &st) == 0 ? "system" : "netdev";
}

Result<std::unique_ptr<SwitchBackend>> makeOvsBackend(OvsOptions opts) {
    auto c = ovsdb::Client::connect(opts.db, opts.timeout);
    if (!c.ok()) return c.error();
    auto r = c->transact(Json::array({selectOp("Open_vSwitch", Json::array(), {"_uuid"})}));
    if (!r.ok()) return r.error();
    if ((*r)[0]["rows"].empty()) {
        return Error::msg("ovsdb at " + opts.db + " has no Open_vSwitch row (run ovs-vsctl init)");
    }
    // What a daemon with this prefix left (killed before it could clean up).
    if (auto cl = cleanup(*c, opts.prefix, {}); !cl.ok()) return cl.error();
    return std::unique_ptr<SwitchBackend>(new OvsBackend(std::move(opts), std::move(*c)));
}

Result<void> nukeOvs(const std::string& db, std::string_view prefix, bool required,
                     std::chrono::milliseconds timeout) {
    auto c = ovsdb::Client::connect(db, timeout);
    if (!c.ok()) {
        if (!required && softConnectError(c.error())) return Ok();
        return c.error();
    }
    return cleanup(*c, prefix, {});
}

}  // namespace herd::runtime
