#include "service/env.h"

#include "service/executor.h"

namespace herd {

cli::Response Env::response() const {
    cli::Response r;
    r.host = host();
    return r;
}

void Env::ok() {
    emit({response()});
}

void Env::reply(std::string text) {
    auto r = response();
    r.response = std::move(text);
    emit({std::move(r)});
}

void Env::fail(std::string error) {
    auto r = response();
    r.error = std::move(error);
    emit({std::move(r)});
}

void Env::table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows) {
    auto r = response();
    r.header = std::move(header);
    r.tabular = std::move(rows);
    emit({std::move(r)});
}

void Env::run(cli::Command& sub) {
    exec.run(sub, *this);
}

}  // namespace herd
