#include "proto/gob.h"

#include <bit>
#include <cstring>
#include <functional>

namespace herd::gob {

Value Value::ofInt(int64_t v) {
    Value x;
    x.kind = Kind::Int;
    x.i = v;
    return x;
}

Value Value::ofUint(uint64_t v) {
    Value x;
    x.kind = Kind::Uint;
    x.u = v;
    return x;
}

Value Value::ofBool(bool v) {
    Value x;
    x.kind = Kind::Bool;
    x.b = v;
    return x;
}

Value Value::ofString(std::string v, Kind k) {
    Value x;
    x.kind = k;
    x.s = std::move(v);
    return x;
}

Value Value::structure() {
    Value x;
    x.kind = Kind::Struct;
    return x;
}

Value Value::map() {
    Value x;
    x.kind = Kind::Map;
    return x;
}

Value Value::ofStrings(const std::vector<std::string>& v) {
    Value x;
    x.kind = Kind::Slice;
    for (const auto& s : v) x.elems.push_back(ofString(s));
    return x;
}

const Value* Value::field(std::string_view name) const {
    for (const auto& [n, v] : fields)
        if (n == name) return &v;
    return nullptr;
}

Value& Value::set(std::string name, Value v) {
    for (auto& [n, old] : fields)
        if (n == name) return old = std::move(v);
    fields.push_back({std::move(name), std::move(v)});
    return fields.back().second;
}

int64_t Value::intField(std::string_view name) const {
    const Value* v = field(name);
    if (!v) return 0;
    if (v->kind == Kind::Int) return v->i;
    if (v->kind == Kind::Uint && v->u <= INT64_MAX) return static_cast<int64_t>(v->u);
    return 0;
}

uint64_t Value::uintField(std::string_view name) const {
    const Value* v = field(name);
    if (!v) return 0;
    if (v->kind == Kind::Uint) return v->u;
    if (v->kind == Kind::Int && v->i >= 0) return static_cast<uint64_t>(v->i);
    return 0;
}

bool Value::boolField(std::string_view name) const {
    const Value* v = field(name);
    return v && v->kind == Kind::Bool && v->b;
}

std::string Value::strField(std::string_view name) const {
    const Value* v = field(name);
    return v && (v->kind == Kind::String || v->kind == Kind::Bytes) ? v->s : std::string();
}

std::vector<std::string> Value::strsField(std::string_view name, size_t max) const {
    std::vector<std::string> out;
    const Value* v = field(name);
    if (!v || v->kind != Kind::Slice) return out;
    for (const auto& e : v->elems) {
        if (out.size() >= max) break;
        if (e.kind == Kind::String) out.push_back(e.s);
    }
    return out;
}

void putUint(std::string& out, uint64_t v) {
    if (v < 128) {
        out.push_back(static_cast<char>(v));
        return;
    }
    int n = (64 - std::countl_zero(v) + 7) / 8;
    out.push_back(static_cast<char>(-n));
    for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

void putInt(std::string& out, int64_t v) {
    uint64_t u = v < 0 ? (~static_cast<uint64_t>(v) << 1) | 1 : static_cast<uint64_t>(v) << 1;
    putUint(out, u);
}

void putString(std::string& out, std::string_view s) {
    putUint(out, s.size());
    out.append(s.data(), s.size());
}

bool Reader::uint(uint64_t& v) {
    if (p_ >= d_.size()) return false;
    auto b = static_cast<unsigned char>(d_[p_++]);
    if (b < 128) {
        v = b;
        return true;
    }
    size_t n = static_cast<size_t>(256 - b);
    if (n > 8 || n > left()) return false;
    v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(d_[p_++]);
    return true;
}

bool Reader::sint(int64_t& v) {
    uint64_t u;
    if (!uint(u)) return false;
    v = (u & 1) ? static_cast<int64_t>(~(u >> 1)) : static_cast<int64_t>(u >> 1);
    return true;
}

bool Reader::bytes(std::string& s) {
    uint64_t n;
    if (!uint(n) || n > left()) return false;
    s.assign(d_.substr(p_, n));
    p_ += n;
    return true;
}

namespace {

// Reads a struct encoding, calling `field(number)` for each field present;
// the callback reads the field's value and returns false on error.
bool readStruct(Reader& r, const std::function<bool(uint64_t)>& field) {
    uint64_t num = UINT64_MAX;  // -1: the first delta lands on field delta-1
    for (;;) {
        uint64_t delta;
        if (!r.uint(delta)) return false;
        if (delta == 0) return true;
        if (delta > 1024) return false;  // no gob struct here has that many fields
        num += delta;
        if (!field(num)) return false;
    }
}

bool readTypeId(Reader& r, int& id) {
    int64_t v;
    if (!r.sint(v) || v < 0 || v > INT32_MAX) return false;
    id = static_cast<int>(v);
    return true;
}

// CommonType {0 Name string, 1 Id int}.
bool readCommon(Reader& r, WireType& t) {
    return readStruct(r, [&](uint64_t f) {
        int ignored;
        if (f == 0) return r.bytes(t.name);
        if (f == 1) return readTypeId(r, ignored);
        return false;
    });
}

constexpr size_t kMaxFieldsPerType = 1024;

}  // namespace

bool Decoder::node(std::string& error) {
    if (++nodes_ > lim_.max_nodes) {
        error = "gob: more than " + std::to_string(lim_.max_nodes) + " values in a message";
        return false;
    }
    return true;
}

bool Decoder::define(Reader& r, int id, std::string& error) {
    if (id < kFirstUserId) {
        error = "gob: definition of reserved type id " + std::to_string(id);
        return false;
    }
    if (types_.count(id)) {
        error = "gob: type id " + std::to_string(id) + " defined twice";
        return false;
    }
    if (types_.size() >= lim_.max_types) {
        error = "gob: more than " + std::to_string(lim_.max_types) + " type definitions";
        return false;
    }
    WireType t;
    int kinds = 0;
    bool ok = readStruct(r, [&](uint64_t f) {
        ++kinds;
        switch (f) {
            case 0:  // ArrayT {CommonType, Elem, Len}
                t.kind = WireType::Kind::Array;
                return readStruct(r, [&](uint64_t g) {
                    if (g == 0) return readCommon(r, t);
                    if (g == 1) return readTypeId(r, t.elem);
                    if (g == 2) {
                        int64_t len;
                        if (!r.sint(len) || len < 0) return false;
                        t.len = static_cast<uint64_t>(len);
                        return true;
                    }
                    return false;
                });
            case 1:  // SliceT {CommonType, Elem}
                t.kind = WireType::Kind::Slice;
                return readStruct(r, [&](uint64_t g) {
                    if (g == 0) return readCommon(r, t);
                    if (g == 1) return readTypeId(r, t.elem);
                    return false;
                });
            case 2:  // StructT {CommonType, Field []{Name, Id}}
                t.kind = WireType::Kind::Struct;
                return readStruct(r, [&](uint64_t g) {
                    if (g == 0) return readCommon(r, t);
                    if (g != 1) return false;
                    uint64_t n;
                    // Each field takes at least 2 bytes (its end and a delta).
                    if (!r.uint(n) || n > kMaxFieldsPerType || n > r.left() / 2) return false;
                    for (uint64_t k = 0; k < n; ++k) {
                        std::pair<std::string, int> fld{"", 0};
                        if (!readStruct(r, [&](uint64_t h) {
                                if (h == 0) return r.bytes(fld.first);
                                if (h == 1) return readTypeId(r, fld.second);
                                return false;
                            }))
                            return false;
                        t.fields.push_back(std::move(fld));
                    }
                    return true;
                });
            case 3:  // MapT {CommonType, Key, Elem}
                t.kind = WireType::Kind::Map;
                return readStruct(r, [&](uint64_t g) {
                    if (g == 0) return readCommon(r, t);
                    if (g == 1) return readTypeId(r, t.key);
                    if (g == 2) return readTypeId(r, t.elem);
                    return false;
                });
            case 4:  // GobEncoderT, BinaryMarshalerT, TextMarshalerT: {CommonType};
            case 5:  // their values are byte strings
            case 6:
                t.kind = WireType::Kind::Opaque;
                return readStruct(r, [&](uint64_t g) { return g == 0 && readCommon(r, t); });
            default:
                return false;
        }
    });
    if (!ok || kinds != 1 || !r.atEnd()) {
        error = "gob: malformed definition of type id " + std::to_string(id);
        return false;
    }
    types_.emplace(id, std::move(t));
    return true;
}

bool Decoder::structValue(Reader& r, const WireType& t, Value& out, int depth, std::string& error) {
    out.kind = Value::Kind::Struct;
    uint64_t last = UINT64_MAX;
    bool ok = readStruct(r, [&](uint64_t f) {
        if (f >= t.fields.size() || (last != UINT64_MAX && f <= last)) return false;
        last = f;
        Value v;
        if (!value(r, t.fields[f].second, v, depth + 1, error)) return false;
        out.fields.push_back({t.fields[f].first, std::move(v)});
        return true;
    });
    if (!ok && error.empty()) error = "gob: malformed " + t.name + " value";
    return ok;
}

bool Decoder::value(Reader& r, int id, Value& out, int depth, std::string& error) {
    if (depth > lim_.max_depth) {
        error = "gob: value nested deeper than " + std::to_string(lim_.max_depth);
        return false;
    }
    if (!node(error)) return false;
    auto bad = [&](const char* what) {
        if (error.empty()) error = std::string("gob: malformed ") + what;
        return false;
    };
    switch (id) {
        case kBool: {
            uint64_t u;
            if (!r.uint(u) || u > 1) return bad("bool");
            out = Value::ofBool(u == 1);
            return true;
        }
        case kInt: {
            int64_t v;
            if (!r.sint(v)) return bad("int");
            out = Value::ofInt(v);
            return true;
        }
        case kUint: {
            uint64_t u;
            if (!r.uint(u)) return bad("uint");
            out = Value::ofUint(u);
            return true;
        }
        case kFloat: {
            uint64_t u;
            if (!r.uint(u)) return bad("float");
            out.kind = Value::Kind::Float;
            out.f = std::bit_cast<double>(__builtin_bswap64(u));
            return true;
        }
        case kComplex: {
            uint64_t a, b;
            if (!r.uint(a) || !r.uint(b)) return bad("complex");
            out.kind = Value::Kind::Float;
            out.f = std::bit_cast<double>(__builtin_bswap64(a));
            return true;
        }
        case kBytes:
        case kString:
            out.kind = id == kBytes ? Value::Kind::Bytes : Value::Kind::String;
            if (!r.bytes(out.s)) return bad("string");
            return true;
        case kInterface: {
            // Only the nil interface (an empty type name): miniccc's
            // messages hold none, and a value would need Go's type registry.
            std::string name;
            if (!r.bytes(name)) return bad("interface");
            if (!name.empty()) {
                error = "gob: interface values are not supported";
                return false;
            }
            out = Value();
            return true;
        }
        default:
            break;
    }
    auto it = types_.find(id);
    if (it == types_.end()) {
        error = "gob: value of undefined type id " + std::to_string(id);
        return false;
    }
    const WireType& t = it->second;
    switch (t.kind) {
        case WireType::Kind::Struct:
            return structValue(r, t, out, depth, error);
        case WireType::Kind::Opaque:
            out.kind = Value::Kind::Bytes;
            if (!r.bytes(out.s)) return bad("encoded value");
            return true;
        case WireType::Kind::Slice:
        case WireType::Kind::Array: {
            uint64_t n;
            // Every element takes at least one byte.
            if (!r.uint(n) || n > r.left()) return bad("slice length");
            if (t.kind == WireType::Kind::Array && n != t.len) return bad("array length");
            out.kind = Value::Kind::Slice;
            for (uint64_t k = 0; k < n; ++k) {
                Value e;
                if (!value(r, t.elem, e, depth + 1, error)) return false;
                out.elems.push_back(std::move(e));
            }
            return true;
        }
        case WireType::Kind::Map: {
            uint64_t n;
            if (!r.uint(n) || n > r.left() / 2) return bad("map length");
            out.kind = Value::Kind::Map;
            for (uint64_t k = 0; k < n; ++k) {
                Value key, v;
                if (!value(r, t.key, key, depth + 1, error) ||
                    !value(r, t.elem, v, depth + 1, error))
                    return false;
                out.entries.push_back({std::move(key), std::move(v)});
            }
            return true;
        }
    }
    return false;
}

std::optional<Value> Decoder::next(std::string& error, size_t* wire) {
    for (;;) {
        if (pos_ > 0 && (pos_ >= buf_.size() || pos_ > (64u << 10))) {
            buf_.erase(0, pos_);
            pos_ = 0;
            if (buf_.capacity() > (lim_.max_message + 16) * 2) buf_.shrink_to_fit();
        }
        Reader head(std::string_view(buf_).substr(pos_));
        uint64_t len;
        if (!head.uint(len)) {
            // Not all of the length yet, or a malformed one.
            if (pending() > 0 && static_cast<unsigned char>(buf_[pos_]) >= 128 &&
                static_cast<unsigned char>(buf_[pos_]) < 248) {
                error = "gob: malformed message length";
            }
            return std::nullopt;
        }
        if (len == 0 || len > lim_.max_message) {
            error = "gob: message of " + std::to_string(len) + " bytes (at most " +
                    std::to_string(lim_.max_message) + ")";
            return std::nullopt;
        }
        size_t hlen = pending() - head.left();
        if (head.left() < len) return std::nullopt;
        Reader r(std::string_view(buf_).substr(pos_ + hlen, len));
        pos_ += hlen + len;
        if (wire) *wire += hlen + len;
        int64_t id;
        if (!r.sint(id) || id == 0) {
            error = "gob: malformed type id";
            return std::nullopt;
        }
        if (id < 0) {
            if (id < -INT32_MAX || !define(r, static_cast<int>(-id), error)) {
                if (error.empty()) error = "gob: malformed type id";
                return std::nullopt;
            }
            continue;
        }
        if (id > INT32_MAX) {
            error = "gob: malformed type id";
            return std::nullopt;
        }
        nodes_ = 0;
        Value v;
        auto it = types_.find(static_cast<int>(id));
        bool ok;
        if (it != types_.end() && it->second.kind == WireType::Kind::Struct) {
            ok = value(r, static_cast<int>(id), v, 0, error);
        } else {
            // A non-struct top-level value is sent as field 0 of a struct.
            uint64_t delta;
            ok = r.uint(delta) && delta == 0 && value(r, static_cast<int>(id), v, 0, error);
        }
        if (ok && !r.atEnd()) ok = false;
        if (!ok) {
            if (error.empty()) error = "gob: malformed value";
            return std::nullopt;
        }
        return v;
    }
}

namespace {
const Type kBoolT{Type::Kind::Bool, "bool", {}, nullptr, nullptr};
const Type kIntT{Type::Kind::Int, "int", {}, nullptr, nullptr};
const Type kUintT{Type::Kind::Uint, "uint", {}, nullptr, nullptr};
const Type kBytesT{Type::Kind::Bytes, "[]uint8", {}, nullptr, nullptr};
const Type kStringT{Type::Kind::String, "string", {}, nullptr, nullptr};
}  // namespace

const Type* boolType() {
    return &kBoolT;
}
const Type* intType() {
    return &kIntT;
}
const Type* uintType() {
    return &kUintT;
}
const Type* bytesType() {
    return &kBytesT;
}
const Type* stringType() {
    return &kStringT;
}

int Encoder::idOf(const Type* t, std::string& defs) {
    switch (t->kind) {
        case Type::Kind::Bool:
            return kBool;
        case Type::Kind::Int:
            return kInt;
        case Type::Kind::Uint:
            return kUint;
        case Type::Kind::Float:
            return kFloat;
        case Type::Kind::Bytes:
            return kBytes;
        case Type::Kind::String:
            return kString;
        default:
            break;
    }
    if (auto it = ids_.find(t); it != ids_.end()) return it->second;
    int id = next_++;
    ids_[t] = id;  // before the parts: a type may refer to itself
    std::string body;
    // Field 0 of the kind's struct: CommonType {Name, Id}.
    auto common = [&](std::string& out) {
        out += "\x01\x01";
        putString(out, t->name);
        out += '\x01';
        putInt(out, id);
        out += '\x00';
    };
    std::vector<int> parts;
    if (t->kind == Type::Kind::Struct) {
        for (const auto& [n, ft] : t->fields) parts.push_back(idOf(ft, defs));
        putUint(body, 3);  // field 2: StructT
        common(body);
        body += '\x01';
        putUint(body, t->fields.size());
        for (size_t k = 0; k < t->fields.size(); ++k) {
            body += '\x01';
            putString(body, t->fields[k].first);
            body += '\x01';
            putInt(body, parts[k]);
            body += '\x00';
        }
        body += '\x00';
    } else if (t->kind == Type::Kind::Slice) {
        int e = idOf(t->elem, defs);
        putUint(body, 2);  // field 1: SliceT
        common(body);
        body += '\x01';
        putInt(body, e);
        body += '\x00';
    } else {
        int k = idOf(t->key, defs), e = idOf(t->elem, defs);
        putUint(body, 4);  // field 3: MapT
        common(body);
        body += '\x01';
        putInt(body, k);
        body += '\x01';
        putInt(body, e);
        body += '\x00';
    }
    body += '\x00';  // end of wireType
    std::string msg;
    putInt(msg, -id);
    msg += body;
    putUint(defs, msg.size());
    defs += msg;
    return id;
}

bool Encoder::isZero(const Type* t, const Value& v) {
    if (v.kind == Value::Kind::Nil) return true;
    switch (t->kind) {
        case Type::Kind::Bool:
            return !v.b;
        case Type::Kind::Int:
            return v.kind == Value::Kind::Int ? v.i == 0 : v.u == 0;
        case Type::Kind::Uint:
            return v.kind == Value::Kind::Uint ? v.u == 0 : v.i == 0;
        case Type::Kind::Float:
            return v.f == 0;
        case Type::Kind::Bytes:
        case Type::Kind::String:
            return v.s.empty();
        case Type::Kind::Slice:
            return v.elems.empty();
        case Type::Kind::Struct:  // a non-nil pointer: always sent
        case Type::Kind::Map:     // a non-nil map: sent even when empty
            return false;
    }
    return true;
}

void Encoder::value(std::string& out, const Type* t, const Value& v) {
    switch (t->kind) {
        case Type::Kind::Bool:
            putUint(out, v.b ? 1 : 0);
            return;
        case Type::Kind::Int:
            putInt(out, v.kind == Value::Kind::Uint ? static_cast<int64_t>(v.u) : v.i);
            return;
        case Type::Kind::Uint:
            putUint(out, v.kind == Value::Kind::Int ? static_cast<uint64_t>(v.i) : v.u);
            return;
        case Type::Kind::Float:
            putUint(out, __builtin_bswap64(std::bit_cast<uint64_t>(v.f)));
            return;
        case Type::Kind::Bytes:
        case Type::Kind::String:
            putString(out, v.s);
            return;
        case Type::Kind::Slice:
            putUint(out, v.elems.size());
            for (const auto& e : v.elems) value(out, t->elem, e);
            return;
        case Type::Kind::Map:
            putUint(out, v.entries.size());
            for (const auto& [k, e] : v.entries) {
                value(out, t->key, k);
                value(out, t->elem, e);
            }
            return;
        case Type::Kind::Struct: {
            size_t last = SIZE_MAX;  // -1
            for (size_t k = 0; k < t->fields.size(); ++k) {
                const Value* f = v.field(t->fields[k].first);
                if (!f || isZero(t->fields[k].second, *f)) continue;
                putUint(out, k - last);
                last = k;
                value(out, t->fields[k].second, *f);
            }
            out += '\x00';
            return;
        }
    }
}

std::string Encoder::encode(const Type* t, const Value& v) {
    std::string defs;
    int id = idOf(t, defs);
    std::string msg;
    putInt(msg, id);
    if (t->kind != Type::Kind::Struct) msg += '\x00';  // a single field
    value(msg, t, v);
    putUint(defs, msg.size());
    return defs + msg;
}

}  // namespace herd::gob
