// Go's encoding/gob, the part minimega's miniccc agent uses: a stream of
// messages, each a uint byte length and a payload. A payload that starts
// with a negative int defines a type (-id, then the type's description);
// one that starts with a positive int is a value of that type. Types are
// defined once per stream, before their first value.
//
// Values are held as a small dynamic tree (Value). Structs are matched by
// field name, as Go's decoder does, so field order and type ids of the
// peer do not matter.
//
// The decoder reads a hostile peer: every count and length is checked
// against the bytes that remain before anything is allocated, each message
// is at most Limits::max_message bytes, a value has at most
// Limits::max_nodes nodes and nests at most Limits::max_depth deep, a
// stream defines at most Limits::max_types types and may not define an id
// twice. After an error the stream is unusable (the caller closes it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herd::gob {

// Predefined type ids.
enum : int {
    kBool = 1,
    kInt = 2,
    kUint = 3,
    kFloat = 4,
    kBytes = 5,
    kString = 6,
    kComplex = 7,
    kInterface = 8,
    kFirstUserId = 65,
};

struct ValueField;
struct ValueEntry;

struct Value {
    enum class Kind { Nil, Bool, Int, Uint, Float, Bytes, String, Struct, Slice, Map };
    Kind kind = Kind::Nil;
    bool b = false;
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    std::string s;                    // Bytes, String
    std::vector<ValueField> fields;   // Struct (present fields)
    std::vector<Value> elems;         // Slice
    std::vector<ValueEntry> entries;  // Map

    static Value ofInt(int64_t v);
    static Value ofUint(uint64_t v);
    static Value ofBool(bool v);
    static Value ofString(std::string v, Kind k = Kind::String);
    static Value ofStrings(const std::vector<std::string>& v);
    static Value structure();
    static Value map();

    // Struct access by name; nullptr when absent (a zero value).
    const Value* field(std::string_view name) const;
    Value& set(std::string name, Value v);
    // Typed reads that never fail: a missing or differently typed field
    // reads as zero.
    int64_t intField(std::string_view name) const;
    uint64_t uintField(std::string_view name) const;
    bool boolField(std::string_view name) const;
    std::string strField(std::string_view name) const;  // String or Bytes
    std::vector<std::string> strsField(std::string_view name, size_t max) const;
};

// A struct's field (name, value) and a map's entry (key, value).
struct ValueField {
    std::string first;
    Value second;
};
struct ValueEntry {
    Value first;
    Value second;
};

// A type as the peer described it (wireType).
struct WireType {
    enum class Kind { Struct, Slice, Array, Map, Opaque } kind = Kind::Struct;
    std::string name;
    std::vector<std::pair<std::string, int>> fields;  // Struct: name, type id
    int elem = 0, key = 0;                            // Slice/Array/Map
    uint64_t len = 0;                                 // Array
};

// Low-level coding of the basic items.
void putUint(std::string& out, uint64_t v);
void putInt(std::string& out, int64_t v);
void putString(std::string& out, std::string_view s);

class Reader {
  public:
    explicit Reader(std::string_view d) : d_(d) {}
    bool uint(uint64_t& v);
    bool sint(int64_t& v);
    bool bytes(std::string& s);  // uint length + bytes, length checked first
    size_t left() const { return d_.size() - p_; }
    bool atEnd() const { return p_ == d_.size(); }

  private:
    std::string_view d_;
    size_t p_ = 0;
};

// A type for the encoder: Go's kind and, for composites, its parts.
struct Type {
    enum class Kind { Bool, Int, Uint, Float, Bytes, String, Struct, Slice, Map } kind;
    std::string name;  // composites: the name sent in the definition
    std::vector<std::pair<std::string, const Type*>> fields;  // Struct
    const Type* elem = nullptr;                               // Slice, Map
    const Type* key = nullptr;                                // Map
};
// The basic types.
const Type* boolType();
const Type* intType();
const Type* uintType();
const Type* bytesType();
const Type* stringType();

class Decoder {
  public:
    struct Limits {
        size_t max_message = 8u << 20;  // payload bytes of one message
        size_t max_nodes = 65536;       // values in one decoded message
        int max_depth = 16;             // nesting of structs/slices/maps
        size_t max_types = 128;         // definitions per stream
    };
    void setLimits(const Limits& l) { lim_ = l; }

    void feed(const char* data, size_t n) { buf_.append(data, n); }
    // The next value (its type id in `type_id` when asked), nothing yet
    // (nullopt, error empty) or an error. Type definitions are consumed on
    // the way. `wire` (when asked) adds the bytes consumed.
    std::optional<Value> next(std::string& error, size_t* wire = nullptr);
    size_t pending() const { return buf_.size() - pos_; }
    size_t capacity() const { return buf_.capacity(); }
    const std::map<int, WireType>& types() const { return types_; }

  private:
    bool define(Reader& r, int id, std::string& error);
    bool value(Reader& r, int id, Value& out, int depth, std::string& error);
    bool structValue(Reader& r, const WireType& t, Value& out, int depth, std::string& error);
    bool node(std::string& error);

    Limits lim_;
    std::string buf_;
    size_t pos_ = 0;
    std::map<int, WireType> types_;
    size_t nodes_ = 0;
};

class Encoder {
  public:
    // One message, preceded by the definitions of every type of `t` not yet
    // sent on this stream. `v` must be a struct value for a struct type;
    // fields it lacks are zero (omitted).
    std::string encode(const Type* t, const Value& v);

  private:
    int idOf(const Type* t, std::string& defs);
    void value(std::string& out, const Type* t, const Value& v);
    static bool isZero(const Type* t, const Value& v);
    std::map<const Type*, int> ids_;
    int next_ = kFirstUserId;
};

}  // namespace herd::gob
