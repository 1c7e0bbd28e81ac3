// What a command handler sees: the daemon state, its client's session and
// flags, the namespace it runs in, and where its output goes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/response.h"
#include "service/herd.h"
#include "service/session.h"

namespace herd {

class Executor;
using Sink = std::function<void(cli::Batch)>;

struct Env {
    Herd& herd;
    Session& session;
    Executor& exec;
    Sink sink;             // receives each batch the handler emits
    std::string ns;        // name of the namespace this command runs in
    bool in_read = false;  // running from a `read` file
    // Running inside `namespace <name> (command)`: a namespace switch there
    // changes the namespace of what follows in this command only, never the
    // daemon's active one (as minimega, which puts the active one back).
    bool ns_scoped = false;

    Namespace& nspace() { return herd.namespaces.getOrCreate(ns); }
    const std::string& host() const { return herd.opts.hostname; }

    // Emit helpers: each emits one batch with one response from this host.
    void emit(cli::Batch b) { sink(std::move(b)); }
    void ok();                     // silent success
    void reply(std::string text);  // simple text
    void fail(std::string error);  // error only
    void table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows);
    cli::Response response() const;  // a blank response carrying this host

    // Runs a nested command (dot-commands, `namespace X cmd`) with this env's
    // session, namespace and sink.
    void run(cli::Command& sub);
};

}  // namespace herd
