// What a command handler sees: the daemon state, its client's session and
// flags, the namespace it runs in, and where its output goes. One context
// per command line; nested commands (`namespace X cmd`, dot-commands, the
// lines of a `read` file) run in contexts derived from it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "cli/response.h"
#include "service/herd.h"
#include "service/session.h"

namespace herd {

class Executor;
using Sink = std::function<void(cli::Batch)>;

class CommandContext {
  public:
    CommandContext(Herd& herd, Session& session, Executor& exec, Sink sink, std::string ns)
        : herd_(&herd),
          session_(&session),
          exec_(&exec),
          sink_(std::move(sink)),
          ns_(std::move(ns)) {}

    Herd& herd() const { return *herd_; }
    Session& session() const { return *session_; }

    // The namespace this command runs in, and its state (made on first use).
    const std::string& ns() const { return ns_; }
    Namespace& nspace() const { return herd_->namespaces().getOrCreate(ns_); }
    // `namespace X` within a `read` file: the file's following lines run in X.
    void switchNamespace(std::string ns) { ns_ = std::move(ns); }
    // Running from a `read` file (which may not nest another).
    bool inRead() const { return in_read_; }
    // Running inside `namespace <name> (command)`: a namespace switch there
    // changes the namespace of what follows in this command only, never the
    // daemon's active one (as minimega, which puts the active one back).
    bool nsScoped() const { return ns_scoped_; }

    // Contexts for nested commands: the same with another sink, in
    // namespace `ns` (scoped), or for the lines of a `read` file. A new sink
    // gets every column (its owner may read any) unless `transform`: it
    // passes what it gets on to this context's output, which may read less.
    CommandContext withSink(Sink sink, bool transform = false) const;
    CommandContext inNamespace(std::string ns) const;
    CommandContext forReadFile() const;

    const std::string& host() const { return herd_->options().hostname; }

    // Emit helpers: each emits one batch with one response from this host.
    void emit(cli::Batch b) const { sink_(std::move(b)); }
    void ok() const;                     // silent success
    void reply(std::string text) const;  // simple text
    void fail(std::string error) const;  // error only
    void table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows) const;
    cli::Response response() const;  // a blank response carrying this host
    // A progress line for this client, now, ahead of the command's answer.
    void status(const std::string& text) const {
        if (session_->status) session_->status(text);
    }

    // Runs a nested command (dot-commands, `namespace X cmd`) in this
    // context: its session, namespace and sink.
    void run(cli::Command& sub);

    // Whether a table's column `column` reaches the output: not when an
    // enclosing `.columns` keeps only others, and no `.filter` reads it. A
    // big table (`vm info`) may leave such cells empty instead of computing
    // them. Names are matched as the dot-commands resolve them (a name may
    // be a prefix of the column), case-insensitively: a superset is safe.
    bool wantsColumn(std::string_view column) const;
    // For `.columns` and `.filter` (on the contexts they run their command
    // in): only the columns `names` are kept / column `name` is read too.
    void keepOnlyColumns(const std::vector<std::string>& names);
    void readsColumn(const std::string& name);

  private:
    Herd* herd_;
    Session* session_;
    Executor* exec_;
    Sink sink_;
    std::string ns_;
    bool in_read_ = false;
    bool ns_scoped_ = false;
    // What the enclosing dot-commands read of a table; null: everything.
    // Shared between contexts (copied on change): contexts are copied often.
    struct ColumnWants {
        std::vector<std::string> names;  // lower case
    };
    std::shared_ptr<const ColumnWants> wants_;
};

}  // namespace herd
