// runtime/scrollback_arena: consoles' scrollback rings in shared memory that
// a killed daemon leaves for the next one.
#include "runtime/scrollback_arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>

namespace herd::runtime {
namespace {

constexpr size_t kCap = 1000;

// Stands in for the keeper: keeps a copy of each chunk's memfd.
struct Keeper {
    std::map<size_t, unique_fd> held;
    std::function<void(size_t, int)> hold() {
        return [this](size_t i, int fd) { held[i] = unique_fd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); };
    }
    unique_fd copy(size_t i) { return unique_fd(::fcntl(held.at(i).get(), F_DUPFD_CLOEXEC, 0)); }
};

TEST(ScrollbackArena, HeapKeepsTheLastCapacityBytes) {
    auto b = heapScrollback(4);
    b->append("0123");
    b->append("456789");
    EXPECT_EQ(b->contents(), "6789");
}

TEST(ScrollbackArena, ARingShowsTheLastCapacityBytesAcrossWraps) {
    Keeper k;
    ScrollbackArena a(kCap, 4, k.hold());
    auto r = a.ringFor(7);
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_EQ((*r)->contents(), "");
    std::string all;
    for (int i = 0; i < 500; ++i) {
        std::string piece(static_cast<size_t>(i % 37 + 1), static_cast<char>('a' + i % 26));
        if (i == 250) piece = std::string(9000, 'Z');  // longer than a ring: goes in pieces
        (*r)->append(piece);
        all += piece;
        const std::string want = all.size() > kCap ? all.substr(all.size() - kCap) : all;
        ASSERT_EQ((*r)->contents(), want) << "after write " << i;
    }
}

TEST(ScrollbackArena, AKilledDaemonsRingsComeBackByVmId) {
    Keeper k;
    {
        ScrollbackArena a(kCap, 4, k.hold());
        for (int vm = 0; vm < 10; ++vm) {  // three chunks
            auto r = a.ringFor(vm);
            ASSERT_TRUE(r.ok());
            (*r)->append("vm " + std::to_string(vm) + " login: ");
        }
        EXPECT_EQ(a.chunks(), 3u);
        a.release(4);
        // No orderly handover: the arena is simply gone, as with kill -9.
    }
    ASSERT_EQ(k.held.size(), 3u);
    ScrollbackArena b(kCap, 4, k.hold());
    for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(b.adopt(i, k.copy(i)).ok());
    EXPECT_EQ(b.slotsInUse(), 9u);
    for (int vm = 0; vm < 10; ++vm) {
        auto r = b.ringFor(vm);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ((*r)->contents(), vm == 4 ? "" : "vm " + std::to_string(vm) + " login: ");
        (*r)->append("more");
    }
    EXPECT_EQ(b.chunks(), 3u);  // vm 4 took its freed slot back: no new chunk
    b.releaseExcept({1, 2});
    EXPECT_EQ(b.slotsInUse(), 2u);
}

TEST(ScrollbackArena, AReleasedSlotIsEmptyForItsNextVmAndTheOldRingWritesNothing) {
    Keeper k;
    ScrollbackArena a(kCap, 1, k.hold());
    auto old = a.ringFor(1);
    ASSERT_TRUE(old.ok());
    (*old)->append("secret of vm 1");
    a.release(1);
    auto next = a.ringFor(2);  // the same memory: one slot to a chunk, one chunk
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(a.chunks(), 1u);
    EXPECT_EQ((*next)->contents(), "");
    (*old)->append("late output of vm 1");
    EXPECT_EQ((*next)->contents(), "");
}

TEST(ScrollbackArena, ACrashMidWriteLeavesTheShownBytesIntact) {
    Keeper k;
    {
        ScrollbackArena a(kCap, 1, k.hold());
        auto r = a.ringFor(3);
        ASSERT_TRUE(r.ok());
        (*r)->append(std::string(kCap + ScrollbackArena::kPiece, 'x'));
        (*r)->append(std::string(kCap, 'y'));
    }
    // A torn write: the next piece's bytes copied, the end not yet moved.
    const size_t bytes = static_cast<size_t>(::lseek(k.held.at(0).get(), 0, SEEK_END));
    char* m = static_cast<char*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, k.held.at(0).get(), 0));
    ASSERT_NE(m, MAP_FAILED);
    uint64_t written = 0;
    std::memcpy(&written, m + 64 + 8, sizeof written);
    const size_t ring = (kCap + ScrollbackArena::kPiece + 4095) / 4096 * 4096;
    char* data = m + 4096;
    for (size_t i = 0; i < ScrollbackArena::kPiece; ++i) data[(written + i) % ring] = 'T';
    ::munmap(m, bytes);
    ScrollbackArena b(kCap, 1, k.hold());
    ASSERT_TRUE(b.adopt(0, k.copy(0)).ok());
    auto r = b.ringFor(3);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->contents(), std::string(kCap, 'y'));
}

TEST(ScrollbackArena, WhatIsNotAChunkIsRefused) {
    ScrollbackArena a(kCap, 4, nullptr);
    // A file of the wrong size, an unsealed memfd, a chunk made for other rings.
    unique_fd f(::memfd_create("x", MFD_CLOEXEC));
    ASSERT_EQ(::ftruncate(f.get(), 100), 0);
    auto r = a.adopt(0, std::move(f));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().text().find("not a chunk"), std::string::npos) << r.error().text();

    Keeper k;
    {
        ScrollbackArena other(kCap, 8, k.hold());
        ASSERT_TRUE(other.ringFor(1).ok());
    }
    EXPECT_FALSE(a.adopt(0, k.copy(0)).ok());

    Keeper k2;
    {
        ScrollbackArena same(kCap, 4, k2.hold());
        ASSERT_TRUE(same.ringFor(1).ok());
    }
    unique_fd copy = k2.copy(0);
    const size_t bytes = static_cast<size_t>(::lseek(copy.get(), 0, SEEK_END));
    unique_fd plain(::memfd_create("y", MFD_CLOEXEC));
    ASSERT_EQ(::ftruncate(plain.get(), static_cast<off_t>(bytes)), 0);
    r = a.adopt(0, std::move(plain));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().text().find("sealed"), std::string::npos) << r.error().text();
    // A chunk's slot headers with garbage owners are freed, not trusted.
    char* m = static_cast<char*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, copy.get(), 0));
    ASSERT_NE(m, MAP_FAILED);
    int64_t bad[4] = {-5, int64_t{1} << 40, 2, 2};  // two slots claim vm 1
    for (int i = 0; i < 4; ++i) std::memcpy(m + 64 + 32 * i, &bad[i], sizeof bad[i]);
    ::munmap(m, bytes);
    ASSERT_TRUE(a.adopt(0, std::move(copy)).ok());
    EXPECT_EQ(a.slotsInUse(), 1u);
    EXPECT_FALSE(a.adopt(0, k2.copy(0)).ok());  // the same index twice
    auto again = a.adopt(1, k2.copy(0));        // the same memfd under another key
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.error().text().find("adopted already"), std::string::npos)
        << again.error().text();
}

TEST(ScrollbackArena, AFreedSlotsPagesAndBytesGoAtOnce) {
    Keeper k;
    ScrollbackArena a(kCap, 2, k.hold());
    auto keep = a.ringFor(1);  // keeps the chunk in use
    auto r = a.ringFor(2);
    ASSERT_TRUE(keep.ok() && r.ok());
    (*r)->append(std::string(kCap, 's'));
    a.release(2);
    // Nothing of vm 2's output is left in the chunk's memory.
    const size_t bytes = static_cast<size_t>(::lseek(k.held.at(0).get(), 0, SEEK_END));
    std::string all(bytes, '\0');
    ASSERT_EQ(::pread(k.held.at(0).get(), all.data(), bytes, 0), static_cast<ssize_t>(bytes));
    EXPECT_EQ(all.find(std::string(64, 's')), std::string::npos);
}

TEST(ScrollbackArena, ChunksAreLetGoOnceNoVmIsLeft) {
    std::set<size_t> kept;
    ScrollbackArena a(
        kCap, 2, [&](size_t i, int) { kept.insert(i); }, [&](size_t i) { kept.erase(i); });
    for (int vm = 0; vm < 5; ++vm) ASSERT_TRUE(a.ringFor(vm).ok());
    EXPECT_EQ(kept.size(), 3u);
    for (int vm = 0; vm < 4; ++vm) a.release(vm);
    EXPECT_EQ(kept.size(), 3u);
    a.release(4);
    EXPECT_TRUE(kept.empty());
    EXPECT_EQ(a.chunks(), 0u);
    ASSERT_TRUE(a.ringFor(9).ok());
    EXPECT_EQ(kept, std::set<size_t>{3});  // indices are never reused

    // Adopted chunks whose slots are all free, or whose VMs are gone.
    Keeper k;
    {
        ScrollbackArena old(kCap, 2, k.hold());
        ASSERT_TRUE(old.ringFor(1).ok());
    }
    size_t let_go = 0;
    ScrollbackArena b(kCap, 2, nullptr, [&](size_t) { ++let_go; });
    ASSERT_TRUE(b.adopt(0, k.copy(0)).ok());
    b.releaseExcept({});
    EXPECT_EQ(let_go, 1u);
}

TEST(ScrollbackArena, KeysNameChunks) {
    EXPECT_EQ(ScrollbackArena::indexOf(ScrollbackArena::keyOf(12)), 12u);
    EXPECT_FALSE(ScrollbackArena::indexOf("scrollback/").has_value());
    EXPECT_FALSE(ScrollbackArena::indexOf("scrollback/1x").has_value());
    EXPECT_FALSE(ScrollbackArena::indexOf("console/3").has_value());
    EXPECT_FALSE(ScrollbackArena::indexOf("scrollback/99999999999").has_value());
}

TEST(ScrollbackArena, AppendsAndReadsFromManyThreads) {
    ScrollbackArena a(kCap, 2, nullptr);
    auto r = a.ringFor(0);
    ASSERT_TRUE(r.ok());
    std::thread reader([&] {
        for (int i = 0; i < 2000; ++i) {
            std::string c = (*r)->contents();
            ASSERT_LE(c.size(), kCap);
            for (char ch : c) ASSERT_EQ(ch, 'q');
        }
    });
    for (int i = 0; i < 2000; ++i) (*r)->append(std::string(97, 'q'));
    reader.join();
}

}  // namespace
}  // namespace herd::runtime
