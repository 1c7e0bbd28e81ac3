// What the service layer asks of the daemon that hosts it: an event loop for
// sockets, a way back to the command thread, giving the command lock up while
// a command waits, and being told when VMs change or a client asks to quit.
// The daemon implements it (src/daemon/daemon.cc); without a daemon (unit
// tests, tools) Herd uses NoDaemon, which runs everything inline.
#pragma once

#include <functional>

namespace boost::asio {
class io_context;
}

namespace herd {

class WebControl;

class DaemonLink {
  public:
    virtual ~DaemonLink() = default;

    // The daemon's event loop, where cc serves its sockets; null without one.
    virtual boost::asio::io_context* io() = 0;
    // Runs `job` later on the command thread, holding the command lock.
    virtual void post(std::function<void()> job) = 0;
    // Runs `wait` without the command lock and returns with it held again;
    // `cancel`, if given, makes `wait` return soon when the daemon stops.
    virtual void runUnlocked(const std::function<void()>& wait,
                             const std::function<void()>& cancel) = 0;
    // Anything may have changed the VMs (a command, a runtime event): the
    // web page's live table listens here. Command thread.
    virtual void changed() = 0;
    // `quit [delay]`: the daemon stops after replying, `delay_s` seconds on.
    // `keep` (`quit keep`): the containers go on without it, for the next
    // daemon on the base to adopt (docs/durability.md).
    virtual void requestQuit(int delay_s, bool keep) = 0;
    // The web page server (`web` command); null when the daemon has none.
    virtual WebControl* web() = 0;
};

// No daemon: no event loop, no web page; posted jobs and waits run at once,
// quit and change notices go nowhere.
class NoDaemon final : public DaemonLink {
  public:
    boost::asio::io_context* io() override { return nullptr; }
    void post(std::function<void()> job) override { job(); }
    void runUnlocked(const std::function<void()>& wait, const std::function<void()>&) override {
        wait();
    }
    void changed() override {}
    void requestQuit(int, bool) override {}
    WebControl* web() override { return nullptr; }
};

}  // namespace herd
