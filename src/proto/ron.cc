#include "proto/ron.h"

#include <cctype>

namespace herd::ron {

namespace {

using gob::Type;
using K = Type::Kind;

struct Types {
    Type strings{K::Slice, "[]string", {}, gob::stringType(), nullptr};
    Type tags{K::Map, "map[string]string", {}, gob::stringType(), gob::stringType()};
    Type filter{K::Struct,
                "Filter",
                {{"UUID", gob::stringType()},
                 {"Hostname", gob::stringType()},
                 {"Arch", gob::stringType()},
                 {"OS", gob::stringType()},
                 {"MAC", gob::stringType()},
                 {"IP", gob::stringType()},
                 {"Tags", &tags}},
                nullptr,
                nullptr};
    Type conntest{
        K::Struct,
        "ConnTest",
        {{"Endpoint", gob::stringType()}, {"Wait", gob::intType()}, {"Packet", gob::bytesType()}},
        nullptr,
        nullptr};
    Type command{K::Struct,
                 "Command",
                 {{"ID", gob::intType()},
                  {"Background", gob::boolType()},
                  {"Command", &strings},
                  {"FilesSend", &strings},
                  {"FilesRecv", &strings},
                  {"ConnTest", &conntest},
                  {"PID", gob::intType()},
                  {"KillAll", gob::stringType()},
                  {"Level", gob::intType()},
                  {"Filter", &filter},
                  {"CheckedIn", &strings},
                  {"Prefix", gob::stringType()},
                  {"Once", gob::boolType()},
                  {"Sent", gob::boolType()},
                  {"Stdin", gob::stringType()},
                  {"Stdout", gob::stringType()},
                  {"Stderr", gob::stringType()}},
                 nullptr,
                 nullptr};
    Type commands{K::Map, "map[int]*Command", {}, &command, gob::intType()};
    Type process{
        K::Struct, "Process", {{"PID", gob::intType()}, {"Command", &strings}}, nullptr, nullptr};
    Type processes{K::Map, "map[int]*Process", {}, &process, gob::intType()};
    Type response{K::Struct,
                  "Response",
                  {{"ID", gob::intType()},
                   {"Stdout", gob::stringType()},
                   {"Stderr", gob::stringType()},
                   {"ExitCode", gob::intType()},
                   {"RecordExitCode", gob::boolType()}},
                  nullptr,
                  nullptr};
    Type responses{K::Slice, "[]*Response", {}, &response, nullptr};
    Type client{K::Struct,
                "Client",
                {{"UUID", gob::stringType()},
                 {"Arch", gob::stringType()},
                 {"OS", gob::stringType()},
                 {"Version", gob::stringType()},
                 {"Hostname", gob::stringType()},
                 {"IPs", &strings},
                 {"MACs", &strings},
                 {"Processes", &processes},
                 {"Tags", &tags},
                 {"Responses", &responses},
                 {"LastCommandID", gob::intType()}},
                nullptr,
                nullptr};
    Type file{K::Struct,
              "File",
              {{"ID", gob::intType()},
               {"Name", gob::stringType()},
               {"Perm", gob::uintType()},
               {"Data", gob::bytesType()},
               {"Offset", gob::intType()},
               {"EOF", gob::boolType()}},
              nullptr,
              nullptr};
    Type message{K::Struct,
                 "Message",
                 {{"Type", gob::intType()},
                  {"UUID", gob::stringType()},
                  {"Error", gob::stringType()},
                  {"Commands", &commands},
                  {"Client", &client},
                  {"File", &file},
                  {"Tunnel", gob::bytesType()},
                  {"Pipe", gob::stringType()},
                  {"PipeMode", gob::intType()},
                  {"PipeData", gob::stringType()},
                  {"UfsMode", gob::intType()},
                  {"Version", gob::stringType()}},
                 nullptr,
                 nullptr};
    Types() {
        // A map's key and element: Type{kind, name, fields, elem, key}.
        commands.key = gob::intType();
        commands.elem = &command;
        processes.key = gob::intType();
        processes.elem = &process;
    }
};

}  // namespace

const gob::Type* messageType() {
    static const Types t;
    return &t.message;
}

long majorVersion(const std::string& v) {
    size_t i = 0;
    if (i < v.size() && (v[i] == 'v' || v[i] == 'V')) ++i;
    long n = 0;
    size_t start = i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])) && n < 1000000)
        n = n * 10 + (v[i++] - '0');
    return i == start ? -1 : n;
}

}  // namespace herd::ron
