// Console scrollbacks that outlive the daemon (docs/durability.md).
//
// A console keeps the last of its output (the scrollback) to replay to each
// new viewer. Held in the daemon's heap it would die with the daemon; here it
// lives in shared memory instead: a ScrollbackArena is a set of chunks, each a
// memfd that the keeper holds (runtime/keeper.h, `hold`) and the daemon maps
// (it keeps no descriptor). A daemon that is killed leaves every ring as it
// was at that instant; the next daemon maps the same chunks and finds each
// VM's ring by the VM id in its slot's header. `quit keep` needs nothing more.
//
// A chunk is a header, a table of slot headers, then the slots' rings. Pages
// are touched only as consoles write: an idle console costs its slot header
// (32 bytes), a chattering one its ring.
//
// A write that a crash interrupts may have overwritten the oldest bytes of a
// full ring without moving its end: the ring is larger than what it shows by
// the largest single write (kPiece), and what it shows stops short of that.
#pragma once

#include <sys/types.h>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace herd::runtime {

// One console's scrollback: append on the console's thread, contents from
// any thread.
class ScrollbackBuffer {
  public:
    virtual ~ScrollbackBuffer() = default;
    virtual void append(std::string_view bytes) = 0;
    // The last bytes appended, at most the capacity it was made with.
    virtual std::string contents() const = 0;
};

// A scrollback in the daemon's heap, `capacity` bytes: gone with the daemon.
std::shared_ptr<ScrollbackBuffer> heapScrollback(size_t capacity);

class ScrollbackArena {
  public:
    // Writes longer than this go in pieces (see the top of this file).
    static constexpr size_t kPiece = 4096;

    // Rings that show `capacity` bytes, `slots_per_chunk` to a chunk.
    // `keep(index, fd)` is called with each new chunk's memfd, for the keeper
    // (the arena closes its own descriptor once the chunk is mapped), and
    // `let_go(index)` for each chunk once no slot is in use (no VM is left):
    // a keeper with nothing to keep exits.
    ScrollbackArena(size_t capacity, size_t slots_per_chunk,
                    std::function<void(size_t index, int fd)> keep,
                    std::function<void(size_t index)> let_go = nullptr);
    ~ScrollbackArena();
    ScrollbackArena(const ScrollbackArena&) = delete;
    ScrollbackArena& operator=(const ScrollbackArena&) = delete;

    // Maps a chunk a previous daemon made (`fd`, from the keeper), checking
    // that it is one: its size, its header, and that it was made with this
    // capacity and chunk size. Its slots' rings are then found by ringFor.
    Result<void> adopt(size_t index, unique_fd fd);

    // VM `owner`'s ring: the one an adopted chunk has for it, or a free slot
    // (a new chunk when all are taken). A console's scrollback survives the
    // daemon only through this.
    Result<std::shared_ptr<ScrollbackBuffer>> ringFor(int owner);
    // Frees VM `owner`'s slot (the VM is flushed): its ring is emptied.
    void release(int owner);
    // Frees every slot whose owner is not in `live` (adoption: VMs that are
    // gone).
    void releaseExcept(const std::set<int>& live);

    size_t chunks() const;
    size_t slotsInUse() const;

    // The key a chunk is held under in the keeper, and the index a key
    // names (nullopt: not a chunk's key).
    static std::string keyOf(size_t index);
    static std::optional<size_t> indexOf(const std::string& key);

  private:
    struct Chunk;
    struct Ring;
    struct Slot {
        size_t chunk;
        size_t slot;
        std::weak_ptr<Ring> ring;  // the one ringFor last handed out
    };
    Result<unique_fd> addChunkLocked();
    size_t chunkBytes() const;
    void freeLocked(std::map<int, Slot>::iterator it);
    // With no slot in use: forgets every chunk and says which (for letGo).
    std::vector<size_t> unusedChunksLocked();
    void letGo(const std::vector<size_t>& indices);  // outside mu_

    const size_t capacity_;
    const size_t ring_bytes_;  // capacity_ + kPiece, in whole pages
    const size_t slots_;
    std::function<void(size_t, int)> keep_;
    std::function<void(size_t)> let_go_;
    mutable std::mutex mu_;
    std::map<size_t, std::shared_ptr<Chunk>> chunks_;
    std::map<int, Slot> owners_;                 // vm id -> its slot
    std::set<std::pair<size_t, size_t>> free_;   // (chunk, slot)
    std::set<std::pair<dev_t, ino_t>> adopted_;  // the memfds adopt() mapped
    size_t next_index_ = 0;                      // chunk indices are never reused
};

}  // namespace herd::runtime
