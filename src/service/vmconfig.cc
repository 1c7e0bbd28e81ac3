// What VmConfig does with the field table: clearing, the summary, the
// instance config file and `vm info` columns; and the checks of values other
// modules share (uuids, volumes).
#include "service/vmconfig.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "base/strings.h"
#include "service/gostr.h"
#include "service/vmconfig_values.h"

namespace herd {

namespace {

// A Go tabwriter block with minwidth 5, padding 1: labels padded to one
// column, values unpadded. A value's '\n' starts a line of its own under the
// value column.
class Block {
  public:
    void add(const std::string& label, const std::string& value) {
        auto lines = split(value, "\n");
        rows_.emplace_back(label, lines[0]);
        for (size_t i = 1; i < lines.size(); ++i) rows_.emplace_back("", lines[i]);
    }
    std::string str() const {
        size_t width = 5;
        for (auto& [l, _] : rows_) width = std::max(width, l.size() + 1);
        std::string out;
        for (auto& [l, v] : rows_) out += l + std::string(width - l.size(), ' ') + v + "\n";
        return out;
    }

  private:
    std::vector<std::pair<std::string, std::string>> rows_;
};

}  // namespace

void VmConfig::clear(std::string_view field) {
    const bool all = field.empty() || field == "all";
    for (auto& f : configFields())
        if (all || f.isCalled(field)) f.value.copy(*this, field::defaults());
}

std::string VmConfig::summary() const {
    std::string out;
    for (auto& block : summaryLayout()) {
        Block b;
        for (auto& name : block.fields) {
            const ConfigField* f = findConfigField(name);
            b.add(f->label, f->value.show(*this));
        }
        out += block.title + "\n" + b.str() + "\n";
    }
    return out;
}

std::string VmConfig::configFile() const {
    std::string out;
    auto write = [&](ConfigSection section) {
        for (auto& f : configFields()) {
            if (f.section != section) continue;
            if (f.in_file == InFile::IfChanged && f.value.is_default(*this)) continue;
            for (auto& args : f.value.file_args(*this))
                out += fmt::format("vm config {} {}\n", f.name, args);
        }
    };
    write(ConfigSection::Vm);
    write(ConfigSection::Container);
    return out;
}

Result<std::string> VmConfig::info(std::string_view column, VmType type) const {
    for (auto& f : configFields())
        if (!f.column.empty() && f.column == column && f.appliesTo(type))
            return f.value.info(*this);
    return Error::msg(fmt::format("invalid info field: {}", column));
}

bool isUuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : std::isxdigit(static_cast<unsigned char>(s[i])) == 0) return false;
    }
    return true;
}

Result<VolumeSource> parseVolumeSource(std::string_view typed) {
    VolumeSource v;
    auto colon = typed.find(':');
    std::string_view path = typed.substr(0, colon);
    bool ro = false, rw = false;
    if (colon != std::string_view::npos) {
        for (const auto& opt : split(typed.substr(colon + 1), ",")) {
            if (opt == "ro") {
                ro = true;
            } else if (opt == "rw") {
                rw = true;
            } else if (opt == "suid") {
                v.suid = true;
            } else if (opt == "dev") {
                v.dev = true;
            } else {
                return Error::msg(fmt::format(
                    "invalid volume option {} in {}: allowed are ro, rw, suid, dev, separated "
                    "by commas after a colon",
                    go::quote(opt), go::quote(typed)));
            }
        }
    }
    if (ro && rw)
        return Error::msg(
            fmt::format("volume {}: ro and rw both given (choose one)", go::quote(typed)));
    v.readonly = ro;
    // Lexically cleaned, as the kernel resolves it: `//`, `/./`, `/x/..`.
    v.path = path.empty() || path[0] != '/' ? std::string(path) : go::joinPath("/", path);
    if (v.path == "/") {
        return Error::msg(fmt::format(
            "volume {}: the host's root directory cannot be a volume (bind a directory under it)",
            go::quote(typed)));
    }
    return v;
}

std::string configQuote(std::string_view arg) {
    bool plain = !arg.empty() && std::none_of(arg.begin(), arg.end(), [](char c) {
        return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '\\' ||
               c == '#';
    });
    return plain ? std::string(arg) : go::quote(arg);
}

}  // namespace herd
