#include "service/command_context.h"

#include "service/executor.h"

namespace herd {

CommandContext CommandContext::withSink(Sink sink) const {
    CommandContext c = *this;
    c.sink_ = std::move(sink);
    return c;
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
