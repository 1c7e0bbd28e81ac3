// VM name lists: launch name expansion (`vm launch container web[1-3]`, or a
// count) and targets (`all`, names, ids and ranges), as minimega reads them.
// Pure functions, no state.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd {

// The wildcard target and reserved name.
inline constexpr std::string_view kWildcard = "all";

// Upper bound on the names one range may produce: `foo[0-2000000000]` must be
// an error, not an allocation of gigabytes.
inline constexpr size_t kMaxRangeNames = 100000;

// Expands `foo,bar[1-3,5]` into its names (minimega's ranges.SplitList):
// comma list outside brackets; `prefix[spec]` with integers and `a-b`
// subranges, de-duplicated, sorted, zero-padded when all numbers have the
// same width. Errors carry minimega's texts.
Result<std::vector<std::string>> splitList(std::string_view in);

// `vm launch` name argument: a count N (> 0) gives N empty names (named
// vm-<k> when scheduled), otherwise splitList with the reserved-word,
// integer and duplicate checks.
Result<std::vector<std::string>> expandLaunchNames(std::string_view arg);

// `^[a-zA-Z0-9-_.]+$`, the rule for VM and namespace names, except `.` and
// `..` (minimega takes them; they make broken paths and web console links).
bool validName(std::string_view name);
inline constexpr std::string_view kInvalidNameError =
    "invalid name; must only include letters, numbers, hyphens and underscores";
// Why validName refuses `name`: kInvalidNameError, or for `.` and `..`
// kReservedNameError.
inline constexpr std::string_view kReservedNameError = "invalid name; `.` and `..` are reserved";
std::string_view invalidNameError(std::string_view name);

// A parsed `<vm target>`.
struct Target {
    std::vector<std::string> vals;  // the expanded list, in order
    std::set<std::string> names;    // non-integer entries (without `all`)
    std::set<int64_t> ids;          // integer entries
    bool wild = false;              // `all` appeared
};

Result<Target> parseTarget(std::string_view target);

}  // namespace herd
