// Helpers shared by the vm*.cc command modules.
#pragma once

#include <string>
#include <vector>

#include "cli/table.h"
#include "service/command_context.h"

namespace herd {

cli::Handler makeHandler(std::string help_short, std::string help_long,
                         std::vector<std::string> patterns, cli::CallFn call,
                         cli::SuggestFn suggest = nullptr);

// Adds a handler; a malformed pattern is a programming error and aborts.
void addHandler(Herd& herd, cli::Handler h);

// Emits one response holding a table and an error (either may be empty).
void emitTable(CommandContext& ctx, std::vector<std::string> header,
               std::vector<std::vector<std::string>> rows, const std::string& error);

// Emits an error when `r` failed, a silent success otherwise.
void okOrFail(CommandContext& ctx, const Result<void>& r);

// A VM of the namespace by name, id or uuid (null if none).
Vm* findVm(CommandContext& ctx, const std::string& s);

// Suggests VM names of the namespace (and `all` when `wild`).
cli::SuggestFn vmSuggest(bool wild);

void registerVmConfigCommands(Herd& herd);  // vm_config.cc

}  // namespace herd
