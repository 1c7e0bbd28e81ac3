// runtime/capture: the pcap writer on the loopback interface (root only),
// the file header, and the output file checks.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "runtime/bridge.h"
#include "runtime/capture.h"

namespace herd::runtime {
namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char t[] = "/tmp/herd-capture-test-XXXXXX";
        path = ::mkdtemp(t);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string readAll(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

uint32_t u32(const std::string& s, size_t off) {
    uint32_t v;
    std::memcpy(&v, s.data() + off, 4);
    return v;
}

TEST(Capture, FileHeader) {
    const std::string h = pcapFileHeader(1600);
    ASSERT_EQ(h.size(), 24u);
    EXPECT_EQ(u32(h, 0), 0xa1b2c3d4u);
    EXPECT_EQ(h[4], 2);  // version 2.4 (little endian here)
    EXPECT_EQ(h[6], 4);
    EXPECT_EQ(u32(h, 16), 1600u);
    EXPECT_EQ(u32(h, 20), 1u);  // Ethernet
}

TEST(Capture, MirrorPortNamesAreOwned) {
    auto n = mirrorPortName("t", 12);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, "tm12");
    EXPECT_TRUE(isOwnedLink("t", *n));
    EXPECT_FALSE(isOwnedLink("t", "tmx"));
    EXPECT_FALSE(mirrorPortName("abcdefgh", 12345678).ok());
}

TEST(Capture, ClaimOutputFile) {
    TempDir d;
    const std::string f = d.path + "/f";
    { std::ofstream(f) << "old contents"; }
    int fd = ::open(f.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(claimOutputFile(fd, f).ok());
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_EQ(st.st_size, 0);
    // A second link to it: refused, nothing truncated.
    ASSERT_EQ(::write(fd, "x", 1), 1);
    ASSERT_EQ(::link(f.c_str(), (d.path + "/g").c_str()), 0);
    auto r = claimOutputFile(fd, f);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().text().find("2 links"), std::string::npos) << r.error().text();
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_EQ(st.st_size, 1);
    ::close(fd);
    // A directory (any non-regular file): refused.
    fd = ::open(d.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    r = claimOutputFile(fd, d.path);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().text().find("not a regular file"), std::string::npos);
    ::close(fd);
}

TEST(Capture, NoInterfaceIsAnError) {
    PcapOptions o;
    o.ifnames = {"herd-no-such-if0"};
    auto r = PcapCapture::start(o, unique_fd(::open("/dev/null", O_WRONLY | O_CLOEXEC)), "x");
    ASSERT_FALSE(r.ok());
    if (::geteuid() == 0) {
        EXPECT_NE(r.error().text().find("herd-no-such-if0"), std::string::npos) << r.error().text();
    }
}

// Sends `n` UDP datagrams of `size` bytes to 127.0.0.1:port.
void sendUdp(int port, int n, size_t size) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(s, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<char> buf(size, 'z');
    for (int i = 0; i < n; ++i) {
        ASSERT_EQ(
            ::sendto(s, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(buf.size()));
    }
    ::close(s);
}

TEST(Capture, LoopbackFramesReachTheFile) {
    if (::geteuid() != 0) GTEST_SKIP() << "capturing needs root";
    TempDir d;
    const std::string path = d.path + "/lo.pcap";
    PcapOptions o;
    o.ifnames = {"lo"};
    o.snaplen = 100;
    const int port = 40000 + (::getpid() % 20000);
    o.filter = "udp and dst port " + std::to_string(port);
    o.ring_bytes = 1 << 20;
    auto cap = PcapCapture::start(
        o, unique_fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)), path);
    ASSERT_TRUE(cap.ok()) << cap.error().text();
    sendUdp(port, 50, 500);
    sendUdp(port + 1, 20, 500);  // filtered out
    // Stopping writes what the ring holds.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (*cap)->stop();
    const auto st = (*cap)->stats();
    EXPECT_FALSE(st.running);
    EXPECT_EQ(st.error, "");
    // Loopback shows each datagram once (received), cut to 100 bytes.
    EXPECT_EQ(st.packets, 50u);
    const std::string f = readAll(path);
    EXPECT_EQ(st.bytes, f.size());
    ASSERT_GE(f.size(), 24u);
    EXPECT_EQ(u32(f, 16), 100u);
    size_t off = 24, records = 0;
    while (off + 16 <= f.size()) {
        const uint32_t caplen = u32(f, off + 8), wire = u32(f, off + 12);
        EXPECT_EQ(caplen, 100u);
        EXPECT_EQ(wire, 14u + 20 + 8 + 500);
        off += 16 + caplen;
        ++records;
    }
    EXPECT_EQ(off, f.size());
    EXPECT_EQ(records, 50u);
    (*cap)->stop();  // idempotent
}

TEST(Capture, WriteErrorEndsTheCapture) {
    if (::geteuid() != 0) GTEST_SKIP() << "capturing needs root";
    PcapOptions o;
    o.ifnames = {"lo"};
    // The file header itself cannot be written: nothing starts.
    auto cap =
        PcapCapture::start(o, unique_fd(::open("/dev/full", O_WRONLY | O_CLOEXEC)), "/dev/full");
    ASSERT_FALSE(cap.ok());
    EXPECT_EQ(cap.error().errnum(), ENOSPC) << cap.error().text();
}

}  // namespace
}  // namespace herd::runtime
