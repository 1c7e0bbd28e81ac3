// The argument preprocessor, as minimega's: $VAR and ${VAR} expansion.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cli/command.h"

namespace herd::cli {

using Lookup = std::function<std::optional<std::string>(const std::string&)>;

// Replaces $VAR / ${VAR} from `lookup` (unset -> empty), as Go's os.Expand.
std::string expandVars(std::string_view s, const Lookup& lookup);

// Applies expandVars to every string and list argument (not nested commands:
// they are preprocessed when they run).
void preprocess(Command& c, const Lookup& lookup);

}  // namespace herd::cli
