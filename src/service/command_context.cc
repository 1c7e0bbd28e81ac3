#include "service/command_context.h"

#include "cli/text.h"
#include "service/executor.h"

namespace herd {

CommandContext CommandContext::withSink(Sink sink, bool transform) const {
    CommandContext c = *this;
    c.sink_ = std::move(sink);
    if (!transform) c.wants_.reset();
    return c;
}

bool CommandContext::wantsColumn(std::string_view column) const {
    if (!wants_) return true;
    const std::string lower = cli::text::toLower(column);
    for (const auto& n : wants_->names)
        if (lower.starts_with(n)) return true;
    return false;
}

void CommandContext::keepOnlyColumns(const std::vector<std::string>& names) {
    // Nested `.columns`: each resolves against what the inner one kept, so
    // the union names every column any of them may show.
    auto w = std::make_shared<ColumnWants>(wants_ ? *wants_ : ColumnWants{});
    for (const auto& n : names) w->names.push_back(cli::text::toLower(n));
    wants_ = std::move(w);
}

void CommandContext::readsColumn(const std::string& name) {
    // Outside any `.columns` every column is wanted already.
    if (!wants_) return;
    auto w = std::make_shared<ColumnWants>(*wants_);
    w->names.push_back(cli::text::toLower(name));
    wants_ = std::move(w);
}

CommandContext CommandContext::inNamespace(std::string ns) const {
    CommandContext c = *this;
    c.ns_ = std::move(ns);
    c.ns_scoped_ = true;
    return c;
}

CommandContext CommandContext::forReadFile() const {
    CommandContext c = *this;
    c.in_read_ = true;
    return c;
}

cli::Response CommandContext::response() const {
    cli::Response r;
    r.host = host();
    return r;
}

void CommandContext::ok() const {
    emit({response()});
}

void CommandContext::reply(std::string text) const {
    auto r = response();
    r.response = std::move(text);
    emit({std::move(r)});
}

void CommandContext::fail(std::string error) const {
    auto r = response();
    r.error = std::move(error);
    emit({std::move(r)});
}

void CommandContext::table(std::vector<std::string> header,
                           std::vector<std::vector<std::string>> rows) const {
    auto r = response();
    r.header = std::move(header);
    r.tabular = std::move(rows);
    emit({std::move(r)});
}

void CommandContext::run(cli::Command& sub) {
    exec_->run(sub, *this);
}

}  // namespace herd
