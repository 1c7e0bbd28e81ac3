// The etcd client (src/cluster/etcd.h) against a real etcd, started, stopped,
// restarted and paused by tests/cluster/test_etcd_client.py: the endpoint is
// in HERD_ETCD_ENDPOINTS, and a test asks the driver to act on the etcd by
// writing `@etcd <stop|start|restart|pause|resume>` on stdout and reading
// `ok` from stdin. Every test works under a key prefix of its own.
//
// `herd_etcd_client_test --lease-holder <endpoints> <key>` is the child of the
// lease test: it puts <key> with a lease it keeps alive, says `ready`, and
// sleeps until killed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/etcd.h"

using namespace herd::cluster;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::string endpoints() {
    const char* e = std::getenv("HERD_ETCD_ENDPOINTS");
    return e ? e : "";
}

Client client(ClientOptions o = {}) {
    auto c = Client::create(endpoints(), o);
    if (!c) {
        ADD_FAILURE() << c.error().text();
        std::abort();
    }
    return std::move(*c);
}

// A key prefix no other test (or run) uses.
std::string prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return "herd-test/" + std::to_string(getpid()) + "/" + info->test_suite_name() + "." +
           info->name() + "/";
}

// Asks the driver to act on the etcd; returns when it has.
void etcdDo(const std::string& verb) {
    std::fflush(stdout);
    std::printf("@etcd %s\n", verb.c_str());
    std::fflush(stdout);
    std::string line;
    ASSERT_TRUE(std::getline(std::cin, line)) << "no driver on stdin (run test_etcd_client.py)";
    ASSERT_EQ(line, "ok");
}

long long msSince(Clock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

template <typename F>
bool waitFor(F&& cond, milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(milliseconds(20));
    }
    return cond();
}

std::string value(const Client& c, const std::string& key) {
    auto g = c.get(key);
    EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.error().text());
    if (!g || g->kvs.empty()) return "<absent>";
    return g->kvs[0].value;
}

// A loopback port nothing listens on.
int deadPort() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

}  // namespace

// ---------------------------------------------------------------------------
// Bytes

TEST(EtcdBytes, PrefixEndAndBase64) {
    EXPECT_EQ(prefixEnd("a"), "b");
    EXPECT_EQ(prefixEnd("herd/"), "herd0");
    EXPECT_EQ(prefixEnd("a\xff"), "b");
    EXPECT_EQ(prefixEnd("\xff\xff"), std::string("\0", 1));
    EXPECT_EQ(prefixEnd(""), std::string("\0", 1));
    std::mt19937 rng(7);
    for (size_t n = 0; n < 70; ++n) {
        std::string s(n, '\0');
        for (auto& c : s) c = static_cast<char>(rng());
        auto d = base64Decode(base64Encode(s));
        ASSERT_TRUE(d.has_value()) << n;
        EXPECT_EQ(*d, s);
    }
    EXPECT_EQ(base64Encode("foo"), "Zm9v");
    EXPECT_EQ(base64Encode("fo"), "Zm8=");
    for (const char* bad : {"Zm9", "Zm9v=", "Z===", "Zm=v", "Zm9*", "====", "Zg==Zg=="}) {
        EXPECT_FALSE(base64Decode(bad).has_value()) << bad;
    }
    EXPECT_EQ(printableKey(std::string("a\0\n\\b", 5)), "a\\x00\\x0a\\x5cb");
}

TEST(EtcdBytes, BadEndpoints) {
    for (const char* bad : {"", " , ", "https://127.0.0.1:2379", "http://127.0.0.1:99999",
                            "http://127.0.0.1:2379/v3", "http://[::1", "unix:///x"}) {
        auto c = Client::create(bad);
        EXPECT_FALSE(c.ok()) << bad;
    }
    auto c = Client::create(" http://127.0.0.1:1, http://[::1]:2 ,http://localhost");
    ASSERT_TRUE(c.ok()) << c.error().text();
    EXPECT_EQ(c->endpoints(), (std::vector<std::string>{"http://127.0.0.1:1", "http://[::1]:2",
                                                        "http://localhost:2379"}));
}

// ---------------------------------------------------------------------------
// Keys

TEST(EtcdKv, PutGetPrefixDelete) {
    auto c = client();
    const auto p = prefix();
    auto r1 = c.put(p + "a", "1");
    ASSERT_TRUE(r1.ok()) << r1.error().text();
    ASSERT_TRUE(c.put(p + "b", "2").ok());
    ASSERT_TRUE(c.put(p + "c/d", "3").ok());
    ASSERT_TRUE(c.put(p.substr(0, p.size() - 1) + "0", "outside").ok());  // after the prefix

    auto g = c.get(p + "a");
    ASSERT_TRUE(g.ok()) << g.error().text();
    ASSERT_EQ(g->kvs.size(), 1u);
    EXPECT_EQ(g->kvs[0].key, p + "a");
    EXPECT_EQ(g->kvs[0].value, "1");
    EXPECT_EQ(g->kvs[0].version, 1);
    EXPECT_EQ(g->kvs[0].create_revision, r1->revision);
    EXPECT_EQ(g->kvs[0].mod_revision, r1->revision);
    EXPECT_GE(g->revision, r1->revision);

    PutOptions po;
    po.prev_kv = true;
    auto r2 = c.put(p + "a", "1b", po);
    ASSERT_TRUE(r2.ok());
    ASSERT_TRUE(r2->prev.has_value());
    EXPECT_EQ(r2->prev->value, "1");
    g = c.get(p + "a");
    EXPECT_EQ(g->kvs.at(0).value, "1b");
    EXPECT_EQ(g->kvs.at(0).version, 2);
    EXPECT_EQ(g->kvs.at(0).mod_revision, r2->revision);

    // The store as it was.
    GetOptions at;
    at.revision = r1->revision;
    g = c.get(p + "a", at);
    ASSERT_TRUE(g.ok()) << g.error().text();
    EXPECT_EQ(g->kvs.at(0).value, "1");

    GetOptions pre;
    pre.prefix = true;
    g = c.get(p, pre);
    ASSERT_TRUE(g.ok());
    ASSERT_EQ(g->kvs.size(), 3u);
    EXPECT_EQ(g->kvs[0].key, p + "a");
    EXPECT_EQ(g->kvs[1].key, p + "b");
    EXPECT_EQ(g->kvs[2].key, p + "c/d");
    EXPECT_EQ(g->count, 3);
    EXPECT_FALSE(g->more);

    pre.limit = 2;
    g = c.get(p, pre);
    EXPECT_EQ(g->kvs.size(), 2u);
    EXPECT_TRUE(g->more);
    EXPECT_EQ(g->count, 3);
    pre.limit = 0;
    pre.keys_only = true;
    g = c.get(p, pre);
    ASSERT_EQ(g->kvs.size(), 3u);
    EXPECT_EQ(g->kvs[2].value, "");

    g = c.get(p + "missing");
    ASSERT_TRUE(g.ok());
    EXPECT_TRUE(g->kvs.empty());
    EXPECT_GT(g->revision, 0);

    auto d = c.del(p + "a");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->deleted, 1);
    d = c.del(p + "a");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->deleted, 0);
    DeleteOptions dp;
    dp.prefix = true;
    dp.prev_kv = true;
    d = c.del(p, dp);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->deleted, 2);
    ASSERT_EQ(d->prev.size(), 2u);
    EXPECT_EQ(d->prev[0].value, "2");
    EXPECT_EQ(d->prev[1].value, "3");
    pre.keys_only = false;
    EXPECT_TRUE(c.get(p, pre)->kvs.empty());
    EXPECT_EQ(value(c, p.substr(0, p.size() - 1) + "0"), "outside");
    ASSERT_TRUE(c.del(p.substr(0, p.size() - 1) + "0").ok());
}

TEST(EtcdKv, ErrorsNameEndpointOperationKeyAndEtcdsMessage) {
    auto c = client();
    const auto key = prefix() + "k";
    PutOptions po;
    po.lease = 0x7fff0001;  // no such lease
    auto r = c.put(key, "v", po);
    ASSERT_FALSE(r.ok());
    const auto& t = r.error().text();
    EXPECT_NE(t.find("etcd put `" + key + "`"), std::string::npos) << t;
    EXPECT_NE(t.find(endpoints()), std::string::npos) << t;
    EXPECT_NE(t.find("requested lease not found"), std::string::npos) << t;
    // A revision the store has not reached.
    GetOptions go;
    go.revision = int64_t{1} << 40;
    auto g = c.get(key, go);
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.error().text().find("future revision"), std::string::npos) << g.error().text();
}

// ---------------------------------------------------------------------------
// Transactions

TEST(EtcdTxn, ComparesAndBranches) {
    auto c = client();
    const auto k = prefix() + "k";
    Txn t;
    t.compare = {Compare::absent(k)};
    t.success = {TxnOp::put(k, "v1")};
    t.failure = {TxnOp::get(k)};
    auto r = c.txn(t);
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_TRUE(r->succeeded);
    ASSERT_EQ(r->results.size(), 1u);
    r = c.txn(t);  // exists now: the failure branch reads it
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->succeeded);
    ASSERT_EQ(r->results.at(0).get.kvs.size(), 1u);
    const KeyValue kv = r->results[0].get.kvs[0];
    EXPECT_EQ(kv.value, "v1");

    auto holds = [&](Compare cmp) {
        Txn q;
        q.compare = {std::move(cmp)};
        auto a = c.txn(q);
        EXPECT_TRUE(a.ok()) << (a.ok() ? "" : a.error().text());
        return a.ok() && a->succeeded;
    };
    using Op = Compare::Op;
    EXPECT_TRUE(holds(Compare::valueIs(k, Op::Equal, "v1")));
    EXPECT_FALSE(holds(Compare::valueIs(k, Op::Equal, "v2")));
    EXPECT_TRUE(holds(Compare::valueIs(k, Op::NotEqual, "v2")));
    EXPECT_TRUE(holds(Compare::valueIs(k, Op::Greater, "v0")));
    EXPECT_TRUE(holds(Compare::versionIs(k, Op::Equal, 1)));
    EXPECT_TRUE(holds(Compare::modRevisionIs(k, Op::Equal, kv.mod_revision)));
    EXPECT_FALSE(holds(Compare::modRevisionIs(k, Op::Equal, kv.mod_revision - 1)));
    EXPECT_TRUE(holds(Compare::createRevisionIs(k, Op::Less, kv.create_revision + 1)));
    EXPECT_TRUE(holds(Compare::leaseIs(k, Op::Equal, 0)));
    EXPECT_FALSE(holds(Compare::absent(k)));
    EXPECT_TRUE(holds(Compare::absent(k + "-other")));

    // Several operations at one revision; a delete's count; all-or-nothing.
    Txn m;
    m.compare = {Compare::versionIs(k, Op::Equal, 1)};
    m.success = {TxnOp::put(k + "/x", "x"), TxnOp::put(k + "/y", "y"), TxnOp::del(k),
                 TxnOp::get(k + "/", true)};
    r = c.txn(m);
    ASSERT_TRUE(r.ok()) << r.error().text();
    ASSERT_TRUE(r->succeeded);
    ASSERT_EQ(r->results.size(), 4u);
    EXPECT_EQ(r->results[2].deleted, 1);
    ASSERT_EQ(r->results[3].get.kvs.size(), 2u);
    EXPECT_EQ(r->results[3].get.kvs[0].mod_revision, r->results[3].get.kvs[1].mod_revision);
    EXPECT_EQ(r->results[3].get.kvs[0].mod_revision, r->revision);
    r = c.txn(m);  // k is gone: version 0, nothing runs
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->succeeded);
    EXPECT_EQ(value(c, k), "<absent>");
}

// ---------------------------------------------------------------------------
// Allocation

TEST(EtcdAlloc, CounterEightThreadsHundredEach) {
    auto c = client();
    const auto key = prefix() + "counter";
    constexpr int kThreads = 8, kEach = 100;
    std::vector<std::vector<int64_t>> got(kThreads);
    std::vector<std::string> errors(kThreads);
    const auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; ++i) {
        ts.emplace_back([&, i] {
            for (int j = 0; j < kEach; ++j) {
                auto r = c.counterAdd(key, 1, milliseconds(30000));
                if (!r) {
                    errors[i] = r.error().text();
                    return;
                }
                got[i].push_back(*r);
            }
        });
    }
    for (auto& t : ts) t.join();
    const double secs = static_cast<double>(msSince(t0)) / 1000.0;
    for (const auto& e : errors) EXPECT_EQ(e, "");
    std::set<int64_t> all;
    size_t n = 0;
    for (const auto& g : got) {
        n += g.size();
        all.insert(g.begin(), g.end());
        EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));  // a thread's numbers only grow
    }
    EXPECT_EQ(n, 800u);
    EXPECT_EQ(all.size(), 800u);  // distinct
    EXPECT_EQ(*all.begin(), 0);
    EXPECT_EQ(*all.rbegin(), 799);  // and no gaps
    EXPECT_EQ(value(c, key), "800");
    std::printf("[ figures  ] counterAdd, 8 threads x 100: %.0f allocations/s (%.2f s)\n",
                800 / secs, secs);

    // Blocks, and a value that is not a counter.
    EXPECT_EQ(*c.counterAdd(key, 10), 800);
    EXPECT_EQ(*c.counterAdd(key, 1), 810);
    ASSERT_TRUE(c.put(key, "twelve").ok());
    auto bad = c.counterAdd(key, 1);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().text().find("`twelve` is not a counter"), std::string::npos)
        << bad.error().text();
    EXPECT_FALSE(c.counterAdd(key, 0).ok());
}

// The daemon's VLAN allocation: one number per alias for the whole cluster,
// numbers distinct, the lowest free first, hosts racing for the same aliases.
TEST(EtcdAlloc, ClaimLowestLikeVlanAliases) {
    auto c = client();
    const auto p = prefix();
    const std::string numbers = p + "vlans/numbers/", aliases = p + "vlans/aliases/";
    constexpr int kThreads = 8, kShared = 40, kOwn = 20;
    std::mutex mu;
    std::map<std::string, std::set<int64_t>> seen;  // alias -> numbers any thread got
    std::vector<std::string> errors;
    auto vlanOf = [&](const std::string& alias) -> int64_t {
        auto g = c.get(aliases + alias);
        if (!g) return -2;
        if (!g->kvs.empty()) return std::stoll(g->kvs[0].value);
        auto claim = c.claimLowest(
            numbers, 101, 4096, "ns//" + alias,
            [&](int64_t n) {
                return std::vector<std::pair<std::string, std::string>>{
                    {aliases + alias, std::to_string(n)}};
            },
            milliseconds(30000));
        if (!claim) {
            std::lock_guard lock(mu);
            errors.push_back(claim.error().text());
            return -2;
        }
        if (claim->number >= 0) return claim->number;
        // Another host made the alias first: use its number.
        return std::stoll(claim->conflict.at(0).value);
    };
    const auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; ++i) {
        ts.emplace_back([&, i] {
            for (int j = 0; j < kShared + kOwn; ++j) {
                const std::string alias = j < kShared
                                              ? "shared" + std::to_string(j)
                                              : "t" + std::to_string(i) + "-" + std::to_string(j);
                const int64_t n = vlanOf(alias);
                std::lock_guard lock(mu);
                seen[alias].insert(n);
            }
        });
    }
    for (auto& t : ts) t.join();
    const double secs = static_cast<double>(msSince(t0)) / 1000.0;
    std::printf(
        "[ figures  ] VLAN aliases, 8 threads x 60 (240 distinct): %.0f aliases/s "
        "(%.2f s)\n",
        240 / secs, secs);
    EXPECT_TRUE(errors.empty()) << errors.front();
    std::set<int64_t> used;
    for (const auto& [alias, ns] : seen) {
        ASSERT_EQ(ns.size(), 1u) << alias << " got several numbers";
        EXPECT_TRUE(used.insert(*ns.begin()).second) << "number shared: " << *ns.begin();
    }
    const size_t total = kShared + kThreads * kOwn;
    EXPECT_EQ(used.size(), total);
    EXPECT_EQ(*used.begin(), 101);
    EXPECT_EQ(*used.rbegin(), 101 + static_cast<int64_t>(total) - 1);
    // The store agrees: number -> alias and alias -> number, both ways.
    GetOptions pre;
    pre.prefix = true;
    auto g = c.get(numbers, pre);
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->kvs.size(), total);
    for (const auto& kv : g->kvs) {
        const std::string alias = kv.value.substr(4);
        EXPECT_EQ(value(c, aliases + alias), kv.key.substr(numbers.size()));
    }

    // Freed numbers are reused, the lowest first; a full range is an error.
    ASSERT_TRUE(c.del(numbers + "105").ok());
    auto again = c.claimLowest(numbers, 101, 4096, "x");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->number, 105);
    auto full = c.claimLowest(numbers, 101, 103, "x");
    ASSERT_FALSE(full.ok());
    EXPECT_NE(full.error().text().find("out of numbers in [101, 103)"), std::string::npos)
        << full.error().text();
}

TEST(EtcdAlloc, CreateOnce) {
    auto c = client();
    const auto p = prefix();
    auto r = c.create(p + "a", "mine");
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_TRUE(r->created);
    r = c.create(p + "a", "theirs");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->created);
    ASSERT_EQ(r->existing.size(), 1u);
    EXPECT_EQ(r->existing[0].value, "mine");
    // All or nothing.
    r = c.createAll({{p + "b", "1"}, {p + "a", "2"}});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->created);
    EXPECT_EQ(value(c, p + "b"), "<absent>");
    EXPECT_EQ(value(c, p + "a"), "mine");
    r = c.createAll({{p + "b", "1"}, {p + "c", "2"}});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->created);
    EXPECT_EQ(value(c, p + "c"), "2");
}

// ---------------------------------------------------------------------------
// Leases

TEST(EtcdLease, KeyLivesWhileKeptAliveAndGoesAfter) {
    auto c = client();
    const auto key = prefix() + "host";
    auto lease = c.grantLease(2);
    ASSERT_TRUE(lease.ok()) << lease.error().text();
    EXPECT_GE(lease->ttl, 2);
    PutOptions po;
    po.lease = lease->id;
    ASSERT_TRUE(c.put(key, "up", po).ok());
    auto keeper = c.keepAlive(*lease);
    std::this_thread::sleep_for(milliseconds(4500));  // more than two TTLs
    EXPECT_EQ(value(c, key), "up");
    EXPECT_TRUE(keeper->alive());
    EXPECT_LT(msSince(keeper->lastConfirmed()), 1500);
    auto g = c.get(key);
    EXPECT_EQ(g->kvs.at(0).lease, lease->id);

    // The holder stops keeping it alive (as a dead process would).
    keeper->release();
    const auto t0 = Clock::now();
    EXPECT_TRUE(waitFor([&] { return value(c, key) == "<absent>"; }, milliseconds(6000)));
    const auto gone_after = msSince(t0);
    EXPECT_LE(gone_after, lease->ttl * 1000 + 1500);
    std::printf("[ figures  ] leased key gone %lld ms after the last keep-alive (TTL %lld s)\n",
                gone_after, static_cast<long long>(lease->ttl));
    keeper.reset();  // released: no revoke
    auto ka = c.keepAliveOnce(lease->id);
    ASSERT_FALSE(ka.ok());
    EXPECT_EQ(ka.error().errnum(), ENOENT) << ka.error().text();
    EXPECT_NE(ka.error().text().find("lease " + std::to_string(lease->id)), std::string::npos);
}

TEST(EtcdLease, DestroyingTheKeeperRevokes) {
    auto c = client();
    const auto key = prefix() + "host";
    auto lease = c.grantLease(30);
    ASSERT_TRUE(lease.ok());
    PutOptions po;
    po.lease = lease->id;
    ASSERT_TRUE(c.put(key, "up", po).ok());
    auto keeper = c.keepAlive(*lease);
    keeper.reset();
    EXPECT_EQ(value(c, key), "<absent>");
    EXPECT_TRUE(c.revokeLease(lease->id).ok());  // gone already: fine
}

TEST(EtcdLease, OnLostWhenRevokedElsewhere) {
    auto c = client();
    auto lease = c.grantLease(3);
    ASSERT_TRUE(lease.ok());
    std::atomic<int> lost{0};
    std::string why;
    std::mutex mu;
    auto keeper = c.keepAlive(*lease, [&](const herd::Error& e) {
        std::lock_guard lock(mu);
        why = e.text();
        ++lost;
    });
    ASSERT_TRUE(c.revokeLease(lease->id).ok());
    EXPECT_TRUE(waitFor([&] { return lost.load() == 1; }, milliseconds(3000)));
    EXPECT_FALSE(keeper->alive());
    std::lock_guard lock(mu);
    EXPECT_NE(why.find("expired or was revoked"), std::string::npos) << why;
}

TEST(EtcdLease, KeyGoesWhenTheHolderProcessIsKilled) {
    auto c = client();
    const auto key = prefix() + "host";
    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::close(out[0]);
        ::close(out[1]);
        const std::string eps = endpoints();
        ::execl("/proc/self/exe", "herd_etcd_client_test", "--lease-holder", eps.c_str(),
                key.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(out[1]);
    pollfd pfd{out[0], POLLIN, 0};
    char buf[64] = {};
    const bool ready = ::poll(&pfd, 1, 10000) == 1 && ::read(out[0], buf, sizeof buf - 1) > 0;
    ::close(out[0]);
    EXPECT_TRUE(ready);
    EXPECT_EQ(std::string(buf).substr(0, 5), "ready");
    std::this_thread::sleep_for(milliseconds(3000));  // past the TTL: kept alive
    EXPECT_EQ(value(c, key), "alive");
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
    const auto t0 = Clock::now();
    EXPECT_TRUE(waitFor([&] { return value(c, key) == "<absent>"; }, milliseconds(6000)));
    std::printf("[ figures  ] killed holder's key gone after %lld ms (TTL 2 s)\n", msSince(t0));
}

// ---------------------------------------------------------------------------
// Watches

namespace {

struct Recorder {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<WatchEvent> events;
    std::vector<size_t> batches;  // sizes of the callbacks' batches
    std::vector<WatchStatus> statuses;

    WatchCallback onEvents() {
        return [this](const std::vector<WatchEvent>& evs) {
            std::lock_guard lock(mu);
            events.insert(events.end(), evs.begin(), evs.end());
            batches.push_back(evs.size());
            cv.notify_all();
        };
    }
    WatchStatusCallback onStatus() {
        return [this](const WatchStatus& s) {
            std::lock_guard lock(mu);
            statuses.push_back(s);
            cv.notify_all();
        };
    }
    bool waitEvents(size_t n, milliseconds limit) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, limit, [&] { return events.size() >= n; });
    }
    size_t count(WatchStatus::Kind k) {
        std::lock_guard lock(mu);
        return std::count_if(statuses.begin(), statuses.end(),
                             [&](const WatchStatus& s) { return s.kind == k; });
    }
};

}  // namespace

TEST(EtcdWatch, EventsInOrderAndResumedAfterEtcdRestarts) {
    auto c = client();
    const auto p = prefix();
    Recorder rec;
    WatchOptions wo;
    wo.prefix = true;
    auto w = c.watch(p, wo, rec.onEvents(), rec.onStatus());
    ASSERT_TRUE(w.ok()) << w.error().text();
    EXPECT_EQ(rec.count(WatchStatus::Kind::Connected), 1u);

    for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.put(p + "k" + std::to_string(i), "v").ok());
    ASSERT_TRUE(c.del(p + "k0").ok());
    Txn t;  // two events at one revision, delivered together
    t.success = {TxnOp::put(p + "t1", "a"), TxnOp::put(p + "t2", "b")};
    ASSERT_TRUE(c.txn(t).ok());
    ASSERT_TRUE(c.put(p.substr(0, p.size() - 1) + "0", "outside").ok());  // not watched
    ASSERT_TRUE(rec.waitEvents(53, milliseconds(5000))) << rec.events.size();

    etcdDo("restart");
    // Changes made right after the restart, maybe before the watch is back.
    for (int i = 50; i < 100; ++i) ASSERT_TRUE(c.put(p + "k" + std::to_string(i), "v").ok());
    ASSERT_TRUE(rec.waitEvents(103, milliseconds(15000))) << rec.events.size();
    std::this_thread::sleep_for(milliseconds(300));  // nothing more may come

    std::lock_guard lock(rec.mu);
    ASSERT_EQ(rec.events.size(), 103u);
    int64_t last = 0;
    std::set<int64_t> revs;
    for (size_t i = 0; i < rec.events.size(); ++i) {
        const auto& e = rec.events[i];
        EXPECT_GE(e.kv.mod_revision, last) << i;
        last = e.kv.mod_revision;
        revs.insert(e.kv.mod_revision);
    }
    EXPECT_EQ(revs.size(), 102u);  // the txn's two share one revision; nothing twice
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(rec.events[i].kv.key, p + "k" + std::to_string(i));
        EXPECT_EQ(rec.events[i].type, WatchEvent::Type::Put);
    }
    EXPECT_EQ(rec.events[50].type, WatchEvent::Type::Delete);
    EXPECT_EQ(rec.events[50].kv.key, p + "k0");
    EXPECT_EQ(rec.events[51].kv.key, p + "t1");
    EXPECT_EQ(rec.events[52].kv.key, p + "t2");
    EXPECT_EQ(rec.events[51].kv.mod_revision, rec.events[52].kv.mod_revision);
    for (int i = 50; i < 100; ++i) EXPECT_EQ(rec.events[3 + i].kv.key, p + "k" + std::to_string(i));
    EXPECT_TRUE(std::find(rec.batches.begin(), rec.batches.end(), 2u) != rec.batches.end());
    size_t disconnected = 0, connected = 0;
    for (const auto& s : rec.statuses) {
        if (s.kind == WatchStatus::Kind::Disconnected) ++disconnected;
        if (s.kind == WatchStatus::Kind::Connected) ++connected;
    }
    EXPECT_GE(disconnected, 1u);
    EXPECT_GE(connected, 2u);
    EXPECT_EQ((*w)->nextRevision(), last + 1);
    EXPECT_TRUE((*w)->running());
    ASSERT_TRUE(c.del(p.substr(0, p.size() - 1) + "0").ok());
}

TEST(EtcdWatch, HistoryFromARevisionWithPrevValues) {
    auto c = client();
    const auto p = prefix();
    auto r = c.put(p + "a", "1");
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(c.put(p + "a", "2").ok());
    ASSERT_TRUE(c.del(p + "a").ok());
    Recorder rec;
    WatchOptions wo;
    wo.start_revision = r->revision;
    wo.prev_kv = true;
    auto w = c.watch(p + "a", wo, rec.onEvents());
    ASSERT_TRUE(w.ok()) << w.error().text();
    ASSERT_TRUE(rec.waitEvents(3, milliseconds(5000)));
    std::lock_guard lock(rec.mu);
    ASSERT_EQ(rec.events.size(), 3u);
    EXPECT_EQ(rec.events[0].kv.value, "1");
    EXPECT_EQ(rec.events[1].kv.value, "2");
    ASSERT_TRUE(rec.events[1].prev.has_value());
    EXPECT_EQ(rec.events[1].prev->value, "1");
    EXPECT_EQ(rec.events[2].type, WatchEvent::Type::Delete);
    ASSERT_TRUE(rec.events[2].prev.has_value());
    EXPECT_EQ(rec.events[2].prev->value, "2");
}

TEST(EtcdWatch, CompactedHistoryEndsTheWatchWithAStatus) {
    auto c = client();
    const auto p = prefix();
    auto r = c.put(p + "a", "1");
    ASSERT_TRUE(r.ok());
    auto r2 = c.put(p + "a", "2");
    ASSERT_TRUE(r2.ok());
    auto compacted = c.compact(r2->revision);
    ASSERT_TRUE(compacted.ok()) << compacted.error().text();
    GetOptions old;
    old.revision = r->revision;
    auto g = c.get(p + "a", old);
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.error().text().find("compacted"), std::string::npos) << g.error().text();
    Recorder rec;
    WatchOptions wo;
    wo.start_revision = r->revision;
    auto w = c.watch(p + "a", wo, rec.onEvents(), rec.onStatus());
    ASSERT_TRUE(w.ok()) << w.error().text();
    EXPECT_TRUE(waitFor([&] { return !(*w)->running(); }, milliseconds(3000)));
    ASSERT_EQ(rec.count(WatchStatus::Kind::Compacted), 1u);
    std::lock_guard lock(rec.mu);
    EXPECT_EQ(rec.statuses.back().revision, r2->revision);
    EXPECT_TRUE(rec.events.empty());
}

// ---------------------------------------------------------------------------
// Endpoints, timeouts

TEST(EtcdEndpoints, FirstEndpointDeadFailsOver) {
    const std::string dead1 = "http://127.0.0.1:" + std::to_string(deadPort());
    const std::string dead2 = "http://127.0.0.1:" + std::to_string(deadPort());
    auto c = Client::create(dead1 + "," + endpoints());
    ASSERT_TRUE(c.ok());
    const auto p = prefix();
    auto t0 = Clock::now();
    auto r = c->put(p + "a", "1");
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_LT(msSince(t0), 1000);
    EXPECT_EQ(c->get(p + "a")->kvs.at(0).value, "1");
    auto n = c->counterAdd(p + "n");
    ASSERT_TRUE(n.ok()) << n.error().text();
    Recorder rec;
    auto w = c->watch(p, WatchOptions{true, 0, false, milliseconds(3000)}, rec.onEvents());
    ASSERT_TRUE(w.ok()) << w.error().text();
    ASSERT_TRUE(c->put(p + "b", "2").ok());
    EXPECT_TRUE(rec.waitEvents(1, milliseconds(3000)));

    // Every endpoint dead: a prompt error naming each.
    auto none = Client::create(dead1 + "," + dead2);
    ASSERT_TRUE(none.ok());
    t0 = Clock::now();
    auto g = none->get(p + "a");
    ASSERT_FALSE(g.ok());
    EXPECT_LT(msSince(t0), 500);
    EXPECT_EQ(g.error().errnum(), ECONNREFUSED);
    const auto& t = g.error().text();
    EXPECT_NE(t.find("etcd get `" + p + "a`: no endpoint answered: " + dead1 +
                     ": connect: Connection refused (ECONNREFUSED); " + dead2),
              std::string::npos)
        << t;
}

TEST(EtcdEndpoints, EtcdPausedOrStoppedNeverHangsACall) {
    ClientOptions o;
    o.timeout = milliseconds(1000);
    auto c = client(o);
    const auto p = prefix();
    auto lease = c.grantLease(5);
    ASSERT_TRUE(lease.ok());
    auto keeper = c.keepAlive(*lease);
    ASSERT_TRUE(c.put(p + "a", "1").ok());  // a pooled connection to reuse

    etcdDo("pause");  // SIGSTOP: connections open, nothing answers
    auto t0 = Clock::now();
    auto g = c.get(p + "a");
    auto ms = msSince(t0);
    ASSERT_FALSE(g.ok());
    EXPECT_GE(ms, 950);
    EXPECT_LE(ms, 1500);
    EXPECT_EQ(g.error().errnum(), ETIMEDOUT) << g.error().text();
    EXPECT_NE(g.error().text().find("etcd get `" + p + "a` at " + endpoints()), std::string::npos)
        << g.error().text();
    t0 = Clock::now();
    auto r = c.put(p + "a", "2", PutOptions{0, false, milliseconds(500)});
    ms = msSince(t0);
    ASSERT_FALSE(r.ok());
    EXPECT_LE(ms, 1000);
    EXPECT_NE(r.error().text().find("outcome is unknown"), std::string::npos) << r.error().text();
    t0 = Clock::now();
    auto w = c.watch(p, WatchOptions{true, 0, false, milliseconds(800)}, [](const auto&) {});
    ms = msSince(t0);
    ASSERT_FALSE(w.ok());
    EXPECT_LE(ms, 1500);
    EXPECT_NE(w.error().text().find("not accepted within 800 ms"), std::string::npos)
        << w.error().text();
    t0 = Clock::now();
    auto n = c.counterAdd(p + "n", 1, milliseconds(700));
    EXPECT_FALSE(n.ok());
    EXPECT_LE(msSince(t0), 1200);
    etcdDo("resume");

    // Down altogether: refused at once.
    etcdDo("stop");
    t0 = Clock::now();
    g = c.get(p + "a");
    ASSERT_FALSE(g.ok());
    EXPECT_LT(msSince(t0), 500);
    EXPECT_EQ(g.error().errnum(), ECONNREFUSED) << g.error().text();
    etcdDo("start");
    g = c.get(p + "a");
    ASSERT_TRUE(g.ok()) << g.error().text();
    // The keeper carried on through all that (5 s TTL, etcd away about 3 s;
    // etcd also renews leases when it starts).
    EXPECT_TRUE(
        waitFor([&] { return msSince(keeper->lastConfirmed()) < 1000; }, milliseconds(4000)));
    EXPECT_TRUE(keeper->alive());
}

// ---------------------------------------------------------------------------
// Hostile input

TEST(EtcdHostile, BinaryKeyAndLargeValues) {
    auto c = client();
    const auto p = prefix();
    std::string key = p;
    for (int b = 0; b < 256; ++b) key += static_cast<char>(b);
    std::string big(1 << 20, '\0');
    std::mt19937 rng(11);
    for (auto& ch : big) ch = static_cast<char>(rng());
    Recorder rec;
    WatchOptions wo;
    wo.prefix = true;
    auto w = c.watch(p, wo, rec.onEvents());
    ASSERT_TRUE(w.ok());
    auto r = c.put(key, big);
    ASSERT_TRUE(r.ok()) << r.error().text();
    auto g = c.get(key);
    ASSERT_TRUE(g.ok());
    ASSERT_EQ(g->kvs.size(), 1u);
    EXPECT_EQ(g->kvs[0].key, key);
    EXPECT_TRUE(g->kvs[0].value == big);
    ASSERT_TRUE(rec.waitEvents(1, milliseconds(5000)));
    {
        std::lock_guard lock(rec.mu);
        EXPECT_EQ(rec.events[0].kv.key, key);
        EXPECT_TRUE(rec.events[0].kv.value == big);
    }
    // A prefix that ends in 0xff bytes.
    const std::string ff = p + "\xff\xff";
    ASSERT_TRUE(c.put(ff + "x", "y").ok());
    GetOptions pre;
    pre.prefix = true;
    g = c.get(ff, pre);
    ASSERT_TRUE(g.ok());
    ASSERT_EQ(g->kvs.size(), 1u);
    EXPECT_EQ(g->kvs[0].key, ff + "x");
    // More than etcd takes (its gateway stops at 2 MiB, the server at
    // 1.5 MiB by default): etcd's error, named.
    for (const size_t size : {size_t{2} << 20, size_t{1700} << 10}) {
        auto too = c.put(p + "huge", std::string(size, 'x'));
        ASSERT_FALSE(too.ok());
        const auto& t = too.error().text();
        EXPECT_NE(t.find("etcd put `" + p + "huge` at " + endpoints()), std::string::npos) << t;
        EXPECT_TRUE(t.find("larger than max") != std::string::npos ||
                    t.find("request is too large") != std::string::npos)
            << t;
    }
    // A key with a newline and a backtick shows escaped in messages.
    PutOptions po;
    po.lease = 0x7fff0002;
    auto e = c.put(p + "a\nb`", "v", po);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error().text().find("a\\x0ab`"), std::string::npos) << e.error().text();
}

namespace {

// A loopback server that answers every request with what its mode says.
class FakeServer {
  public:
    enum class Mode {
        NotHttp,      // a line of junk
        Binary,       // random bytes
        NotJson,      // HTTP 200, body `hello`
        WrongShape,   // HTTP 200, JSON whose fields have the wrong types
        BadBase64,    // HTTP 200, a key that is not base64
        HugeNumber,   // HTTP 200, a revision beyond what etcd sends (INT64_MAX, 2^64-1)
        HugeHeader,   // a 100 KB header line
        EndlessBody,  // a body that never ends
        Silent,       // reads the request, never answers
        Close,        // reads the request, closes
        ErrorJson,    // HTTP 500 with etcd's error JSON
        WatchJunk,    // HTTP 200 chunked, then junk lines
    };

    explicit FakeServer(Mode m) : mode_(m) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(fd_, 16);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        url_ = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
        thread_ = std::thread([this] { loop(); });
    }
    ~FakeServer() {
        stop_ = true;
        thread_.join();
        for (int fd : held_) ::close(fd);
        ::close(fd_);
    }
    const std::string& url() const { return url_; }
    int served() const { return served_.load(); }

  private:
    void loop() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) != 1) continue;
            const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            ++served_;
            readRequest(c);
            answer(c);
        }
    }
    bool readRequest(int c) {
        std::string got;
        char buf[4096];
        while (got.find("\r\n\r\n") == std::string::npos) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 2000) != 1) return false;
            const ssize_t n = ::read(c, buf, sizeof buf);
            if (n <= 0) return false;
            got.append(buf, static_cast<size_t>(n));
        }
        return true;  // the small body came with the header, or is left unread
    }
    void send(int c, const std::string& s) { (void)::send(c, s.data(), s.size(), MSG_NOSIGNAL); }
    void answer(int c) {
        auto reply = [&](const std::string& status, const std::string& body) {
            send(c, "HTTP/1.1 " + status +
                        "\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body);
        };
        switch (mode_) {
            case Mode::NotHttp:
                send(c, "HELLO THIS IS NOT HTTP\r\n\r\n");
                break;
            case Mode::Binary: {
                std::string junk(4096, '\0');
                std::mt19937 rng(3);
                for (auto& ch : junk) ch = static_cast<char>(rng());
                send(c, junk);
                break;
            }
            case Mode::NotJson:
                reply("200 OK", "hello");
                break;
            case Mode::WrongShape:
                reply("200 OK", R"({"header":{"revision":"x1"},"kvs":"many","count":[]})");
                break;
            case Mode::HugeNumber:
                reply("200 OK", R"({"header":{"revision":18446744073709551615},)"
                                R"("kvs":[{"key":"YQ==","mod_revision":"9223372036854775807"}]})");
                break;
            case Mode::BadBase64:
                reply("200 OK", R"({"header":{"revision":"3"},"kvs":[{"key":"!!!!"}]})");
                break;
            case Mode::HugeHeader:
                send(c, "HTTP/1.1 200 OK\r\nX-Junk: " + std::string(100000, 'j') + "\r\n\r\n");
                break;
            case Mode::EndlessBody: {
                send(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n");
                const std::string chunk(65536, '{');
                for (int i = 0; i < 1000 && !stop_; ++i) {
                    if (::send(c, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) break;
                }
                break;
            }
            case Mode::Silent:
                held_.push_back(c);
                return;
            case Mode::Close:
                break;
            case Mode::ErrorJson:
                reply("500 Internal Server Error",
                      R"({"error":"boom","message":"etcdserver: boom","code":2})");
                break;
            case Mode::WatchJunk:
                send(c,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "10\r\n{\"result\": nope\n\r\n");
                held_.push_back(c);
                return;
        }
        ::close(c);
    }

    Mode mode_;
    int fd_ = -1;
    std::string url_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> served_{0};
    std::vector<int> held_;
};

}  // namespace

TEST(EtcdHostile, ServersThatAnswerJunkGiveClearErrors) {
    using M = FakeServer::Mode;
    struct Case {
        M mode;
        const char* get_says;  // in the error of a get
        int err;
    };
    const std::vector<Case> cases = {
        {M::NotHttp, "the answer is not HTTP", EPROTO},
        {M::Binary, "the answer is not HTTP", EPROTO},
        {M::NotJson, "the answer is not etcd's JSON: HTTP 200 `hello`", EPROTO},
        {M::WrongShape, "the answer is not etcd's: field `kvs` is not an array", EPROTO},
        {M::BadBase64, "the answer is not etcd's: field `key` is not base64", EPROTO},
        {M::HugeNumber, "is not an integer etcd would send", EPROTO},
        {M::HugeHeader, "the answer is not HTTP: header limit exceeded", EPROTO},
        {M::EndlessBody, "the answer is larger than 1048576 bytes", EPROTO},
        {M::Silent, "timed out", ETIMEDOUT},
        {M::Close, "connection closed without an answer", ECONNRESET},
        {M::ErrorJson, "etcdserver: boom", 0},
    };
    ClientOptions o;
    o.timeout = milliseconds(1000);
    o.max_response_bytes = 1 << 20;
    for (const auto& k : cases) {
        FakeServer fake(k.mode);
        auto c = Client::create(fake.url(), o);
        ASSERT_TRUE(c.ok());
        SCOPED_TRACE(k.get_says);
        const auto t0 = Clock::now();
        auto g = c->get("some/key");
        EXPECT_LE(msSince(t0), 1500);
        ASSERT_FALSE(g.ok());
        const auto& t = g.error().text();
        EXPECT_NE(t.find("etcd get `some/key`"), std::string::npos) << t;
        EXPECT_NE(t.find(fake.url()), std::string::npos) << t;
        EXPECT_NE(t.find(k.get_says), std::string::npos) << t;
        if (k.mode != M::Close) {
            EXPECT_EQ(g.error().errnum(), k.err) << t;
        }
        // Writes: the same, or an unknown outcome once the request was sent.
        // (A key that is not base64 is only in a get's answer.)
        auto p = c->put("some/key", "v");
        if (k.mode == M::BadBase64 || k.mode == M::HugeNumber) continue;
        ASSERT_FALSE(p.ok());
        EXPECT_NE(p.error().text().find("etcd put `some/key`"), std::string::npos)
            << p.error().text();
        if (k.mode == M::Close) {
            EXPECT_EQ(p.error().errnum(), EIO) << p.error().text();
            EXPECT_NE(p.error().text().find("outcome is unknown"), std::string::npos);
        }
        auto n = c->counterAdd("some/counter", 1, milliseconds(800));
        EXPECT_FALSE(n.ok());
        auto l = c->grantLease(5);
        EXPECT_FALSE(l.ok());
        auto w =
            c->watch("some/", WatchOptions{true, 0, false, milliseconds(800)}, [](const auto&) {});
        EXPECT_FALSE(w.ok());
        EXPECT_LE(msSince(t0), 6000);
    }
    // A watch stream that turns to junk after its header.
    {
        FakeServer fake(M::WatchJunk);
        auto c = Client::create(fake.url(), o);
        auto w =
            c->watch("k", WatchOptions{false, 0, false, milliseconds(800)}, [](const auto&) {});
        ASSERT_FALSE(w.ok());
        EXPECT_NE(w.error().text().find("a watch answer is not JSON"), std::string::npos)
            << w.error().text();
    }
    // Junk from the first endpoint: reads go on to the real etcd.
    {
        FakeServer fake(M::NotHttp);
        auto c = Client::create(fake.url() + "," + endpoints(), o);
        auto g = c->get("some/key");
        EXPECT_TRUE(g.ok()) << g.error().text();
        EXPECT_EQ(fake.served(), 1);
    }
}

// ---------------------------------------------------------------------------
// Figures

TEST(EtcdBench, RoundTripLatency) {
    auto c = client();
    const auto p = prefix();
    constexpr int kN = 300;
    auto measure = [&](const char* what, auto&& one) {
        std::vector<double> us;
        for (int i = 0; i < kN; ++i) {
            const auto t0 = Clock::now();
            one(i);
            us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        }
        std::sort(us.begin(), us.end());
        double sum = 0;
        for (double u : us) sum += u;
        std::printf("[ figures  ] %-28s n=%d mean %6.0f us  p50 %6.0f  p90 %6.0f  p99 %6.0f\n",
                    what, kN, sum / kN, us[kN / 2], us[kN * 9 / 10], us[kN * 99 / 100]);
    };
    ASSERT_TRUE(c.put(p + "g", "value").ok());
    measure("get (1 key)", [&](int) { ASSERT_TRUE(c.get(p + "g").ok()); });
    measure("put", [&](int i) { ASSERT_TRUE(c.put(p + "p", std::to_string(i)).ok()); });
    measure("txn (create if absent)", [&](int i) {
        auto r = c.create(p + "t/" + std::to_string(i), "x");
        ASSERT_TRUE(r.ok() && r->created);
    });
    measure("counterAdd (1 thread)", [&](int) { ASSERT_TRUE(c.counterAdd(p + "n").ok()); });
}

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "--lease-holder") {
        auto c = Client::create(argv[2]);
        if (!c) return 2;
        auto lease = c->grantLease(2);
        if (!lease) return 3;
        PutOptions po;
        po.lease = lease->id;
        if (!c->put(argv[3], "alive", po)) return 4;
        auto keeper = c->keepAlive(*lease);
        std::printf("ready\n");
        std::fflush(stdout);
        for (;;) ::pause();
    }
    ::testing::InitGoogleTest(&argc, argv);
    if (endpoints().empty()) {
        std::fprintf(stderr,
                     "HERD_ETCD_ENDPOINTS is not set: run tests/cluster/test_etcd_client.py\n");
        return 2;
    }
    return RUN_ALL_TESTS();
}
