// Responses (as the control socket carries them) and their rendering as
// minimega's output (tables, CSV, JSON). Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace herd::cli {

// One host's answer to a command. Either simple text (`response`) or a table
// (`header` + `tabular`), plus an optional error.
struct Response {
    std::string host;
    std::string response;
    std::vector<std::string> header;  // empty = not tabular
    std::vector<std::vector<std::string>> tabular;
    std::string error;
    nlohmann::json data;  // opaque payload (null when absent)
    // The payload already in Go's encoding (goJson's text, without floats),
    // used instead of `data` when not empty: a 10,000-VM `vm info` writes
    // its Data straight into text instead of building 10,000 JSON objects.
    std::string data_go;

    bool isTable() const { return !header.empty(); }
};

// One batch: what a handler emits at once (a command may emit several).
using Batch = std::vector<Response>;

enum class Mode { Default, Json, Csv };

// Output flags. Each client connection holds its own defaults; dot-commands
// with a nested command override them for that command only.
struct Flags {
    bool annotate = true;
    bool headers = true;
    bool sort = true;
    bool compress = true;
    bool record = true;
    bool preprocess = true;
    Mode mode = Mode::Default;
};

// Renders a batch as minicli does (`Rendered` on the socket). Errors are not
// part of the rendered text.
std::string render(const Batch& batch, const Flags& flags);

// The JSON object of one response, fields in Go's order:
// Host, Response, Header, Tabular, Error, Data (null for empty slices).
nlohmann::ordered_json toJson(const Response& r);

// Appends `s` as a JSON string the way Go's encoding/json writes it (see
// goJson).
void appendGoString(std::string& out, std::string_view s);

// Folds host names into ranges for compressed output: a,node1,node2 -> a,node[1-2].
std::string compressHosts(std::vector<std::string> hosts);

// Compact JSON exactly as Go's encoding/json writes it (json.Marshal):
// `<`, `>`, `&`, U+2028 and U+2029 escaped as \u00XX / \u20XX, invalid UTF-8
// replaced by \ufffd, floats in Go's shortest form. Object members keep the
// order of the value (ordered_json) or are sorted (json), as Go does for
// structs and maps respectively.
std::string goJson(const nlohmann::ordered_json& v);
std::string goJson(const nlohmann::json& v);

// The JSON-mode rendering of a batch: a compact array of toJson objects
// (what `Rendered` holds with `.json true`), "" for an empty batch.
std::string renderJson(const Batch& batch);

}  // namespace herd::cli
