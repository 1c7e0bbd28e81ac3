#include "service/vm_record.h"

#include <nlohmann/json.hpp>

#include "cli/tokenizer.h"
#include "service/vmconfig.h"

namespace herd {

using json = nlohmann::json;

namespace {

constexpr int kVersion = 1;

// The record keeps NICs and tags as JSON of their own (a NIC's learnt
// addresses and qos are not config lines; tags may hold anything).
bool inConfigLines(const ConfigField& f) {
    return f.name != "networks" && f.name != "tags";
}

json nicJson(const NetConfig& n) {
    return {{"alias", n.alias},
            {"vlan", n.vlan},
            {"bridge", n.bridge},
            {"mac", n.mac},
            {"driver", n.driver},
            {"qinq", n.qinq},
            {"tap", n.tap},
            {"ip4", n.ip4},
            {"ip6", n.ip6},
            {"qos", {{"rate", n.qos.rate}, {"loss", n.qos.loss}, {"delay", n.qos.delay}}},
            {"raw", n.raw}};
}

NetConfig nicOf(const json& j) {
    NetConfig n;
    n.alias = j.at("alias").get<std::string>();
    n.vlan = j.at("vlan").get<int>();
    n.bridge = j.at("bridge").get<std::string>();
    n.mac = j.at("mac").get<std::string>();
    n.driver = j.at("driver").get<std::string>();
    n.qinq = j.at("qinq").get<bool>();
    n.tap = j.at("tap").get<std::string>();
    n.ip4 = j.at("ip4").get<std::string>();
    n.ip6 = j.at("ip6").get<std::string>();
    const json& q = j.at("qos");
    n.qos.rate = q.at("rate").get<std::string>();
    n.qos.loss = q.at("loss").get<std::string>();
    n.qos.delay = q.at("delay").get<std::string>();
    n.raw = j.at("raw").get<std::string>();
    return n;
}

Result<VmState> stateOf(std::string_view s) {
    for (VmState st :
         {VmState::Building, VmState::Running, VmState::Paused, VmState::Quit, VmState::Error}) {
        if (stateString(st) == s) return st;
    }
    return Error::msg("vm record: unknown state `" + std::string(s) + "`");
}

// Applies the record's `vm config` lines to a default config, through the
// fields' own setters; what they refuse is left at its default and said in
// `warnings`.
void applyConfigLines(VmConfig& c, const json& lines, const std::string& hostname,
                      std::vector<std::string>& warnings) {
    ConfigContext ctx;
    ctx.hostname = hostname;
    ctx.hosts = {hostname};
    ctx.lookup_vlan = [](const std::string& alias) -> Result<int> {
        return Error::msg("vm record: a VLAN alias in a config line: " + alias);
    };
    for (const json& l : lines) {
        const auto field = l.at(0).get<std::string>();
        const auto args = l.at(1).get<std::string>();
        const ConfigField* f = findConfigField(field);
        if (!f || !inConfigLines(*f) || !f->value.set) {
            warnings.push_back("vm config " + field + ": no such field");
            continue;
        }
        auto toks = cli::tokenize(args);
        std::vector<std::string> values;
        if (toks.ok())
            for (auto& t : toks->tokens) values.push_back(std::move(t.value));
        auto r = toks.ok() ? f->value.set(c, values, ctx) : Result<void>(toks.error());
        if (!r.ok())
            warnings.push_back("vm config " + field + " " + args + ": " + r.error().text());
    }
}

}  // namespace

std::string vmRecordJson(const Vm& vm, const runtime::ContainerRecord& c,
                         std::chrono::system_clock::time_point now) {
    using namespace std::chrono;
    const auto age = duration_cast<milliseconds>(steady_clock::now() - vm.launch_time);
    const auto launched = duration_cast<milliseconds>((now - age).time_since_epoch()).count();
    json lines = json::array();
    for (const auto& f : configFields()) {
        if (!inConfigLines(f) || !f.value.file_args) continue;
        if (f.value.is_default && f.value.is_default(vm.config)) continue;
        for (auto& args : f.value.file_args(vm.config)) lines.push_back({f.name, args});
    }
    json nics = json::array();
    for (const auto& n : vm.config.networks) nics.push_back(nicJson(n));
    json j = {
        {"version", kVersion},
        {"id", vm.id},
        {"name", vm.name},
        {"ns", vm.ns},
        {"host", vm.host},
        {"state", std::string(stateString(vm.state))},
        {"launched_ms", launched},
        {"config", std::move(lines)},
        {"nics", std::move(nics)},
        {"tags", vm.config.tags},
        {"container", json::parse(runtime::recordToJson(c))},
    };
    return j.dump() + "\n";
}

Result<VmRecord> parseVmRecord(std::string_view text, const std::string& base,
                               const std::string& hostname) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return Error::msg("vm record: not a JSON object");
    try {
        if (j.at("version").get<int>() != kVersion) {
            return Error::msg("vm record: version " + j.at("version").dump() + ", expected " +
                              std::to_string(kVersion));
        }
        VmRecord r;
        auto c = runtime::recordFromJson(j.at("container").dump());
        if (!c.ok()) return c.error();
        r.container = std::move(*c);
        r.vm = std::make_unique<Vm>();
        Vm& vm = *r.vm;
        vm.id = j.at("id").get<int>();
        if (vm.id < 0 || vm.id != r.container.id)
            return Error::msg("vm record: id " + std::to_string(vm.id) + " does not match");
        vm.name = j.at("name").get<std::string>();
        vm.ns = j.at("ns").get<std::string>();
        vm.host = j.at("host").get<std::string>();
        vm.type = VmType::Container;
        auto st = stateOf(j.at("state").get<std::string>());
        if (!st.ok()) return st.error();
        vm.state = *st;
        using namespace std::chrono;
        const auto launched =
            system_clock::time_point(milliseconds(j.at("launched_ms").get<int64_t>()));
        auto age = system_clock::now() - launched;
        if (age < system_clock::duration::zero()) age = system_clock::duration::zero();
        vm.launch_time = steady_clock::now() - duration_cast<steady_clock::duration>(age);
        vm.instance_path = base + "/" + std::to_string(vm.id);
        applyConfigLines(vm.config, j.at("config"), hostname, r.warnings);
        for (const json& n : j.at("nics")) vm.config.networks.push_back(nicOf(n));
        vm.config.tags = j.at("tags").get<std::map<std::string, std::string>>();
        return r;
    } catch (const json::exception& e) {
        return Error::msg(std::string("vm record: ") + e.what());
    }
}

}  // namespace herd
