// Spreading a batch of independent kernel work (launches, teardowns) over a
// few threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <variant>
#include <vector>

namespace herd::runtime {

// Runs fn(i, state) for every i < n on up to `workers` threads, the caller's
// included; each thread has its own default-constructed State.
template <typename State, typename Fn>
void parallelForWith(size_t n, int workers, Fn fn) {
    const size_t w = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(workers), n));
    std::atomic<size_t> next{0};
    auto loop = [&] {
        State state;
        for (size_t i; (i = next.fetch_add(1)) < n;) fn(i, state);
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < w; ++t) pool.emplace_back(loop);
    loop();
    for (auto& t : pool) t.join();
}

template <typename Fn>
void parallelFor(size_t n, int workers, Fn fn) {
    parallelForWith<std::monostate>(n, workers, [&](size_t i, std::monostate&) { fn(i); });
}

}  // namespace herd::runtime
