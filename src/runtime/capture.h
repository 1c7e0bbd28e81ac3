// Packet capture to pcap files (`capture pcap vm|bridge`): libpcap reads
// host interfaces (a NIC's host-side veth, a kernel bridge, an Open vSwitch
// mirror port) and a thread of the capture's own writes what they see to a
// file in the classic pcap format (`tcpdump -r` reads it).
//
// What a guest sends is hostile: any bytes, any size, as fast as it can.
// Nothing here parses a frame; each is copied, cut to the snapshot length,
// behind a 16-byte record header. Memory is bounded per capture: the kernel
// ring of each interface (kRingBytes) and one write buffer (kWriteBuffer).
// When the writer falls behind (a flood, a slow disk), the kernel drops
// frames from the ring and counts them (CaptureStats::dropped); the daemon
// never queues more. A write error (a full disk) ends the capture, keeping
// what was written. The command thread never waits for a frame or a write
// other than when it stops a capture (joining its thread, which polls a stop
// descriptor between batches).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

struct pcap_pkthdr;  // <pcap.h>
struct pollfd;       // <poll.h>

namespace herd::runtime {

inline constexpr uint32_t kDefaultSnaplen = 1600;  // minimega's, when `capture pcap snaplen` is 0
inline constexpr uint32_t kMaxSnaplen = 262144;    // libpcap's largest

struct PcapOptions {
    // The host interfaces captured into the one file (all Ethernet). A
    // kernel-bridge backend carries one bridge per VLAN: a whole-bridge
    // capture reads each.
    std::vector<std::string> ifnames;
    uint32_t snaplen = kDefaultSnaplen;  // 0 = kDefaultSnaplen; above kMaxSnaplen = kMaxSnaplen
    std::string filter;                  // BPF in tcpdump's syntax; "" = every frame
    size_t ring_bytes = 0;               // kernel buffer per interface; 0 = kRingBytes
};

struct CaptureStats {
    uint64_t packets = 0;  // records written to the file
    uint64_t bytes = 0;    // file size
    uint64_t dropped = 0;  // frames the kernel dropped because the ring was full
    bool running = false;
    std::string error;  // why it ended on its own ("" = still running or stopped)
};

class PcapCapture {
  public:
    static constexpr size_t kRingBytes = size_t{8} << 20;
    static constexpr size_t kWriteBuffer = size_t{1} << 20;

    // Opens every interface (promiscuous, the filter applied), writes the
    // file header to `out` and starts the writer thread. `path` names the
    // file in messages. Nothing is left running on failure.
    static Result<std::unique_ptr<PcapCapture>> start(const PcapOptions& opts, unique_fd out,
                                                      std::string path);
    ~PcapCapture();  // stop()
    PcapCapture(const PcapCapture&) = delete;
    PcapCapture& operator=(const PcapCapture&) = delete;

    // Writes what the rings still hold, closes the interfaces and the file,
    // and joins the thread. Idempotent.
    void stop();
    CaptureStats stats() const;
    const std::string& path() const { return path_; }

  private:
    struct Source;
    PcapCapture(std::vector<std::unique_ptr<Source>> sources, unique_fd out, std::string path,
                uint32_t snaplen);
    void loop();
    // Reads what `src` holds (at most `rounds` batches, until `until`);
    // false when it failed.
    bool drain(Source& src, int rounds, std::chrono::steady_clock::time_point until);
    // Reads the sources whose entry in `fds` (from `offset`) is ready, or
    // all of them when `fds` is null; drops those that failed.
    void readSources(const std::vector<struct pollfd>* fds, size_t offset, int rounds,
                     std::chrono::steady_clock::time_point until);
    void append(const ::pcap_pkthdr* h, const unsigned char* bytes);
    bool flush();
    void updateDrops();
    static void onPacket(unsigned char* user, const ::pcap_pkthdr* h, const unsigned char* bytes);

    std::vector<std::unique_ptr<Source>> sources_;  // the thread's alone once started
    unique_fd out_;
    std::string path_;
    uint32_t snaplen_;
    unique_fd stop_;  // eventfd
    std::vector<unsigned char> buf_;
    bool write_failed_ = false;
    std::atomic<uint64_t> packets_{0}, bytes_{0}, dropped_{0};
    std::atomic<bool> running_{true};
    mutable std::mutex mu_;
    std::string error_;
    std::thread thread_;
};

// The file header of a pcap file (magic, version 2.4, `snaplen`, Ethernet).
std::string pcapFileHeader(uint32_t snaplen);

// Makes a capture's freshly opened output file ready: refuses anything but a
// regular file owned by the daemon's user with a single link (so a file a
// local user planted, or a hard link to another file, is never truncated),
// then truncates it. `path` names it in errors.
Result<void> claimOutputFile(int fd, const std::string& path);

}  // namespace herd::runtime
