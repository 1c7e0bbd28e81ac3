#include "cli/command.h"

namespace herd::cli {

const std::string& Command::str(const std::string& key) const {
    static const std::string empty;
    auto it = strings.find(key);
    return it == strings.end() ? empty : it->second;
}

bool Command::flag(const std::string& key) const {
    auto it = bools.find(key);
    return it != bools.end() && it->second;
}

const std::vector<std::string>& Command::list(const std::string& key) const {
    static const std::vector<std::string> empty;
    auto it = lists.find(key);
    return it == lists.end() ? empty : it->second;
}

void Command::setRecord(bool r) {
    for (Command* c = this; c != nullptr; c = c->sub.get()) c->record = r;
}

}  // namespace herd::cli
