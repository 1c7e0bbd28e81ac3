// A real Console on an io_context and a real pty: the test plays the guest
// (writing into the pty's slave side and reading what viewers type) and the
// viewers (unix connections to the console socket, console_listener.h, and
// TCP). Everything runs on the test's thread: waits run the io_context until
// what is awaited has happened, never a fixed sleep.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/console.h"
#include "runtime/console_listener.h"

namespace herd::runtime {
namespace {

using namespace std::chrono_literals;

void setNonBlocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// One end the test holds (a viewer's socket or the pty slave): what it has
// read so far, without blocking, and whether the other side has gone.
struct Peer {
    int fd = -1;
    std::string got;
    bool eof = false;

    Peer() = default;
    explicit Peer(int f) : fd(f) { setNonBlocking(fd); }
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;
    ~Peer() {
        if (fd >= 0) ::close(fd);
    }

    // Reads all that is there now.
    void pump() {
        char buf[65536];
        while (!eof) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0) {
                got.append(buf, static_cast<size_t>(n));
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else {
                // 0 is end of file; ECONNRESET is a peer that closed with
                // bytes unread, which for a viewer is the same.
                if (n == 0 || errno != EAGAIN) eof = true;
                return;
            }
        }
    }

    void send(const std::string& bytes) const {
        ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    }
};

std::unique_ptr<Peer> connectUnix(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
    return std::make_unique<Peer>(fd);
}

std::unique_ptr<Peer> connectTcp(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
    return std::make_unique<Peer>(fd);
}

class ConsoleTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/herd-console-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        auto d = Dir::open(dir_);
        ASSERT_TRUE(d.ok()) << d.error().text();
        base_ = std::make_shared<const Dir>(std::move(*d));
    }

    void TearDown() override {
        if (console_) console_->close();
        if (listener_) listener_->close();
        io_.poll();
        slave_.reset();
        ::unlink((dir_ + "/console").c_str());
        ::rmdir(dir_.c_str());
    }

    // The console socket, made once.
    void listen(ConsoleListener::Options opts = {}) {
        if (listener_) return;
        auto l = ConsoleListener::create(io_, base_, opts);
        ASSERT_TRUE(l.ok()) << l.error().text();
        listener_ = *l;
    }

    // Creates the console of VM kId, reached through the console socket, and
    // opens its slave the way a guest would, in raw mode so that bytes pass
    // unchanged and nothing is echoed.
    void start(ConsoleOptions opts = {}) {
        listen();
        auto c = Console::create(io_, opts);
        ASSERT_TRUE(c.ok()) << c.error().text();
        console_ = *c;
        int fd = ::open(console_->slavePath().c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << strerror(errno);
        termios t{};
        ASSERT_EQ(::tcgetattr(fd, &t), 0);
        ::cfmakeraw(&t);
        ASSERT_EQ(::tcsetattr(fd, TCSANOW, &t), 0);
        slave_ = std::make_unique<Peer>(fd);
        console_->resume();
        listener_->add(kId, console_);
    }

    std::string socketPath() const { return dir_ + "/console"; }

    // A viewer of VM `id`'s console: connected, its id line sent.
    std::unique_ptr<Peer> viewer(int id = kId) {
        auto p = connectUnix(socketPath());
        p->send(std::to_string(id) + "\n");
        return p;
    }

    // Runs the io_context until `done` holds; false after two seconds (a
    // failure, not a wait the test relies on).
    bool waitFor(const std::function<bool()>& done) {
        auto deadline = std::chrono::steady_clock::now() + 2s;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            io_.run_one_for(5ms);
        }
        return true;
    }

    bool waitForText(Peer& p, const std::string& text) {
        return waitFor([&] {
            p.pump();
            return p.got.find(text) != std::string::npos;
        });
    }

    bool waitForEof(Peer& p) {
        return waitFor([&] {
            p.pump();
            return p.eof;
        });
    }

    bool waitForViewers(size_t n) {
        return waitFor([&] { return console_->viewerCount() == n; });
    }

    static constexpr int kId = 7;
    boost::asio::io_context io_;
    std::string dir_;
    std::shared_ptr<const Dir> base_;
    std::shared_ptr<ConsoleListener> listener_;
    std::shared_ptr<Console> console_;
    std::unique_ptr<Peer> slave_;
};

TEST_F(ConsoleTest, SocketIsRootsAlone) {
    start();
    struct stat st {};
    ASSERT_EQ(::stat(socketPath().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(console_->tcpPort(), 0);
}

TEST_F(ConsoleTest, TwoViewersBothGetOutput) {
    start();
    auto a = viewer();
    auto b = viewer();
    ASSERT_TRUE(waitForViewers(2));
    slave_->send("hello from the guest\n");
    ASSERT_TRUE(waitForText(*a, "\n"));
    ASSERT_TRUE(waitForText(*b, "\n"));
    EXPECT_EQ(a->got, "hello from the guest\n");
    EXPECT_EQ(b->got, "hello from the guest\n");
}

TEST_F(ConsoleTest, ScrollbackIsBoundedAndReplayedToALateViewer) {
    ConsoleOptions opts;
    opts.scrollback = 64;
    start(opts);
    // A first viewer shows when the console has read everything written.
    auto first = viewer();
    ASSERT_TRUE(waitForViewers(1));
    std::string written;
    for (int i = 0; i < 100; ++i) written += "line " + std::to_string(i) + "\n";
    slave_->send(written);
    ASSERT_TRUE(waitForText(*first, "line 99\n"));
    EXPECT_EQ(first->got, written);

    auto late = viewer();
    ASSERT_TRUE(waitForViewers(2));
    slave_->send("END");
    ASSERT_TRUE(waitForText(*late, "END"));
    // What came before END is the scrollback: the tail of the output, at
    // least `scrollback` bytes and at most twice that.
    std::string replayed = late->got.substr(0, late->got.size() - 3);
    EXPECT_GE(replayed.size(), opts.scrollback);
    EXPECT_LE(replayed.size(), 2 * opts.scrollback);
    EXPECT_EQ(written.substr(written.size() - replayed.size()), replayed);
    EXPECT_EQ(late->got.substr(replayed.size()), "END");
}

TEST_F(ConsoleTest, StalledViewerIsDroppedAndTheOtherKeepsReceiving) {
    // Above what one read of the pty may bring (8 KiB), so that a viewer
    // that keeps up is never dropped.
    ConsoleOptions opts;
    opts.viewer_queue = 64 * 1024;
    start(opts);
    auto stalled = viewer();  // never reads until it is dropped
    auto reader = viewer();
    ASSERT_TRUE(waitForViewers(2));

    // The guest writes until the stalled viewer is dropped: its socket's
    // kernel buffer fills, then its queue passes `viewer_queue`. The reader
    // reads between any two steps of the console.
    std::string written;
    std::string chunk(1000, 'x');
    size_t sent = 0;
    bool dropped = waitFor([&] {
        if (written.size() - sent == 0) {
            chunk[0] = static_cast<char>('a' + (written.size() / chunk.size()) % 26);
            written += chunk;
        }
        ssize_t n = ::write(slave_->fd, written.data() + sent, written.size() - sent);
        if (n > 0) sent += static_cast<size_t>(n);
        reader->pump();
        return console_->viewerCount() < 2;
    });
    ASSERT_TRUE(dropped) << "no drop after " << written.size() << " bytes";
    ASSERT_EQ(console_->viewerCount(), 1u);

    // The guest was never held up and the reader gets every byte, in order.
    slave_->send(written.substr(sent) + "END");
    written += "END";
    ASSERT_TRUE(waitForText(*reader, "END"));
    EXPECT_EQ(reader->got.size(), written.size());
    EXPECT_TRUE(reader->got == written);

    // The stalled viewer's connection is closed after what was in flight.
    ASSERT_TRUE(waitForEof(*stalled));
    EXPECT_LT(stalled->got.size(), written.size());
    EXPECT_TRUE(written.compare(0, stalled->got.size(), stalled->got) == 0);
}

TEST_F(ConsoleTest, ViewerThatFallsBehindPacesTheGuestAndIsNotDropped) {
    // A viewer that pauses reading (a slow link, a busy machine) holds the
    // guest's output back instead of being dropped, and then gets all of it.
    ConsoleOptions opts;
    opts.viewer_queue = 64 * 1024;
    opts.stall_timeout = 60s;  // this viewer is slow, not gone
    start(opts);
    auto slow = viewer();
    ASSERT_TRUE(waitForViewers(1));

    // The guest writes, the viewer reads nothing, until the guest cannot
    // write any more: the console stopped reading the pty.
    std::string written;
    size_t sent = 0;
    int refused = 0;
    auto writeSome = [&] {
        if (sent == written.size()) {
            written += std::string(1000, static_cast<char>('a' + (written.size() / 1000) % 26));
        }
        ssize_t n = ::write(slave_->fd, written.data() + sent, written.size() - sent);
        if (n > 0) sent += static_cast<size_t>(n);
        return n > 0;
    };
    ASSERT_TRUE(waitFor([&] {
        refused = writeSome() ? 0 : refused + 1;
        return refused >= 50 || written.size() > (16u << 20);
    }));
    ASSERT_GE(refused, 50) << "the guest was never held back";
    EXPECT_GT(sent, opts.viewer_queue);  // more than the queue: pacing, not a big queue
    EXPECT_EQ(console_->viewerCount(), 1u);

    // The viewer reads again: the guest goes on and the viewer gets every byte.
    written += "END";
    ASSERT_TRUE(waitFor([&] {
        if (sent < written.size()) {
            ssize_t n = ::write(slave_->fd, written.data() + sent, written.size() - sent);
            if (n > 0) sent += static_cast<size_t>(n);
        }
        slow->pump();
        return slow->got.size() >= written.size();
    }));
    EXPECT_EQ(slow->got.size(), written.size());
    EXPECT_TRUE(slow->got == written);
    EXPECT_EQ(console_->viewerCount(), 1u);
}

TEST_F(ConsoleTest, ViewerThatStopsReadingHoldsTheGuestUpOnlyForTheStallTimeout) {
    ConsoleOptions opts;
    opts.viewer_queue = 64 * 1024;
    opts.stall_timeout = 100ms;
    opts.scrollback = 1024;  // a new viewer's scrollback fits its queue
    start(opts);
    auto stalled = viewer();  // never reads
    ASSERT_TRUE(waitForViewers(1));
    std::string chunk(1000, 'x');
    ASSERT_TRUE(waitFor([&] {
        (void)::write(slave_->fd, chunk.data(), chunk.size());
        return console_->viewerCount() == 0;
    })) << "the stalled viewer was never dropped";
    // The console reads on: a new viewer gets what the guest writes now.
    auto reader = viewer();
    ASSERT_TRUE(waitForViewers(1));
    slave_->send("END");
    ASSERT_TRUE(waitForText(*reader, "END"));
    ASSERT_TRUE(waitForEof(*stalled));
}

TEST_F(ConsoleTest, ViewerInputReachesTheGuest) {
    start();
    auto a = viewer();
    auto b = viewer();
    ASSERT_TRUE(waitForViewers(2));
    a->send("ls\n");
    ASSERT_TRUE(waitForText(*slave_, "ls\n"));
    b->send("pwd\n");
    ASSERT_TRUE(waitForText(*slave_, "pwd\n"));
    EXPECT_EQ(slave_->got, "ls\npwd\n");
}

TEST_F(ConsoleTest, ResizeSetsTheWindowTheGuestSees) {
    start();
    winsize ws{};
    ASSERT_EQ(::ioctl(slave_->fd, TIOCGWINSZ, &ws), 0);
    EXPECT_EQ(ws.ws_row, 24);
    EXPECT_EQ(ws.ws_col, 80);
    console_->resize(50, 132);
    ASSERT_EQ(::ioctl(slave_->fd, TIOCGWINSZ, &ws), 0);
    EXPECT_EQ(ws.ws_row, 50);
    EXPECT_EQ(ws.ws_col, 132);
}

TEST_F(ConsoleTest, CallbackViewerGetsScrollbackThenOutputThenNull) {
    start();
    auto witness = viewer();
    ASSERT_TRUE(waitForViewers(1));
    slave_->send("before\n");
    ASSERT_TRUE(waitForText(*witness, "before\n"));

    std::string got;
    int nulls = 0;
    int id = console_->addViewer([&](std::shared_ptr<const std::string> bytes) {
        if (!bytes) {
            ++nulls;
        } else {
            got += *bytes;
        }
        return true;
    });
    ASSERT_TRUE(waitForViewers(2));
    EXPECT_EQ(got, "before\n");
    slave_->send("after\n");
    ASSERT_TRUE(waitFor([&] { return got == "before\nafter\n"; }));

    console_->input("typed\n");
    ASSERT_TRUE(waitForText(*slave_, "typed\n"));

    console_->removeViewer(id);
    ASSERT_TRUE(waitForViewers(1));
    EXPECT_EQ(nulls, 1);
}

TEST_F(ConsoleTest, CloseEndsViewers) {
    start();
    auto a = viewer();
    ASSERT_TRUE(waitForViewers(1));
    console_->close();
    ASSERT_TRUE(waitForEof(*a));
    EXPECT_EQ(console_->viewerCount(), 0u);
    // The console socket goes with the listener, and only then.
    EXPECT_EQ(::access(socketPath().c_str(), F_OK), 0);
    listener_->close();
    EXPECT_NE(::access(socketPath().c_str(), F_OK), 0);
}

class ConsoleTcpTest : public ConsoleTest {
  protected:
    static ConsoleOptions tcpOptions() {
        ConsoleOptions opts;
        opts.tcp_address = "127.0.0.1";
        opts.tcp_token = "s3cret";
        return opts;
    }

    // A TCP connection that sends `sent` gets no output while a unix viewer
    // does, is closed, and nothing it sent reaches the guest.
    void expectShutOut(const ConsoleOptions& opts, const std::string& sent) {
        start(opts);
        auto witness = viewer();
        ASSERT_TRUE(waitForViewers(1));
        auto conn = connectTcp(console_->tcpPort());
        conn->send(sent);
        slave_->send("secret output\n");
        ASSERT_TRUE(waitForText(*witness, "secret output\n"));
        ASSERT_TRUE(waitForEof(*conn));
        EXPECT_EQ(conn->got, "");
        EXPECT_EQ(console_->viewerCount(), 1u);
        // Once it is closed, the witness's input is all the guest has had.
        witness->send("ok\n");
        ASSERT_TRUE(waitForText(*slave_, "ok\n"));
        EXPECT_EQ(slave_->got, "ok\n");
    }
};

TEST_F(ConsoleTcpTest, TcpNeedsAToken) {
    ConsoleOptions opts;
    opts.tcp_address = "127.0.0.1";
    auto c = Console::create(io_, opts);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().text().find("needs a token"), std::string::npos) << c.error().text();
}

TEST_F(ConsoleTcpTest, ViewerWithTheTokenGetsScrollbackAndTypes) {
    start(tcpOptions());
    ASSERT_GT(console_->tcpPort(), 0);
    slave_->send("login: ");
    auto witness = viewer();
    ASSERT_TRUE(waitForText(*witness, "login: "));

    // The token line ends in \r\n (a telnet client); what follows it in the
    // same packet is typed.
    auto v = connectTcp(console_->tcpPort());
    v->send("s3cret\r\nroot\n");
    ASSERT_TRUE(waitForText(*slave_, "root\n"));
    ASSERT_TRUE(waitForText(*v, "login: "));
    slave_->send("# ");
    ASSERT_TRUE(waitForText(*v, "# "));
    EXPECT_EQ(v->got, "login: # ");
    v->send("id\n");
    ASSERT_TRUE(waitForText(*slave_, "id\n"));
    EXPECT_EQ(slave_->got, "root\nid\n");
}

TEST_F(ConsoleTcpTest, WrongTokenGetsNothingTypesNothingAndIsClosed) {
    ConsoleOptions opts = tcpOptions();
    opts.auth_reject_delay = 20ms;
    expectShutOut(opts, "guess\nrm -rf /\n");
}

TEST_F(ConsoleTcpTest, ViewerThatNeverEndsTheTokenLineIsClosed) {
    ConsoleOptions opts = tcpOptions();
    opts.auth_timeout = 20ms;
    expectShutOut(opts, "s3cret");
}

// ---- the console socket (console_listener.h) -------------------------------

TEST(ViewerLine, ParsesTheIdLine) {
    auto v = parseViewerLine("3\n");
    ASSERT_EQ(v.kind, ViewerLine::Kind::Id);
    EXPECT_EQ(v.id, 3);
    EXPECT_EQ(v.consumed, 2u);
    v = parseViewerLine("1234\r\nls\n");  // \r\n too; what follows is typed
    ASSERT_EQ(v.kind, ViewerLine::Kind::Id);
    EXPECT_EQ(v.id, 1234);
    EXPECT_EQ(v.consumed, 6u);
    v = parseViewerLine("2147483647\n");
    ASSERT_EQ(v.kind, ViewerLine::Kind::Id);
    EXPECT_EQ(v.id, 2147483647);
}

TEST(ViewerLine, WaitsForTheRestOfALineThatMayStillBeAnId) {
    for (const char* s : {"", "1", "12", "12\r"}) {
        EXPECT_EQ(parseViewerLine(s).kind, ViewerLine::Kind::Incomplete) << s;
    }
}

TEST(ViewerLine, RefusesAnythingElseSayingWhatIsAllowed) {
    for (const char* s : {"\n", "\r\n", "abc", "vm1\n", "-1\n", "+3\n", " 3\n", "3 \n", "3\rx",
                          "0x10\n", "2147483648\n", "99999999999\n", "\x1b]0;t\x07"}) {
        auto v = parseViewerLine(s);
        EXPECT_EQ(v.kind, ViewerLine::Kind::Invalid) << s;
        EXPECT_NE(v.error.find("in decimal and a newline"), std::string::npos) << v.error;
        EXPECT_EQ(v.error.find('\x1b'), std::string::npos) << v.error;  // escaped
    }
    // A line that never ends is cut at kMaxViewerLine bytes.
    EXPECT_EQ(parseViewerLine(std::string(kMaxViewerLine - 1, '1')).kind,
              ViewerLine::Kind::Incomplete);
    auto v = parseViewerLine(std::string(kMaxViewerLine, '1'));
    EXPECT_EQ(v.kind, ViewerLine::Kind::Invalid);
    EXPECT_NE(v.error.find("longer than 32 bytes"), std::string::npos) << v.error;
    EXPECT_EQ(parseViewerLine(std::string(kMaxViewerLine, '1') + "\n").kind,
              ViewerLine::Kind::Invalid);
}

TEST_F(ConsoleTest, ListenerSocketIsRootsAloneAndReplacesAStaleOne) {
    // An earlier daemon's file is replaced.
    ASSERT_EQ(::mknod(socketPath().c_str(), S_IFREG | 0644, 0), 0);
    start();
    struct stat st {};
    ASSERT_EQ(::stat(socketPath().c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ConsoleTest, EachViewerReachesTheConsoleItNamed) {
    start();
    // A second VM's console on the same socket.
    auto other = Console::create(io_, {});
    ASSERT_TRUE(other.ok()) << other.error().text();
    int fd = ::open((*other)->slavePath().c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    termios t{};
    ASSERT_EQ(::tcgetattr(fd, &t), 0);
    ::cfmakeraw(&t);
    ASSERT_EQ(::tcsetattr(fd, TCSANOW, &t), 0);
    Peer other_slave(fd);
    (*other)->resume();
    listener_->add(8, *other);

    auto a = viewer(kId);
    auto b = viewer(8);
    ASSERT_TRUE(waitForViewers(1));
    ASSERT_TRUE(waitFor([&] { return (*other)->viewerCount() == 1; }));
    slave_->send("from seven\n");
    other_slave.send("from eight\n");
    ASSERT_TRUE(waitForText(*a, "from seven\n"));
    ASSERT_TRUE(waitForText(*b, "from eight\n"));
    EXPECT_EQ(a->got, "from seven\n");
    EXPECT_EQ(b->got, "from eight\n");
    a->send("to seven\n");
    b->send("to eight\n");
    ASSERT_TRUE(waitForText(*slave_, "to seven\n"));
    ASSERT_TRUE(waitForText(other_slave, "to eight\n"));
    EXPECT_EQ(slave_->got, "to seven\n");
    EXPECT_EQ(other_slave.got, "to eight\n");

    // A console that is forgotten is no longer reached.
    listener_->remove(8, other->get());
    auto c = viewer(8);
    ASSERT_TRUE(waitForEof(*c));
    EXPECT_NE(c->got.find("herd: no console for vm 8"), std::string::npos) << c->got;
    (*other)->close();
    io_.poll();
}

TEST_F(ConsoleTest, BytesAfterTheIdLineAreTyped) {
    start();
    auto p = connectUnix(socketPath());
    p->send(std::to_string(kId) + "\r\nls\n");
    ASSERT_TRUE(waitForText(*slave_, "ls\n"));
    EXPECT_EQ(slave_->got, "ls\n");
}

TEST_F(ConsoleTest, UnknownIdAndGarbageGetOneLineAndAreClosed) {
    start();
    auto witness = viewer();
    ASSERT_TRUE(waitForViewers(1));
    struct Case {
        std::string sent, want;
    };
    for (const auto& c : std::vector<Case>{
             {"9\n", "herd: no console for vm 9 ("},
             {"hello\nrm -rf /\n", "herd: `hello` is not a VM id ("},
             {std::string(100, '1'), "herd: the first line is longer than 32 bytes"},
         }) {
        auto p = connectUnix(socketPath());
        p->send(c.sent);
        ASSERT_TRUE(waitForEof(*p)) << c.sent;
        EXPECT_EQ(p->got.rfind(c.want, 0), 0u) << p->got;
        EXPECT_EQ(p->got.find('\n'), p->got.size() - 1) << p->got;  // one line
    }
    // Nothing they sent reached the guest; the viewer is still there.
    witness->send("ok\n");
    ASSERT_TRUE(waitForText(*slave_, "ok\n"));
    EXPECT_EQ(slave_->got, "ok\n");
    EXPECT_EQ(console_->viewerCount(), 1u);
}

TEST_F(ConsoleTest, ViewerThatSendsNoLineIsClosed) {
    ConsoleListener::Options lo;
    lo.line_timeout = 50ms;
    listen(lo);
    start();
    auto silent = connectUnix(socketPath());
    auto partial = connectUnix(socketPath());
    partial->send("7");  // never ends the line
    ASSERT_TRUE(waitForEof(*silent));
    ASSERT_TRUE(waitForEof(*partial));
    EXPECT_EQ(silent->got.rfind("herd: no VM id line within", 0), 0u) << silent->got;
    EXPECT_EQ(console_->viewerCount(), 0u);
}

TEST_F(ConsoleTest, ListenerCloseEndsWaitingConnections) {
    start();
    auto waiting = connectUnix(socketPath());
    ASSERT_TRUE(waitFor([&] {
        io_.poll();
        return true;
    }));
    listener_->close();
    ASSERT_TRUE(waitForEof(*waiting));
    EXPECT_EQ(waiting->got, "");
}

}  // namespace
}  // namespace herd::runtime
