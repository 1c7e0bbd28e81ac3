#include "service/cc_miniccc.h"

#include <climits>

#include "proto/ron.h"
#include "service/cc.h"

namespace herd {

using gob::Value;
using nlohmann::json;

MinicccSession::MinicccSession() {
    gob::Decoder::Limits l;
    l.max_message = minicccLimits::kHelloBytes;
    l.max_nodes = cclimits::kHello.max_items;
    dec_.setLimits(l);
}

void MinicccSession::welcomed() {
    welcomed_ = true;
    gob::Decoder::Limits l;
    l.max_message = cclimits::kAgent.max_frame;
    l.max_nodes = cclimits::kAgent.max_items;
    dec_.setLimits(l);
}

void MinicccSession::feed(const char* data, size_t n) {
    if (magic_seen_) return dec_.feed(data, n);
    // The client writes the magic first; what follows it is the gob stream.
    for (size_t i = 0; i < n; ++i) {
        magic_.push_back(data[i]);
        if (magic_.size() >= 3 && magic_.compare(magic_.size() - 3, 3, ron::kMagic) == 0) {
            magic_seen_ = true;
            magic_.clear();
            magic_.shrink_to_fit();
            hello_wire_ += i + 1;
            dec_.feed(data + i + 1, n - i - 1);
            return;
        }
        if (magic_.size() > minicccLimits::kMagicBytes) return;
    }
}

std::string MinicccSession::takeMagicReply() {
    if (!magic_seen_ || magic_replied_) return {};
    magic_replied_ = true;
    return ron::kMagic;
}

void MinicccSession::push(json header, std::string body) {
    ccproto::Frame f;
    f.header = std::move(header);
    f.body = std::move(body);
    f.size = std::exchange(wire_, 0);
    out_.push_back(std::move(f));
}

std::optional<ccproto::Frame> MinicccSession::next(std::string& error) {
    if (!magic_seen_ && magic_.size() > minicccLimits::kMagicBytes) {
        error =
            "no RON magic in the first " + std::to_string(minicccLimits::kMagicBytes) + " bytes";
        return std::nullopt;
    }
    // Until the service welcomed the hello, only the hello goes out.
    for (;;) {
        if (!out_.empty()) {
            if (hello_given_ && !welcomed_) return std::nullopt;
            hello_given_ = true;
            auto f = std::move(out_.front());
            out_.pop_front();
            return f;
        }
        if (hello_seen_ && !welcomed_) return std::nullopt;
        size_t wire = 0;
        auto v = dec_.next(error, &wire);
        if (!hello_seen_) {
            hello_wire_ += wire;
            if (hello_wire_ + dec_.pending() > minicccLimits::kHelloBytes) {
                error = "no heartbeat in the first " + std::to_string(minicccLimits::kHelloBytes) +
                        " bytes";
                return std::nullopt;
            }
        }
        if (!v) return std::nullopt;
        if (v->kind != Value::Kind::Struct) continue;  // not a Message: ignored
        translate(*v, wire, error);
        if (!error.empty()) return std::nullopt;
    }
}

namespace {

json clientInfo(const Value& c) {
    json h = {{"hostname", c.strField("Hostname")},
              {"os", c.strField("OS")},
              {"arch", c.strField("Arch")},
              {"ip", c.strsField("IPs", ccproto::kMaxAddrs)},
              {"mac", c.strsField("MACs", ccproto::kMaxAddrs)}};
    return h;
}

json clientProcs(const Value& c) {
    json procs = json::array();
    const Value* p = c.field("Processes");
    if (!p) return procs;
    for (const auto& [k, v] : p->entries) {
        if (procs.size() >= cclimits::kMaxProcs) break;
        procs.push_back(
            {{"pid", v.intField("PID")}, {"argv", v.strsField("Command", cclimits::kMaxArgs)}});
    }
    return procs;
}

}  // namespace

void MinicccSession::translate(const Value& m, size_t wire, std::string& error) {
    wire_ = wire;
    int64_t type = m.intField("Type");
    if (!hello_seen_) {
        const Value* c = m.field("Client");
        if (type != ron::kClient || !c) {
            error = "the first message is not a client heartbeat";
            return;
        }
        hello_seen_ = true;
        hello_ = m;
        // Version 1 of herd-cc's hello is what the service accepts; an old
        // miniccc is refused the same way (its version is said as 0).
        long major = ron::majorVersion(m.strField("Version"));
        json h = clientInfo(*c);
        h["type"] = "hello";
        h["version"] = major > 0 ? ccproto::kVersion : 0;
        h["uuid"] = m.strField("UUID").empty() ? c->strField("UUID") : m.strField("UUID");
        push(std::move(h));
        fromHeartbeat(*c, true);
        return;
    }
    if (type == ron::kClient) {
        if (const Value* c = m.field("Client")) fromHeartbeat(*c, false);
    } else if (type == ron::kFile) {
        const Value* f = m.field("File");
        if (!f) return;
        int64_t id = f->intField("ID");
        std::string name = f->strField("Name");
        std::string data = f->strField("Data");
        if (id == 0 && data.empty() && f->intField("Offset") == 0 && !f->boolField("EOF")) {
            push({{"type", kFileRequest}, {"name", name}});
            return;
        }
        json h = {{"type", "file"}, {"id", id}, {"path", "/" + name}, {"eof", f->boolField("EOF")}};
        if (!m.strField("Error").empty()) h["error"] = m.strField("Error");
        push(std::move(h), std::move(data));
    }
    // TUNNEL, PIPE, UFS and the server-side types: not served.
}

void MinicccSession::fromHeartbeat(const Value& c, bool first) {
    json info = clientInfo(c);
    if (!first && info != last_info_) {
        json h = info;
        h["type"] = "info";
        push(std::move(h));
    }
    last_info_ = std::move(info);
    json procs = clientProcs(c);
    if (procs != last_procs_ && !(first && procs.empty()))
        push({{"type", "procs"}, {"procs", procs}});
    last_procs_ = std::move(procs);
    if (const Value* t = c.field("Tags"); t && !t->entries.empty()) {
        json tags = json::object();
        for (const auto& [k, v] : t->entries) {
            if (tags.size() >= minicccLimits::kMaxTags) break;
            if (k.kind == Value::Kind::String && v.kind == Value::Kind::String) tags[k.s] = v.s;
        }
        push({{"type", "tags"}, {"tags", std::move(tags)}});
    }
    const Value* rs = c.field("Responses");
    if (!rs) return;
    for (const auto& r : rs->elems) {
        int64_t id = r.intField("ID");
        if (id > 0 && id <= INT_MAX && signals_.erase(static_cast<int>(id))) continue;
        std::string out = r.strField("Stdout"), err = r.strField("Stderr");
        json h = {{"type", "response"}, {"id", id}, {"stdout", out.size()}, {"stderr", err.size()}};
        if (r.boolField("RecordExitCode")) h["exitcode"] = r.intField("ExitCode");
        bool twice = id > 0 && id <= INT_MAX && background_.erase(static_cast<int>(id));
        if (twice) push(h, out + err);
        push(std::move(h), out + err);
    }
}

std::string MinicccSession::command(int id, Value cmd) {
    cmd.set("ID", Value::ofInt(id));
    Value cmds = Value::map();
    cmds.entries.push_back({Value::ofInt(id), std::move(cmd)});
    Value m = Value::structure();
    m.set("Type", Value::ofInt(ron::kCommand));
    m.set("Commands", std::move(cmds));
    return enc_.encode(ron::messageType(), m);
}

std::string MinicccSession::fromService(const ccproto::Frame& f) {
    const std::string type = f.type();
    const json& h = f.header;
    if (type == "welcome") return enc_.encode(ron::messageType(), hello_);
    int64_t id = ccproto::jint(h, "id", -1);
    if (id <= 0 || id > INT_MAX) return {};  // reject: the connection closes
    Value cmd = Value::structure();
    if (type == "command") {
        bool bg = ccproto::jbool(h, "background");
        cmd.set("Background", Value::ofBool(bg));
        cmd.set("Command", Value::ofStrings(ccproto::jstrs(h, "argv")));
        cmd.set("FilesSend", Value::ofStrings(ccproto::jstrs(h, "send")));
        // miniccc names received files by their path below /.
        std::vector<std::string> recv;
        for (const auto& p : ccproto::jstrs(h, "recv")) recv.push_back(p);
        cmd.set("FilesRecv", Value::ofStrings(recv));
        if (bg) background_.insert(static_cast<int>(id));
    } else if (type == "kill") {
        int64_t pid = ccproto::jint(h, "pid");
        cmd.set("PID", Value::ofInt(pid));
        signals_.insert(static_cast<int>(id));
    } else if (type == "killall") {
        cmd.set("KillAll", Value::ofString(ccproto::jstr(h, "name")));
        signals_.insert(static_cast<int>(id));
    } else {
        return {};
    }
    return command(static_cast<int>(id), std::move(cmd));
}

std::string MinicccSession::heartbeat() {
    Value m = Value::structure();
    m.set("Type", Value::ofInt(ron::kHeartbeat));
    m.set("Version", Value::ofString(ron::kVersion));
    return enc_.encode(ron::messageType(), m);
}

std::string MinicccSession::fileChunk(const std::string& name, unsigned perm, std::string data,
                                      int64_t offset, bool eof) {
    Value f = Value::structure();
    f.set("Name", Value::ofString(name));
    f.set("Perm", Value::ofUint(perm & 0777));
    f.set("Data", Value::ofString(std::move(data), Value::Kind::Bytes));
    f.set("Offset", Value::ofInt(offset));
    f.set("EOF", Value::ofBool(eof));
    Value m = Value::structure();
    m.set("Type", Value::ofInt(ron::kFile));
    m.set("File", std::move(f));
    return enc_.encode(ron::messageType(), m);
}

std::string MinicccSession::fileError(const std::string& name, const std::string& error) {
    Value f = Value::structure();
    f.set("Name", Value::ofString(name));
    Value m = Value::structure();
    m.set("Type", Value::ofInt(ron::kFile));
    m.set("Error", Value::ofString(error));
    m.set("File", std::move(f));
    return enc_.encode(ron::messageType(), m);
}

void MinicccSession::offer(const std::string& rel, const std::string& host, unsigned mode) {
    if (!offers_.count(rel)) {
        offer_order_.push_back(rel);
        if (offer_order_.size() > minicccLimits::kMaxOffers) {
            offers_.erase(offer_order_.front());
            offer_order_.pop_front();
        }
    }
    offers_[rel] = Offer{host, mode};
}

std::optional<MinicccSession::Offer> MinicccSession::offered(const std::string& rel) const {
    auto it = offers_.find(rel);
    if (it == offers_.end()) return std::nullopt;
    return it->second;
}

}  // namespace herd
