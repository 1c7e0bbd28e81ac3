#include "runtime/scrollback_arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace herd::runtime {

namespace {

constexpr char kMagic[8] = {'h', 'e', 'r', 'd', 's', 'b', '1', 0};
constexpr size_t kTableOffset = 64;
constexpr size_t kPage = 4096;

struct ChunkHeader {
    char magic[8];
    uint64_t capacity;
    uint64_t slots;
    uint64_t ring_bytes;
};

// tag: 0 = free, else the owning VM's id + 1 (a new chunk's pages are zero).
struct SlotHeader {
    int64_t tag;
    uint64_t written;  // bytes ever appended; the ring's end is written % ring_bytes
    uint64_t reserved[2];
};

static_assert(sizeof(ChunkHeader) <= kTableOffset);
static_assert(sizeof(SlotHeader) == 32);

class HeapScrollback : public ScrollbackBuffer {
  public:
    explicit HeapScrollback(size_t capacity) : capacity_(capacity) {}
    void append(std::string_view bytes) override {
        std::lock_guard<std::mutex> lock(mu_);
        text_ += bytes;
        // Trimmed now and then rather than on every write.
        if (text_.size() > 2 * capacity_) text_.erase(0, text_.size() - capacity_);
    }
    std::string contents() const override {
        std::lock_guard<std::mutex> lock(mu_);
        return text_.size() > capacity_ ? text_.substr(text_.size() - capacity_) : text_;
    }

  private:
    const size_t capacity_;
    mutable std::mutex mu_;
    std::string text_;
};

ChunkHeader headerFor(size_t capacity, size_t slots, size_t ring_bytes) {
    ChunkHeader h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.capacity = capacity;
    h.slots = slots;
    h.ring_bytes = ring_bytes;
    return h;
}

size_t tableBytes(size_t slots) {
    return (kTableOffset + slots * sizeof(SlotHeader) + kPage - 1) / kPage * kPage;
}

}  // namespace

std::shared_ptr<ScrollbackBuffer> heapScrollback(size_t capacity) {
    return std::make_shared<HeapScrollback>(capacity);
}

// A mapped chunk; unmapped when the arena and every ring in it are gone.
struct ScrollbackArena::Chunk {
    char* base = nullptr;
    size_t bytes = 0;
    static Result<std::shared_ptr<Chunk>> map(int fd, size_t bytes, const std::string& what) {
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) return Error::sysNow("mmap", what);
        auto c = std::make_shared<Chunk>();
        c->base = static_cast<char*>(p);
        c->bytes = bytes;
        return c;
    }
    ~Chunk() {
        if (base) ::munmap(base, bytes);
    }
    SlotHeader* slot(size_t i) const {
        return reinterpret_cast<SlotHeader*>(base + kTableOffset) + i;
    }
    // Gives the pages of [offset, offset + len) back (they read as zeros).
    void punch(size_t offset, size_t len) const {
        const size_t from = (offset + kPage - 1) / kPage * kPage;
        const size_t to = (offset + len) / kPage * kPage;
        if (to > from) ::madvise(base + from, to - from, MADV_REMOVE);
    }
};

// One slot's ring, as one console's ScrollbackBuffer. Once the slot is
// released (or handed to a newer ring for the same VM), appends do nothing:
// the slot may be another VM's by then.
struct ScrollbackArena::Ring : ScrollbackBuffer {
    std::shared_ptr<Chunk> chunk;
    SlotHeader* header = nullptr;
    char* data = nullptr;
    size_t ring_bytes = 0;
    size_t capacity = 0;
    mutable std::mutex mu;
    bool dead = false;

    void append(std::string_view bytes) override {
        std::lock_guard<std::mutex> lock(mu);
        if (dead) return;
        while (!bytes.empty()) {
            const size_t n = std::min(bytes.size(), kPiece);
            const uint64_t w = __atomic_load_n(&header->written, __ATOMIC_RELAXED);
            const size_t at = w % ring_bytes;
            const size_t first = std::min(n, ring_bytes - at);
            std::memcpy(data + at, bytes.data(), first);
            std::memcpy(data, bytes.data() + first, n - first);
            __atomic_store_n(&header->written, w + n, __ATOMIC_RELEASE);
            bytes.remove_prefix(n);
        }
    }

    std::string contents() const override {
        std::lock_guard<std::mutex> lock(mu);
        if (dead) return {};
        const uint64_t w = __atomic_load_n(&header->written, __ATOMIC_ACQUIRE);
        const size_t n = static_cast<size_t>(std::min<uint64_t>(w, capacity));
        std::string out(n, '\0');
        const size_t at = (w - n) % ring_bytes;
        const size_t first = std::min(n, ring_bytes - at);
        std::memcpy(out.data(), data + at, first);
        std::memcpy(out.data() + first, data, n - first);
        return out;
    }

    void kill() {
        std::lock_guard<std::mutex> lock(mu);
        dead = true;
    }
};

ScrollbackArena::ScrollbackArena(size_t capacity, size_t slots_per_chunk,
                                 std::function<void(size_t, int)> keep,
                                 std::function<void(size_t)> let_go)
    : capacity_(capacity),
      ring_bytes_((capacity + kPiece + kPage - 1) / kPage * kPage),
      slots_(std::max<size_t>(slots_per_chunk, 1)),
      keep_(std::move(keep)),
      let_go_(std::move(let_go)) {}

ScrollbackArena::~ScrollbackArena() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [owner, slot] : owners_)
        if (auto r = slot.ring.lock()) r->kill();
}

size_t ScrollbackArena::chunkBytes() const {
    return tableBytes(slots_) + slots_ * ring_bytes_;
}

std::string ScrollbackArena::keyOf(size_t index) {
    return "scrollback/" + std::to_string(index);
}

std::optional<size_t> ScrollbackArena::indexOf(const std::string& key) {
    const std::string prefix = "scrollback/";
    if (key.size() <= prefix.size() || key.size() > prefix.size() + 9 ||
        key.compare(0, prefix.size(), prefix) != 0)
        return std::nullopt;
    size_t v = 0;
    for (size_t i = prefix.size(); i < key.size(); ++i) {
        if (key[i] < '0' || key[i] > '9') return std::nullopt;
        v = v * 10 + static_cast<size_t>(key[i] - '0');
    }
    return v;
}

// A new chunk, mapped and free; its memfd is returned for keep_, which the
// caller calls once it has let go of mu_.
Result<unique_fd> ScrollbackArena::addChunkLocked() {
    const size_t index = next_index_++;
    const std::string what = keyOf(index);
    unique_fd fd(::memfd_create("herd-scrollback", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) return Error::sysNow("memfd_create", what);
    const size_t bytes = chunkBytes();
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
        return Error::sysNow("ftruncate", what);
    // Nobody may shrink it under a mapping (reads past the end would fault).
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        return Error::sysNow("seal", what);
    auto c = Chunk::map(fd.get(), bytes, what);
    if (!c.ok()) return c.error();
    const ChunkHeader h = headerFor(capacity_, slots_, ring_bytes_);
    std::memcpy((*c)->base, &h, sizeof h);
    chunks_[index] = std::move(*c);
    for (size_t i = 0; i < slots_; ++i) free_.insert({index, i});
    return fd;
}

Result<void> ScrollbackArena::adopt(size_t index, unique_fd fd) {
    const std::string what = keyOf(index);
    std::lock_guard<std::mutex> lock(mu_);
    if (chunks_.count(index)) return Error::msg("scrollback: " + what + " twice");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Error::sysNow("fstat", what);
    const size_t bytes = chunkBytes();
    if (!S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) != bytes)
        return Error::msg("scrollback: " + what + " is not a chunk of this size (" +
                          std::to_string(st.st_size) + " bytes, not " + std::to_string(bytes) +
                          ")");
    // The same memfd under two keys would make two VMs share rings.
    if (!adopted_.insert({st.st_dev, st.st_ino}).second)
        return Error::msg("scrollback: " + what + " is a chunk adopted already");
    const int seals = ::fcntl(fd.get(), F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK))
        return Error::msg("scrollback: " + what + " is not sealed against shrinking");
    auto mapped = Chunk::map(fd.get(), bytes, what);
    if (!mapped.ok()) return mapped.error();
    auto c = std::move(*mapped);
    const ChunkHeader want = headerFor(capacity_, slots_, ring_bytes_);
    if (std::memcmp(c->base, &want, sizeof want) != 0)
        return Error::msg("scrollback: " + what + " was made for other rings");
    for (size_t i = 0; i < slots_; ++i) {
        SlotHeader* s = c->slot(i);
        const int64_t tag = s->tag;
        if (tag > 0 && tag <= INT32_MAX && !owners_.count(static_cast<int>(tag - 1))) {
            owners_[static_cast<int>(tag - 1)] = {index, i, {}};
        } else {
            s->tag = 0;
            s->written = 0;
            free_.insert({index, i});
            c->punch(tableBytes(slots_) + i * ring_bytes_, ring_bytes_);
        }
    }
    chunks_[index] = std::move(c);
    next_index_ = std::max(next_index_, index + 1);
    return Ok();
}

Result<std::shared_ptr<ScrollbackBuffer>> ScrollbackArena::ringFor(int owner) {
    if (owner < 0) return Error::msg("scrollback: no ring for vm " + std::to_string(owner));
    unique_fd made;  // a new chunk's memfd, for keep_ once mu_ is let go
    size_t made_index = 0;
    std::shared_ptr<Ring> ring = std::make_shared<Ring>();
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = owners_.find(owner);
        if (it == owners_.end()) {
            if (free_.empty()) {
                auto fd = addChunkLocked();
                if (!fd.ok()) return fd.error();
                made = std::move(*fd);
                made_index = next_index_ - 1;
            }
            auto [chunk, slot] = *free_.begin();
            free_.erase(free_.begin());
            SlotHeader* s = chunks_.at(chunk)->slot(slot);
            s->written = 0;
            __atomic_store_n(&s->tag, int64_t{owner} + 1, __ATOMIC_RELEASE);
            it = owners_.emplace(owner, Slot{chunk, slot, {}}).first;
        }
        if (auto old = it->second.ring.lock()) old->kill();
        ring->chunk = chunks_.at(it->second.chunk);
        ring->header = ring->chunk->slot(it->second.slot);
        ring->data = ring->chunk->base + tableBytes(slots_) + it->second.slot * ring_bytes_;
        ring->ring_bytes = ring_bytes_;
        ring->capacity = capacity_;
        it->second.ring = ring;
    }
    // Outside mu_: handing a chunk to the keeper may wait for its control
    // connection, and nothing else here needs to. Indices are never reused,
    // so this cannot cross a let_go of an older chunk.
    if (made && keep_) keep_(made_index, made.get());
    return std::shared_ptr<ScrollbackBuffer>(ring);
}

void ScrollbackArena::freeLocked(std::map<int, Slot>::iterator it) {
    if (auto r = it->second.ring.lock()) r->kill();
    auto& chunk = chunks_.at(it->second.chunk);
    SlotHeader* s = chunk->slot(it->second.slot);
    __atomic_store_n(&s->tag, int64_t{0}, __ATOMIC_RELEASE);
    s->written = 0;
    // Its pages (and the VM's output) go now, not when the chunk does.
    chunk->punch(tableBytes(slots_) + it->second.slot * ring_bytes_, ring_bytes_);
    free_.insert({it->second.chunk, it->second.slot});
    owners_.erase(it);
}

std::vector<size_t> ScrollbackArena::unusedChunksLocked() {
    std::vector<size_t> gone;
    if (!owners_.empty()) return gone;
    // No VM left: the chunks go (the next console makes a new one).
    for (const auto& [index, chunk] : chunks_) gone.push_back(index);
    chunks_.clear();
    free_.clear();
    adopted_.clear();
    return gone;
}

void ScrollbackArena::letGo(const std::vector<size_t>& indices) {
    if (let_go_)
        for (size_t i : indices) let_go_(i);
}

void ScrollbackArena::release(int owner) {
    std::vector<size_t> gone;
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = owners_.find(owner);
        if (it == owners_.end()) return;
        freeLocked(it);
        gone = unusedChunksLocked();
    }
    letGo(gone);
}

void ScrollbackArena::releaseExcept(const std::set<int>& live) {
    std::vector<size_t> gone;
    {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = owners_.begin(); it != owners_.end();) {
            auto next = std::next(it);
            if (!live.count(it->first)) freeLocked(it);
            it = next;
        }
        gone = unusedChunksLocked();  // adopted chunks with no slot in use, too
    }
    letGo(gone);
}

size_t ScrollbackArena::chunks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return chunks_.size();
}

size_t ScrollbackArena::slotsInUse() const {
    std::lock_guard<std::mutex> lock(mu_);
    return owners_.size();
}

}  // namespace herd::runtime
