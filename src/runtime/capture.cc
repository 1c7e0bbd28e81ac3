#include "runtime/capture.h"

#include <pcap/pcap.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>

#include "base/fs.h"
#include "base/log.h"

namespace herd::runtime {

namespace {

// The classic pcap format: a 24-byte file header, then per frame a 16-byte
// record header (seconds, microseconds, captured length, length on the wire)
// and the captured bytes, all in the writer's byte order (the magic tells
// readers which).
constexpr uint32_t kPcapMagic = 0xa1b2c3d4;
constexpr uint32_t kLinktypeEthernet = 1;
constexpr size_t kRecordHeader = 16;

// Batches read from one interface before the stop descriptor is looked at
// again: a flood never keeps the thread from stopping.
constexpr int kRoundsPerWake = 64;
// When stopping, what the rings still hold is written, for at most this
// long (a flood refills them as fast as they are read).
constexpr std::chrono::milliseconds kDrainOnStop{500};
// Blocks of the kernel ring are handed over when full or after this long.
constexpr int kBlockTimeoutMs = 100;

void put32(std::vector<unsigned char>& b, uint32_t v) {
    unsigned char raw[4];
    std::memcpy(raw, &v, 4);
    b.insert(b.end(), raw, raw + 4);
}

// Maps libpcap's activation codes to the errno they stand for, when there
// is one.
int activateErrno(int rc) {
    switch (rc) {
        case PCAP_ERROR_NO_SUCH_DEVICE:
            return ENODEV;
        case PCAP_ERROR_PERM_DENIED:
        case PCAP_ERROR_PROMISC_PERM_DENIED:
            return EPERM;
        case PCAP_ERROR_IFACE_NOT_UP:
            return ENETDOWN;
        default:
            return 0;
    }
}

Error pcapError(pcap_t* p, const std::string& op, const std::string& ifname, int rc = 0) {
    const std::string text = p ? pcap_geterr(p) : std::string();
    if (int e = activateErrno(rc); e != 0) {
        Error err = Error::sys(e, op, ifname);
        return text.empty() ? err : err.wrap(text);
    }
    return Error::msg(op + " " + ifname + ": " + (text.empty() ? pcap_statustostr(rc) : text));
}

}  // namespace

struct PcapCapture::Source {
    std::string ifname;
    pcap_t* handle = nullptr;
    int fd = -1;
    ~Source() {
        if (handle) pcap_close(handle);
    }
};

std::string pcapFileHeader(uint32_t snaplen) {
    std::vector<unsigned char> b;
    put32(b, kPcapMagic);
    const uint16_t major = 2, minor = 4;
    unsigned char v[4];
    std::memcpy(v, &major, 2);
    std::memcpy(v + 2, &minor, 2);
    b.insert(b.end(), v, v + 4);
    put32(b, 0);  // thiszone
    put32(b, 0);  // sigfigs
    put32(b, snaplen);
    put32(b, kLinktypeEthernet);
    return {b.begin(), b.end()};
}

Result<void> claimOutputFile(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Error::sysNow("stat", path);
    if (!S_ISREG(st.st_mode)) return Error::msg("capture file " + path + ": not a regular file");
    if (st.st_uid != ::geteuid()) {
        return Error::msg("capture file " + path + ": owned by uid " + std::to_string(st.st_uid) +
                          ", not by the daemon's user");
    }
    if (st.st_nlink != 1) {
        return Error::msg("capture file " + path + ": has " + std::to_string(st.st_nlink) +
                          " links (a hard link to another file?)");
    }
    if (::ftruncate(fd, 0) != 0) return Error::sysNow("truncate", path);
    return Ok();
}

Result<std::unique_ptr<PcapCapture>> PcapCapture::start(const PcapOptions& opts, unique_fd out,
                                                        std::string path) {
    if (opts.ifnames.empty()) return Error::msg("capture " + path + ": no interface to capture");
    uint32_t snaplen = opts.snaplen == 0 ? kDefaultSnaplen : std::min(opts.snaplen, kMaxSnaplen);
    const size_t ring = opts.ring_bytes ? opts.ring_bytes : kRingBytes;
    std::vector<std::unique_ptr<Source>> sources;
    for (const auto& ifname : opts.ifnames) {
        auto src = std::make_unique<Source>();
        src->ifname = ifname;
        char errbuf[PCAP_ERRBUF_SIZE] = {};
        src->handle = pcap_create(ifname.c_str(), errbuf);
        if (!src->handle) return Error::msg("capture on " + ifname + ": " + errbuf);
        pcap_t* p = src->handle;
        if (pcap_set_snaplen(p, static_cast<int>(snaplen)) != 0 || pcap_set_promisc(p, 1) != 0 ||
            pcap_set_timeout(p, kBlockTimeoutMs) != 0 ||
            pcap_set_buffer_size(p, static_cast<int>(ring)) != 0) {
            return pcapError(p, "configure capture on", ifname);
        }
        int rc = pcap_activate(p);
        if (rc < 0) return pcapError(p, "capture on", ifname, rc);
        if (rc > 0) HERD_LOG(warn, "capture on {}: {}", ifname, pcap_geterr(p));
        if (pcap_datalink(p) != DLT_EN10MB) {
            return Error::msg("capture on " + ifname + ": not an Ethernet interface");
        }
        if (!opts.filter.empty()) {
            bpf_program prog{};
            if (pcap_compile(p, &prog, opts.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
                return Error::msg("capture filter `" + opts.filter + "`: " + pcap_geterr(p));
            }
            rc = pcap_setfilter(p, &prog);
            pcap_freecode(&prog);
            if (rc != 0) return pcapError(p, "set capture filter on", ifname);
        }
        if (pcap_setnonblock(p, 1, errbuf) != 0) {
            return Error::msg("capture on " + ifname + ": " + errbuf);
        }
        src->fd = pcap_get_selectable_fd(p);
        if (src->fd < 0) return Error::msg("capture on " + ifname + ": no descriptor to poll");
        // The kernel's snapshot length is what records are cut to.
        snaplen = std::min(snaplen, static_cast<uint32_t>(pcap_snapshot(p)));
        sources.push_back(std::move(src));
    }
    HERD_TRY(writeAll(out.get(), pcapFileHeader(snaplen), path));
    std::unique_ptr<PcapCapture> cap(
        new PcapCapture(std::move(sources), std::move(out), std::move(path), snaplen));
    cap->stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!cap->stop_) return Error::sysNow("eventfd", "capture " + cap->path_);
    cap->bytes_ = 24;
    cap->thread_ = std::thread([c = cap.get()] { c->loop(); });
    return cap;
}

PcapCapture::PcapCapture(std::vector<std::unique_ptr<Source>> sources, unique_fd out,
                         std::string path, uint32_t snaplen)
    : sources_(std::move(sources)),
      out_(std::move(out)),
      path_(std::move(path)),
      snaplen_(snaplen) {
    buf_.reserve(kWriteBuffer);
}

PcapCapture::~PcapCapture() {
    stop();
}

void PcapCapture::stop() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    if (::write(stop_.get(), &one, sizeof one) < 0) {
        HERD_LOG(warn, "capture {}: wake its thread: {}", path_, std::strerror(errno));
    }
    thread_.join();
}

CaptureStats PcapCapture::stats() const {
    CaptureStats s;
    s.packets = packets_.load();
    s.bytes = bytes_.load();
    s.dropped = dropped_.load();
    s.running = running_.load();
    std::lock_guard lock(mu_);
    s.error = error_;
    return s;
}

void PcapCapture::onPacket(unsigned char* user, const ::pcap_pkthdr* h,
                           const unsigned char* bytes) {
    reinterpret_cast<PcapCapture*>(user)->append(h, bytes);
}

void PcapCapture::append(const ::pcap_pkthdr* h, const unsigned char* bytes) {
    if (write_failed_) return;
    // libpcap cuts frames to the snapshot length; checked again so that no
    // record can ever exceed what the file header promises.
    const uint32_t caplen = std::min({h->caplen, snaplen_, h->len});
    if (buf_.size() + kRecordHeader + caplen > kWriteBuffer && !flush()) return;
    put32(buf_, static_cast<uint32_t>(h->ts.tv_sec));
    put32(buf_, static_cast<uint32_t>(h->ts.tv_usec));
    put32(buf_, caplen);
    put32(buf_, h->len);
    buf_.insert(buf_.end(), bytes, bytes + caplen);
    packets_.fetch_add(1, std::memory_order_relaxed);
}

bool PcapCapture::flush() {
    if (buf_.empty() || write_failed_) return !write_failed_;
    auto r =
        writeAll(out_.get(),
                 std::string_view(reinterpret_cast<const char*>(buf_.data()), buf_.size()), path_);
    if (!r.ok()) {
        write_failed_ = true;
        std::lock_guard lock(mu_);
        error_ = r.error().text();
        return false;
    }
    bytes_.fetch_add(buf_.size(), std::memory_order_relaxed);
    buf_.clear();
    return true;
}

bool PcapCapture::drain(Source& src, int rounds, std::chrono::steady_clock::time_point until) {
    for (int i = 0; i < rounds && !write_failed_ && std::chrono::steady_clock::now() < until; ++i) {
        int n = pcap_dispatch(src.handle, -1, &PcapCapture::onPacket,
                              reinterpret_cast<unsigned char*>(this));
        if (n == PCAP_ERROR) {
            std::lock_guard lock(mu_);
            error_ = "capture on " + src.ifname + ": " + pcap_geterr(src.handle);
            return false;
        }
        if (n <= 0) break;
    }
    return true;
}

void PcapCapture::updateDrops() {
    uint64_t total = 0;
    for (const auto& s : sources_) {
        pcap_stat st{};
        if (pcap_stats(s->handle, &st) == 0) total += st.ps_drop;
    }
    dropped_.store(total, std::memory_order_relaxed);
}

void PcapCapture::readSources(const std::vector<pollfd>* fds, size_t offset, int rounds,
                              std::chrono::steady_clock::time_point until) {
    for (size_t i = sources_.size(); i-- > 0;) {
        if (fds && (*fds)[i + offset].revents == 0) continue;
        if (!drain(*sources_[i], rounds, until)) {
            // The interface went away (its container died): the others go on.
            HERD_LOG(info, "capture {}: {} ended", path_, sources_[i]->ifname);
            sources_.erase(sources_.begin() + static_cast<long>(i));
        }
    }
}

void PcapCapture::loop() {
    using Clock = std::chrono::steady_clock;
    auto last_stats = Clock::now();
    bool stopping = false;
    while (!stopping && !sources_.empty() && !write_failed_) {
        std::vector<pollfd> fds;
        fds.push_back({stop_.get(), POLLIN, 0});
        for (const auto& s : sources_) fds.push_back({s->fd, POLLIN, 0});
        int n = ::poll(fds.data(), fds.size(), 500);
        if (n < 0 && errno != EINTR) {
            std::lock_guard lock(mu_);
            error_ = "capture " + path_ + ": poll: " + std::strerror(errno);
            break;
        }
        stopping = fds[0].revents != 0;
        if (!stopping) readSources(&fds, 1, kRoundsPerWake, Clock::time_point::max());
        flush();
        if (Clock::now() - last_stats > std::chrono::milliseconds(250)) {
            updateDrops();
            last_stats = Clock::now();
        }
    }
    if (stopping) {
        // What the rings hold was received before the stop and is written
        // too. The block the kernel is filling is handed over only when full
        // or after kBlockTimeoutMs: the sources are polled that long once
        // more.
        const auto until = Clock::now() + kDrainOnStop;
        readSources(nullptr, 0, std::numeric_limits<int>::max(), until);
        std::vector<pollfd> fds;
        for (const auto& s : sources_) fds.push_back({s->fd, POLLIN, 0});
        if (!fds.empty() && ::poll(fds.data(), fds.size(), kBlockTimeoutMs + 20) > 0) {
            readSources(&fds, 0, std::numeric_limits<int>::max(), until);
        }
    }
    updateDrops();
    flush();
    sources_.clear();
    out_.reset();
    running_ = false;
    std::lock_guard lock(mu_);
    if (stopping) error_.clear();
    if (!error_.empty()) HERD_LOG(info, "capture {} ended: {}", path_, error_);
}

}  // namespace herd::runtime
