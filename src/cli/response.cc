// Rendering of response batches, following minicli's Responses.String():
// header agreement, table/CSV/compressed/simple output, and Go's JSON.
#include "cli/response.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <memory>
#include <optional>

#include "base/result.h"
#include "cli/tabwriter.h"
#include "cli/text.h"

namespace herd::cli {

// ---------------------------------------------------------------------------
// Go-compatible JSON

namespace {

void goString(std::string& out, std::string_view s) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (size_t i = 0; i < s.size();) {
        const unsigned char b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            ++i;
            if (b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&') {
                out += static_cast<char>(b);
                continue;
            }
            switch (b) {
                case '"':
                case '\\':
                    out += '\\';
                    out += static_cast<char>(b);
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                default:
                    out += "\\u00";
                    out += hex[b >> 4];
                    out += hex[b & 0xF];
            }
            continue;
        }
        text::Rune r = text::decode(s, i);
        if (r.r == text::kRuneError && r.size == 1) {
            out += "\\ufffd";
        } else if (r.r == 0x2028 || r.r == 0x2029) {
            out += "\\u202";
            out += hex[r.r & 0xF];
        } else {
            out.append(s.substr(i, r.size));
        }
        i += r.size;
    }
    out += '"';
}

void goFloat(std::string& out, double f) {
    if (!std::isfinite(f)) {
        out += "null";  // Go refuses to encode these; null keeps the text valid
        return;
    }
    const double a = std::fabs(f);
    const bool sci = a != 0 && (a < 1e-6 || a >= 1e21);
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, f,
                             sci ? std::chars_format::scientific : std::chars_format::fixed);
    std::string s(buf, res.ptr);
    if (sci) {
        // Go writes e-7 where C++ writes e-07.
        const size_t n = s.size();
        if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
    }
    out += s;
}

template <typename J>
void goValue(std::string& out, const J& v) {
    switch (v.type()) {
        case nlohmann::json::value_t::null:
        case nlohmann::json::value_t::discarded:
            out += "null";
            break;
        case nlohmann::json::value_t::boolean:
            out += v.template get<bool>() ? "true" : "false";
            break;
        case nlohmann::json::value_t::number_integer:
            out += std::to_string(v.template get<int64_t>());
            break;
        case nlohmann::json::value_t::number_unsigned:
            out += std::to_string(v.template get<uint64_t>());
            break;
        case nlohmann::json::value_t::number_float:
            goFloat(out, v.template get<double>());
            break;
        case nlohmann::json::value_t::string:
            goString(out, v.template get_ref<const std::string&>());
            break;
        case nlohmann::json::value_t::binary:
            out += "null";
            break;
        case nlohmann::json::value_t::array: {
            out += '[';
            bool first = true;
            for (const auto& e : v) {
                if (!first) out += ',';
                first = false;
                goValue(out, e);
            }
            out += ']';
            break;
        }
        case nlohmann::json::value_t::object: {
            out += '{';
            bool first = true;
            for (auto it = v.begin(); it != v.end(); ++it) {
                if (!first) out += ',';
                first = false;
                goString(out, it.key());
                out += ':';
                goValue(out, it.value());
            }
            out += '}';
            break;
        }
    }
}

}  // namespace

void appendGoString(std::string& out, std::string_view s) {
    goString(out, s);
}

std::string goJson(const nlohmann::ordered_json& v) {
    std::string out;
    goValue(out, v);
    return out;
}

std::string goJson(const nlohmann::json& v) {
    std::string out;
    goValue(out, v);
    return out;
}

nlohmann::ordered_json toJson(const Response& r) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["Host"] = r.host;
    j["Response"] = r.response;
    j["Header"] =
        r.header.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.header);
    j["Tabular"] =
        r.tabular.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.tabular);
    j["Error"] = r.error;
    // Data is opaque: parse its Go encoding back so that the ordered value
    // keeps the member order goJson gives it.
    j["Data"] = nlohmann::ordered_json::parse(r.data_go.empty() ? goJson(r.data) : r.data_go);
    return j;
}

std::string renderJson(const Batch& batch) {
    if (batch.empty()) return "";
    std::string out = "[";
    for (size_t i = 0; i < batch.size(); ++i) {
        if (i > 0) out += ',';
        goValue(out, toJson(batch[i]));
    }
    out += ']';
    return out;
}

// ---------------------------------------------------------------------------
// Host ranges (minimega's ranges.UnsplitList)

namespace {

struct HostTrie {
    bool terminal = false;
    std::map<char32_t, std::unique_ptr<HostTrie>> children;  // sorted by rune

    void add(std::string_view s) {
        HostTrie* t = this;
        for (size_t i = 0; i < s.size();) {
            text::Rune r = text::decode(s, i);
            i += r.size;
            auto& child = t->children[r.r];
            if (!child) child = std::make_unique<HostTrie>();
            t = child.get();
        }
        t->terminal = true;
    }
};

bool isDigit(char32_t r) {
    return r >= '0' && r <= '9';
}

// A node seen through a numeric prefix. `skip_digits` is set when the digits
// below it were already folded into a longer number: minimega drops such
// hosts (node1 next to node12); herd keeps them.
struct NumView {
    const HostTrie* node;
    bool skip_digits;
};

std::vector<std::string> flatten(const HostTrie& t, bool skip_digits);

void flattenNums(const HostTrie& t, const std::string& digits,
                 std::vector<std::pair<std::string, NumView>>& out) {
    const size_t before = out.size();
    bool other = t.terminal;
    for (const auto& [r, child] : t.children) {
        if (isDigit(r)) {
            flattenNums(*child, digits + static_cast<char>(r), out);
        } else {
            other = true;
        }
    }
    if (out.size() == before) {
        out.push_back({digits, NumView{&t, false}});
    } else if (other) {
        out.push_back({digits, NumView{&t, true}});
    }
}

// ranges.unsplitInts on sorted, distinct numbers: 1,2,3,5 -> [1-3,5].
std::string unsplitInts(const std::vector<int64_t>& nums) {
    if (nums.empty()) return "";
    if (nums.size() == 1) return std::to_string(nums[0]);
    std::string out = "[" + std::to_string(nums[0]);
    int64_t start = nums[0], prev = nums[0];
    for (size_t i = 1; i < nums.size(); ++i) {
        if (nums[i] - prev != 1) {
            if (start != prev) out += "-" + std::to_string(prev);
            out += "," + std::to_string(nums[i]);
            start = nums[i];
        } else if (i == nums.size() - 1) {
            out += "-" + std::to_string(nums[i]);
        }
        prev = nums[i];
    }
    return out + "]";
}

std::vector<std::string> flatten(const HostTrie& t, bool skip_digits) {
    std::vector<std::string> res;
    if (t.terminal) res.emplace_back();
    std::vector<std::pair<std::string, NumView>> nums;
    for (const auto& [r, child] : t.children) {
        if (isDigit(r)) {
            if (!skip_digits) flattenNums(*child, std::string(1, static_cast<char>(r)), nums);
            continue;
        }
        std::string prefix;
        text::append(prefix, r);
        for (auto& suffix : flatten(*child, false)) res.push_back(prefix + suffix);
    }
    // Group the numbers by what follows them, then fold each group.
    std::map<std::string, std::vector<int64_t>> vals;
    for (const auto& [digits, view] : nums) {
        const int64_t n = text::atoi(digits).value_or(0);  // Go's Atoi error yields 0
        for (auto& suffix : flatten(*view.node, view.skip_digits)) vals[suffix].push_back(n);
    }
    for (auto& [suffix, ints] : vals) {
        std::sort(ints.begin(), ints.end());
        ints.erase(std::unique(ints.begin(), ints.end()), ints.end());
        res.push_back(unsplitInts(ints) + suffix);
    }
    return res;
}

}  // namespace

std::string compressHosts(std::vector<std::string> hosts) {
    HostTrie t;
    for (const auto& h : hosts) t.add(h);
    // minimega's ranges tests expect the groups in sorted order (its trie
    // walk puts `node[..]` before `n[..]`); sort them.
    std::vector<std::string> groups = flatten(t, false);
    std::sort(groups.begin(), groups.end());
    std::string out;
    for (const auto& s : groups) {
        if (!out.empty()) out += ',';
        out += s;
    }
    return out;
}

// ---------------------------------------------------------------------------
// Rendering

namespace {

// encoding/csv: quote fields holding a comma, quote, CR or LF, starting with
// a space, or equal to `\.`; double the quotes inside.
void csvField(std::string& out, const std::string& f) {
    bool quote = false;
    if (!f.empty()) {
        quote = f == "\\." || f.find_first_of(",\"\r\n") != std::string::npos ||
                text::isSpace(text::decode(f, 0).r);
    }
    if (!quote) {
        out += f;
        return;
    }
    out += '"';
    for (char c : f) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
}

void csvRecord(std::string& out, const std::vector<std::string>& rec) {
    for (size_t i = 0; i < rec.size(); ++i) {
        if (i > 0) out += ',';
        csvField(out, rec[i]);
    }
    out += '\n';
}

void tableLine(std::string& out, const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
        if (i > 0) out += "\t| ";
        out += cells[i];
    }
    out += '\n';
}

// The header shared by every non-error response, or an error text.
Result<std::vector<std::string>> sharedHeader(const Batch& batch) {
    const Response* first = nullptr;
    for (const auto& r : batch) {
        if (r.error.empty() && !r.header.empty()) {
            first = &r;
            break;
        }
    }
    if (first == nullptr) return std::vector<std::string>{};
    for (const auto& r : batch) {
        if (!r.error.empty()) continue;
        if (r.header != first->header) {
            return Error::msg("header mismatch, hosts: " + first->host + ", " + r.host);
        }
    }
    return first->header;
}

// Whether the batch is tabular; errors on width or kind mismatches.
Result<bool> validTabular(const Batch& batch, const std::vector<std::string>& header) {
    bool simple = false, tabular = false;
    for (const auto& r : batch) {
        if (!r.error.empty()) continue;
        if (!r.tabular.empty()) {
            tabular = true;
            if (header.empty()) continue;
            for (size_t j = 0; j < r.tabular.size(); ++j) {
                if (r.tabular[j].size() != header.size()) {
                    return Error::msg("tabular width mismatch, host: " + r.host +
                                      ", row: " + std::to_string(j));
                }
            }
        } else if (!r.response.empty()) {
            simple = true;
        }
    }
    if (simple && tabular) return Error::msg("responses mix simple and tabular data");
    return tabular;
}

// One output row: the response's host (when annotated) and its cells, by
// reference: a big table is sorted and written without copying its cells.
struct RowRef {
    const std::string* host;  // null without annotation
    const std::vector<std::string>* cells;

    size_t size() const { return cells->size() + (host ? 1 : 0); }
    const std::string& operator[](size_t k) const {
        if (host) return k == 0 ? *host : (*cells)[k - 1];
        return (*cells)[k];
    }
};

// A row with its cells' integer values, each parsed when a comparison first
// needs it (most comparisons end at the first or second column).
struct SortKey {
    RowRef row;
    mutable std::vector<std::optional<std::optional<int64_t>>> ints;

    const std::optional<int64_t>& intAt(size_t k) const {
        if (!ints[k]) ints[k] = text::atoi(row[k]);
        return *ints[k];
    }
};

// Go's table.Less: the first differing column decides, numerically when
// both cells are integers. Equal numbers written differently ("01", "1")
// compare equal, as in Go.
bool keyLess(const SortKey& a, const SortKey& b) {
    const size_t n = std::min(a.row.size(), b.row.size());
    for (size_t k = 0; k < n; ++k) {
        const std::string& x = a.row[k];
        const std::string& y = b.row[k];
        if (x == y) continue;
        const auto& xi = a.intAt(k);
        const auto& yi = b.intAt(k);
        if (xi && yi) return *xi < *yi;
        return x < y;
    }
    return false;
}

template <typename Row>
void tableLineOf(std::string& out, const Row& cells, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (i > 0) out += "\t| ";
        out += cells[i];
    }
    out += '\n';
}

std::string tabularString(const Batch& batch, std::vector<std::string> header, const Flags& flags) {
    if (flags.annotate) header.insert(header.begin(), "host");
    std::vector<SortKey> rows;
    size_t bytes = 0;
    for (const auto& r : batch) {
        for (const auto& row : r.tabular) {
            rows.push_back({RowRef{flags.annotate ? &r.host : nullptr, &row}, {}});
            for (const auto& c : row) bytes += c.size() + 3;
        }
    }
    if (flags.sort) {
        for (auto& k : rows) k.ints.resize(k.row.size());
        std::stable_sort(rows.begin(), rows.end(), keyLess);
    }

    std::string out;
    out.reserve(bytes + rows.size() * 8);
    if (flags.mode == Mode::Csv) {
        if (flags.headers) csvRecord(out, header);
        for (const auto& k : rows) {
            for (size_t i = 0; i < k.row.size(); ++i) {
                if (i > 0) out += ',';
                csvField(out, k.row[i]);
            }
            out += '\n';
        }
        return out;
    }
    if (flags.headers) tableLine(out, header);
    for (const auto& k : rows) tableLineOf(out, k.row, k.row.size());
    return tabwrite(out,
                    TabwriterOptions{.minwidth = 5, .tabwidth = 0, .padding = 1, .padchar = ' '});
}

// Identical simple texts from several hosts are printed once, prefixed by
// the folded host list; groups are ordered by that prefix.
std::string compressString(const Batch& batch, const Flags& flags) {
    std::map<std::string, std::vector<std::string>> byText;  // text -> hosts
    std::vector<std::string> order;
    for (const auto& r : batch) {
        if (!r.error.empty() || r.response.empty()) continue;
        auto& hosts = byText[r.response];
        if (hosts.empty()) order.push_back(r.response);
        hosts.push_back(r.host);
    }
    std::map<std::string, std::string> groups;  // host range -> text
    for (const auto& t : order) {
        const auto& hosts = byText[t];
        groups[hosts.size() == 1 ? hosts[0] : compressHosts(hosts)] = t;
    }
    std::string out;
    for (const auto& [hosts, t] : groups) {
        if (flags.annotate) out += hosts + ": ";
        out += t + "\n";
    }
    return out;
}

}  // namespace

std::string render(const Batch& batch, const Flags& flags) {
    if (batch.empty()) return "";
    if (flags.mode == Mode::Json) return renderJson(batch);

    auto header = sharedHeader(batch);
    if (!header.ok()) return header.error().text();
    auto tabular = validTabular(batch, *header);
    if (!tabular.ok()) return tabular.error().text();

    std::string out;
    if (*tabular) {
        out = tabularString(batch, *header, flags);
    } else if (flags.compress && batch.size() > 1) {
        out = compressString(batch, flags);
    } else {
        for (const auto& r : batch) {
            if (!r.error.empty() || r.response.empty()) continue;
            if (flags.annotate) out += r.host + ": ";
            out += r.response + "\n";
        }
    }
    const std::string_view trimmed = text::trimSpace(out);
    if (trimmed.size() == out.size()) return out;
    return std::string(trimmed);
}

}  // namespace herd::cli
