// The consoles' scrollback across `quit keep`: the daemon that quits writes
// every console's scrollback to one file, `<base>/records/scrollback`, and
// the daemon that adopts the containers reads it back (and removes it), so a
// new viewer sees what the guests had printed before the upgrade. After a
// crash there is no such file: the consoles then start with what the guests
// wrote since (it waited in the ptys).
//
// The format: a line `herd-scrollback 1`, then for each console a line
// `<vm id> <length>` and that many bytes. The file is root's (0600 in the
// 0700 records directory) and written atomically; a file that does not
// parse yields what parsed before the fault.
#pragma once

#include <map>
#include <string>

#include "base/fs.h"
#include "base/result.h"

namespace herd {

inline constexpr const char* kScrollbackFile = "records/scrollback";

// The file's contents for `scrollbacks` (pure).
std::string encodeScrollbacks(const std::map<int, std::string>& scrollbacks);
// What `text` holds, at most `per_console` bytes (the last ones) each (pure).
std::map<int, std::string> decodeScrollbacks(const std::string& text, size_t per_console);

Result<void> saveScrollbacks(const Dir& base, const std::map<int, std::string>& scrollbacks);
// Reads and removes the file; empty when there is none.
std::map<int, std::string> takeScrollbacks(const Dir& base, size_t per_console);

}  // namespace herd
