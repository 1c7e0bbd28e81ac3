// What the service layer knows of the web page server (daemon side,
// src/web): the `web` command's controls. The daemon fills Herd::web; the
// service layer never depends on src/web itself.
#pragma once

#include <string>

#include "base/result.h"

namespace herd {

class WebControl {
  public:
    virtual ~WebControl() = default;
    // Command thread. Where the server listens (URL and token), or that it
    // does not run.
    virtual std::string status() = 0;
    // Starts listening on `addr` ("addr:port", ":port", "port"); an error if
    // it already runs or the address is bad or taken. Returns status().
    virtual Result<std::string> start(const std::string& addr) = 0;
    // Stops listening and closes every web connection.
    virtual Result<void> stop() = 0;
};

}  // namespace herd
