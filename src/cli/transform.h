// .filter and .columns, minimega's dot-commands that select rows and columns:
// transformations of a batch.
#pragma once

#include <string_view>

#include "base/result.h"
#include "cli/response.h"

namespace herd::cli {

struct Filter {
    std::string column;  // lower-cased
    std::string value;   // lower-cased
    bool negate = false;
    bool fuzzy = false;  // substring match
};

// `<col><op><value>` with ops tried in order !~ ~ != =; else
// `invalid filter, see help`.
Result<Filter> parseFilter(std::string_view spec);

// Applies a filter to a batch in place. Errors: ``no such column `c` ``,
// ``ambiguous column `c` ``.
Result<void> applyFilter(Batch& batch, const Filter& f);

// Keeps and reorders columns (comma list, prefix resolution).
Result<void> applyColumns(Batch& batch, std::string_view columns);

}  // namespace herd::cli
