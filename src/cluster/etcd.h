// A small etcd v3 client: the store that herd's hosts share in a cluster.
//
// It speaks etcd's JSON gateway (the gRPC API mapped onto HTTP/1.1 POSTs under
// /v3/, served by etcd 3.4 and later on its client URLs): keys and values are
// arbitrary bytes (sent base64-encoded), 64-bit numbers are sent as decimal
// strings. HTTP is Boost.Beast's, JSON is nlohmann-json's.
//
// Calls are synchronous and every one has a deadline (ClientOptions::timeout
// unless the call's options give another): a call returns by then, with an
// answer or an Error, whatever the network or the server do. Calls may be made
// from any number of threads at once, including from the callbacks of a Watch
// or a LeaseKeeper; each runs its network steps on a private io_context on the
// calling thread, reusing idle connections kept by the Client.
//
// Several endpoints: a call goes first to the endpoint that answered last, and
// moves on to the next one when an endpoint cannot be reached (connection
// refused, reset, unreachable, connect timeout) or answered something that is
// not etcd. A request that may already have been applied is never sent twice:
// once a put, delete or txn has been sent, a lost answer is an error saying
// that the outcome is unknown (errno EIO), except for the helpers below that
// are built to stay correct when they retry (counterAdd, create*, claimLowest).
//
// Errors name the operation, the key, the endpoint and what went wrong, with
// etcd's own message when etcd answered, e.g.
//   etcd put `herd/hosts/a` at http://10.0.0.1:2379: etcdserver: requested lease not found
//   etcd get `herd/ns/` (prefix): no endpoint answered: http://10.0.0.1:2379: connect: Connection
//   refused (ECONNREFUSED); http://10.0.0.2:2379: timed out after 1000 ms (ETIMEDOUT)
// Error::errnum() tells the kind: ETIMEDOUT (the deadline passed),
// ECONNREFUSED / EHOSTUNREACH / ECONNRESET (no endpoint reachable), EPROTO (an
// answer that is not etcd's), EIO (sent, answer lost: outcome unknown), ENOENT
// (a lease etcd no longer has), 0 (etcd answered with an error; the text has
// its message).
//
// Only http:// endpoints: etcd with TLS or authentication is not supported.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::cluster {

using Millis = std::chrono::milliseconds;

struct ClientOptions {
    // Deadline of a call that names none: everything (every endpoint tried,
    // every retry of a helper) happens within it.
    Millis timeout{5000};
    // Longest wait for one endpoint's TCP connection, so that a black-holed
    // first endpoint leaves time for the next.
    Millis connect_timeout{1000};
    // An answer larger than this is refused (a range over a huge prefix, or a
    // server that never stops sending). etcd's own requests are at most
    // 1.5 MiB by default; ranges can be larger.
    uint64_t max_response_bytes = uint64_t{64} << 20;
};

// One key as etcd stores it. Revisions are the store's logical clock: every
// change of any key makes a new revision, and a key remembers the revision
// that created it (create_revision) and the last that changed it
// (mod_revision); version counts the changes since its creation.
struct KeyValue {
    std::string key;
    std::string value;
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    int64_t version = 0;
    int64_t lease = 0;  // the lease the key is attached to, 0 for none
};

// What range() answers: the keys in key order, read at `revision`.
struct GetResult {
    std::vector<KeyValue> kvs;
    int64_t revision = 0;  // the store's revision the read saw
    int64_t count = 0;     // keys in the range (more than kvs.size() when limited)
    bool more = false;     // a limit cut the answer short
};

struct GetOptions {
    bool prefix = false;     // every key that starts with `key` ("" = all keys)
    int64_t revision = 0;    // read the store as it was at this revision (0 = now)
    int64_t limit = 0;       // at most this many keys (0 = all)
    bool keys_only = false;  // values left empty
    bool count_only = false;
    Millis timeout{0};  // 0: the client's
};

struct PutOptions {
    int64_t lease = 0;     // attach the key to this lease: it goes when the lease does
    bool prev_kv = false;  // answer the value the key had before
    Millis timeout{0};
};

struct PutResult {
    int64_t revision = 0;  // the revision of this change
    std::optional<KeyValue> prev;
};

struct DeleteOptions {
    bool prefix = false;
    bool prev_kv = false;
    Millis timeout{0};
};

struct DeleteResult {
    int64_t revision = 0;
    int64_t deleted = 0;
    std::vector<KeyValue> prev;
};

// One condition of a transaction, on one key. A key that does not exist has
// create_revision, mod_revision and version 0 and never equals a value.
struct Compare {
    enum class Target { Value, CreateRevision, ModRevision, Version, Lease };
    enum class Op { Equal, NotEqual, Greater, Less };
    std::string key;
    Target target = Target::Value;
    Op op = Op::Equal;
    std::string value;   // Target::Value
    int64_t number = 0;  // the others

    static Compare valueIs(std::string key, Op op, std::string v);
    static Compare createRevisionIs(std::string key, Op op, int64_t n);
    static Compare modRevisionIs(std::string key, Op op, int64_t n);
    static Compare versionIs(std::string key, Op op, int64_t n);
    static Compare leaseIs(std::string key, Op op, int64_t id);
    // The key does not exist (create_revision == 0).
    static Compare absent(std::string key) {
        return createRevisionIs(std::move(key), Op::Equal, 0);
    }
};

// One operation of a transaction's branch.
struct TxnOp {
    enum class Kind { Get, Put, Delete };
    Kind kind = Kind::Get;
    std::string key;
    std::string value;     // Put
    int64_t lease = 0;     // Put
    bool prefix = false;   // Get, Delete
    bool prev_kv = false;  // Put, Delete

    static TxnOp get(std::string key, bool prefix = false);
    static TxnOp put(std::string key, std::string value, int64_t lease = 0);
    static TxnOp del(std::string key, bool prefix = false);
};

// If every compare holds, `success` runs, else `failure`: all at one
// revision, atomically, seen by everyone or no one.
struct Txn {
    std::vector<Compare> compare;
    std::vector<TxnOp> success;
    std::vector<TxnOp> failure;
    Millis timeout{0};
};

// The answer of one TxnOp, in the order of the branch that ran.
struct TxnOpResult {
    TxnOp::Kind kind = TxnOp::Kind::Get;
    GetResult get;               // Get
    int64_t deleted = 0;         // Delete
    std::vector<KeyValue> prev;  // Put / Delete with prev_kv
};

struct TxnResult {
    bool succeeded = false;  // the compares held and `success` ran
    int64_t revision = 0;    // the store's revision after the transaction
    std::vector<TxnOpResult> results;
};

struct Lease {
    int64_t id = 0;
    int64_t ttl = 0;  // seconds granted (etcd may raise a small TTL to its minimum)
};

// Keeps a lease alive from a thread of its own: a keep-alive every third of
// the TTL (at least every 500 ms), retried every 500 ms while etcd cannot be
// reached. Destroying it stops the keep-alives and revokes the lease (keys
// attached to it go at once); release() stops them without revoking (the
// keys go when the TTL runs out), which is what a process that dies does.
class LeaseKeeper {
  public:
    ~LeaseKeeper();
    LeaseKeeper(const LeaseKeeper&) = delete;
    LeaseKeeper& operator=(const LeaseKeeper&) = delete;

    int64_t id() const;
    // Stops the keep-alives, leaving the lease to expire. Idempotent.
    void release();
    // False once etcd said the lease is gone (expired or revoked).
    bool alive() const;
    // When etcd last confirmed the lease (its TTL restarted then). A caller
    // that sees this older than the TTL must assume the lease has expired.
    std::chrono::steady_clock::time_point lastConfirmed() const;

    struct State;

  private:
    friend class Client;
    explicit LeaseKeeper(std::shared_ptr<State> s);
    std::shared_ptr<State> s_;
};

struct WatchEvent {
    enum class Type { Put, Delete };
    Type type = Type::Put;
    // For a delete: the key, and mod_revision = the revision of the delete.
    KeyValue kv;
    std::optional<KeyValue> prev;  // WatchOptions::prev_kv
};

struct WatchOptions {
    bool prefix = false;
    // Deliver every change from this revision on (history included, as long
    // as etcd has not compacted it); 0: the changes after watch() returns.
    int64_t start_revision = 0;
    bool prev_kv = false;
    // watch() waits at most this long for etcd to accept the watch.
    Millis timeout{0};
};

// What happens to the watch's connection, for the log and for consumers that
// must re-read their state (Compacted).
struct WatchStatus {
    enum class Kind {
        Connected,     // etcd accepted the watch (again after a Disconnected)
        Disconnected,  // the stream broke; reconnecting from `revision`
        Compacted,     // the revisions still to deliver were compacted away:
                       // the watch has ended; re-read and watch from `revision`
    };
    Kind kind = Kind::Connected;
    int64_t revision = 0;  // the next revision to deliver / the compact revision
    std::string detail;    // why, for the log
};

using WatchCallback = std::function<void(const std::vector<WatchEvent>&)>;
using WatchStatusCallback = std::function<void(const WatchStatus&)>;

// A running watch: a thread of its own reads etcd's event stream and calls
// back. Guarantees: events arrive in revision order, each revision once (a
// transaction's events together, in one call), none missed: when the stream
// breaks (etcd restarted, a connection reset, an endpoint died; a host that
// vanishes silently is noticed by TCP keep-alive within about 10 s, an etcd
// process that hangs on a live host is not), it
// reconnects — to the next endpoint, after 100 ms growing to 2 s — and
// resumes from the revision after the last one delivered. When etcd has
// compacted that revision away, the watch ends with a Compacted status: the
// consumer re-reads and watches again. The callbacks run on the watch's
// thread, one at a time; they may call the Client, must not throw, and must
// not destroy their own Watch. Destroying the Watch stops it (joining the
// thread; a callback running then finishes first).
class Watch {
  public:
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    // The revision the next event will have at least.
    int64_t nextRevision() const;
    // False once the watch ended on its own (Compacted).
    bool running() const;

    struct State;

  private:
    friend class Client;
    explicit Watch(std::shared_ptr<State> s);
    std::shared_ptr<State> s_;
};

class Client {
  public:
    // `endpoints`: comma-separated http://host:port URLs (port 2379 when
    // left out). Names are resolved here, once. Connects to nothing yet.
    static Result<Client> create(std::string_view endpoints, ClientOptions options = {});

    // The endpoints as given, normalised (for messages and flags).
    std::vector<std::string> endpoints() const;

    // One key, or every key under a prefix. A key that does not exist is
    // not an error: kvs is empty.
    Result<GetResult> get(std::string_view key, const GetOptions& options = {}) const;
    // Sets a key (creating it or making a new version of it).
    Result<PutResult> put(std::string_view key, std::string_view value,
                          const PutOptions& options = {}) const;
    // Deletes a key or every key under a prefix; deleting nothing is fine.
    Result<DeleteResult> del(std::string_view key, const DeleteOptions& options = {}) const;
    Result<TxnResult> txn(const Txn& txn) const;
    // Forgets the history before `revision` (reads and watches of older
    // revisions then fail); answers the store's revision. Keys stay.
    Result<int64_t> compact(int64_t revision, Millis timeout = Millis{0}) const;

    // Leases: a lease is granted for a TTL in seconds and expires unless kept
    // alive; the keys put with it are deleted when it expires or is revoked.
    Result<Lease> grantLease(int64_t ttl_seconds, Millis timeout = Millis{0}) const;
    // One keep-alive: the TTL restarts; answers the TTL, or an error when etcd
    // no longer has the lease.
    Result<int64_t> keepAliveOnce(int64_t lease_id, Millis timeout = Millis{0}) const;
    // Revokes a lease (its keys go now). Revoking a lease etcd no longer has
    // is not an error.
    Result<void> revokeLease(int64_t lease_id, Millis timeout = Millis{0}) const;
    // Starts keeping `lease` alive (see LeaseKeeper). `on_lost` (may be empty)
    // is called once, on the keeper's thread, when etcd says the lease is gone.
    std::unique_ptr<LeaseKeeper> keepAlive(const Lease& lease,
                                           std::function<void(const Error&)> on_lost = {}) const;

    // Watches a key or a prefix. Returns once etcd accepted the watch (within
    // options.timeout), or an error when no endpoint would.
    Result<std::unique_ptr<Watch>> watch(std::string_view key, const WatchOptions& options,
                                         WatchCallback on_events,
                                         WatchStatusCallback on_status = {}) const;

    // ---- Allocation helpers. Each is one or more compare-and-swap
    // transactions, retried on conflict until the deadline; each stays
    // correct when an answer is lost and the transaction is sent again.

    // Adds n (> 0) to the decimal counter at `key` (absent = 0) and answers
    // the value it had: the caller alone owns [value, value + n). Numbers are
    // never handed out twice; a lost answer may leave a gap.
    Result<int64_t> counterAdd(std::string_view key, int64_t n = 1,
                               Millis timeout = Millis{0}) const;

    struct Created {
        bool created = false;            // this call created it
        std::vector<KeyValue> existing;  // else: the keys that were already there
        int64_t revision = 0;
    };
    // Creates the key only if it does not exist (nothing is written if it
    // does: `existing` has it). A lost answer is settled by trying again: a
    // key that then holds exactly `value` and `lease` counts as created by
    // this call (identical content from someone else cannot be told apart).
    Result<Created> create(std::string_view key, std::string_view value, int64_t lease = 0,
                           Millis timeout = Millis{0}) const;
    // The same for several keys at once: all are created, or none when any
    // exists (`existing` lists those).
    Result<Created> createAll(const std::vector<std::pair<std::string, std::string>>& kvs,
                              int64_t lease = 0, Millis timeout = Millis{0}) const;

    struct Claim {
        int64_t number = -1;             // the number claimed; -1 when `with` conflicted
        std::vector<KeyValue> conflict;  // the `with` keys that already existed
    };
    // Claims the lowest n in [lo, hi) whose key `prefix + decimal(n)` does not
    // exist, creating it with `value`; `with(n)`, when given, names more keys
    // to create in the same transaction (all or none; e.g. an alias -> n
    // record). Several hosts claiming at once get distinct numbers. Errors
    // "out of numbers in [lo, hi)" when every one is taken; answers number -1
    // and `conflict` when a `with` key exists already (someone else made it).
    Result<Claim> claimLowest(
        std::string_view prefix, int64_t lo, int64_t hi, std::string_view value,
        const std::function<std::vector<std::pair<std::string, std::string>>(int64_t)>& with = {},
        Millis timeout = Millis{0}) const;

    struct Shared;

  private:
    friend class LeaseKeeper;
    friend struct LeaseKeeper::State;
    friend struct Watch::State;
    explicit Client(std::shared_ptr<Shared> s) : s_(std::move(s)) {}
    std::shared_ptr<Shared> s_;
};

// The end of the range of keys that start with `prefix`, as etcd wants it:
// the prefix with its last byte below 0xff incremented and what follows cut;
// "\0" (every key from `prefix` on) when there is no such byte.
std::string prefixEnd(std::string_view prefix);

// base64 (RFC 4648, padded), as etcd's gateway encodes bytes.
std::string base64Encode(std::string_view bytes);
// Strict: nullopt on any character or padding that is not base64.
std::optional<std::string> base64Decode(std::string_view text);

// A key for messages: printable ASCII kept, anything else as \xNN, cut at
// 200 characters.
std::string printableKey(std::string_view key);

}  // namespace herd::cluster
