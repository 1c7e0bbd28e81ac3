// The kinds of value a `vm config` field holds: each maker returns the
// parser and printers of one member of VmConfig (a FieldValue), so that a row
// of the field table only says which kind a field is. Internal to
// vmconfig*.cc.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "service/vmconfig.h"

namespace herd::field {

// The defaults: a VmConfig as its member initializers make it.
const VmConfig& defaults();

// Text as typed.
FieldValue text(std::string VmConfig::*m);
// A path: a relative one is made absolute under the file root.
FieldValue path(std::string VmConfig::*m);
// A size in MiB: `2048`, `512M`, `2G`, `1T`, or `unlimited`.
FieldValue size(std::string name, uint64_t VmConfig::*m);
// A whole number from lo to hi.
FieldValue count(std::string name, uint64_t VmConfig::*m, uint64_t lo, uint64_t hi);
// A number as Go's strconv parses it, with Go's error texts (fields herd
// does not use, whose errors minimega's scripts may expect).
FieldValue goUint(uint64_t VmConfig::*m);
FieldValue goInt(int64_t VmConfig::*m);
FieldValue flag(bool VmConfig::*m);

// What `vm config <f>` prints for an empty list.
enum class EmptyList { Nothing, Brackets };
// Words, printed as Go prints a []string (`[a b]`).
FieldValue words(std::vector<std::string> VmConfig::*m, EmptyList empty);
// Paths (each made absolute like `path`), printed as `words`.
FieldValue paths(std::vector<std::string> VmConfig::*m, EmptyList empty);
// key -> value: `vm config <f>` prints a `key -> value` line each, the
// summary and `vm info` a JSON object.
FieldValue dict(std::map<std::string, std::string> VmConfig::*m);

// `v` with another parser.
FieldValue withSet(FieldValue v, ConfigSetter set);

// The size printer: `unlimited` for kUnlimited.
std::string sizeString(uint64_t mib);

// Relative paths live under the file root (minimega's checkPath).
std::string checkPath(const ConfigContext& ctx, const std::string& v);

}  // namespace herd::field
