// A compiled command: a line matched against one handler pattern.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace herd::cli {

struct Handler;

struct Command {
    std::string original;              // the raw line, trimmed
    std::string pattern;               // the pattern that matched (as written)
    const Handler* handler = nullptr;  // null for blank and comment-only lines

    std::map<std::string, std::string> strings;
    std::map<std::string, bool> bools;
    std::map<std::string, std::vector<std::string>> lists;
    std::shared_ptr<Command> sub;  // for (command) items

    bool record = true;    // record in history (handlers may clear it)
    bool comment = false;  // comment-only line: no-op, recorded

    bool empty() const { return handler == nullptr && !comment; }

    // Convenience getters: missing keys read as empty / false.
    const std::string& str(const std::string& key) const;
    bool flag(const std::string& key) const;
    const std::vector<std::string>& list(const std::string& key) const;
    bool has(const std::string& key) const {
        return strings.count(key) || lists.count(key) || bools.count(key);
    }

    // Sets record on this command and every nested one (dot-commands run
    // their subcommand unrecorded).
    void setRecord(bool r);
};

}  // namespace herd::cli
