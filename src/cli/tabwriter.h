// A byte-for-byte re-implementation of Go's text/tabwriter (flags 0), which
// minimega uses for its tables and for `help`. Clients compare this output
// literally, so the quirks are kept: widths count runes, the text after the
// last tab of a line is not aligned, a line without tabs ends a column
// block, and the 0xff escape byte brackets text that is not interpreted.
#pragma once

#include <string>
#include <string_view>

namespace herd::cli {

struct TabwriterOptions {
    int minwidth = 0;  // minimal cell width, including padding
    int tabwidth = 8;  // width of a tab when padding with tabs
    int padding = 1;   // added to the widest cell of a column
    char padchar = ' ';
};

// What Go's tabwriter writes for one Write(input) followed by Flush().
std::string tabwrite(std::string_view input, const TabwriterOptions& opts);

}  // namespace herd::cli
