// Store and forward: mirrors local log streams to topics of a central Kafka cluster.
//
// A mirror copies one stream to one topic, resuming exactly where it stopped whenever the link
// or the process comes back. Nothing the local log still holds is ever lost on the way; what
// the log itself lost (quota, corruption) is reported to a gap topic, once. sync/README.md has
// the design: cursors, delivery modes, the exactly-once protocol, link states, re-drive.
//
// Usage (the daemon):
//   SyncSettings s{.agent = "pump-7", .central = {...}, .mirrors = {...}};
//   auto sync = Sync::create(log, std::move(s));   // validates, builds no connection yet
//   if (!sync) ... sync.status().message() names the mirror and the setting
//   (*sync)->start();                               // one thread per mirror from here on
//   ... (*sync)->metrics() from any thread ...
//   (*sync)->stop(5000);                            // before the Log is closed
//
// Threads: each mirror runs on its own thread, which owns its reader, its librdkafka
// producer(s) and its cursor; delivery reports and librdkafka callbacks are served on that
// thread. Sync never blocks appends: it only reads the log. create/start/stop are called by
// one owner thread; metrics() is safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/log.h"
#include "base/status.h"

namespace outpost::sync {

// The central cluster. Secrets arrive resolved (the config layer reads files/env).
struct CentralSettings {
  std::string brokers;                         // bootstrap.servers, "host:port,host:port"
  std::string security_protocol = "plaintext";  // plaintext | ssl | sasl_plaintext | sasl_ssl
  std::string sasl_mechanism;                  // PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
  std::string sasl_username;
  std::string sasl_password;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string compression = "zstd";            // none | gzip | snappy | lz4 | zstd
  std::string gap_topic = "outpost.gaps";      // where loss reports go
  std::string cursor_topic = "outpost.cursors";  // exactly-once cursors (should be compacted)
  // Extra librdkafka properties, applied last (they override ours), e.g.
  // {"message.timeout.ms", "60000"}. Invalid names fail Sync::create with the name.
  std::map<std::string, std::string> properties;

  std::int64_t backoff_initial_ms = 1000;  // first wait after a failure; doubles, +-20% jitter
  std::int64_t backoff_max_ms = 60000;
  std::int64_t probe_timeout_ms = 5000;    // metadata request used as a link probe
  std::int64_t txn_timeout_ms = 30000;     // commit/abort/init_transactions call timeout
};

enum class Delivery : std::uint8_t {
  kAtLeastOnce,  // idempotent producer; duplicates only after a crash (<= max_in_flight), same outpost-seq
  kExactlyOnce,  // transactions carrying records a..b and the cursor {last_seq: b}
};

enum class KeyMode : std::uint8_t {
  kRecordKey,  // the record's key (if it has one) is the Kafka key: order per key is kept
  kNone,       // no Kafka key
};

struct MirrorSettings {
  std::string name;    // unique per agent; part of cursor names and the transactional.id
  std::string stream;  // local stream to mirror
  std::string topic;   // central topic
  KeyMode key = KeyMode::kRecordKey;
  int priority = 0;    // higher drains first while several mirrors have a backlog
  double max_records_per_s = 0;  // token bucket, 0 = unlimited
  double max_bytes_per_s = 0;    // payload+key bytes, 0 = unlimited
  Delivery delivery = Delivery::kAtLeastOnce;
  std::uint64_t start_seq = 1;   // where a mirror without any cursor starts
  // at_least_once: records produced that the cursor saved in the catalog does not cover yet,
  // at most (unconfirmed ones plus those confirmed since the last cursor write). A crash
  // re-sends at most this many; it also bounds the window's memory. See sync/README.md.
  std::size_t max_in_flight = 20000;
  std::size_t txn_max_records = 10000; // exactly-once: records per transaction at most
  std::int64_t txn_max_ms = 500;       // exactly-once: a transaction stays open this long at most
};

struct SyncSettings {
  std::string agent;  // this agent's name: headers, gap records, cursor keys, transactional.id
  CentralSettings central;
  std::vector<MirrorSettings> mirrors;
};

enum class MirrorState : std::uint8_t {
  kStarting,     // waiting for the stream to exist / first contact
  kOnline,       // the last contact with the cluster worked; records flow
  kOffline,      // no broker reachable; nothing new is sent, probing with backoff
  kBackingOff,   // reachable but delivery failed; waiting before re-sending from the log
  kFenced,       // exactly-once: another instance took our transactional.id; stopped
  kFailed,       // unrecoverable configuration error (e.g. authentication); stopped
  kStopped,
};
const char* mirror_state_name(MirrorState state);

// A consistent snapshot of one mirror.
struct MirrorMetrics {
  std::string name;
  std::string stream;
  std::string topic;
  Delivery delivery = Delivery::kAtLeastOnce;
  int priority = 0;
  MirrorState state = MirrorState::kStarting;
  std::uint64_t cursor = store::kNoSeq;       // last sequence Kafka confirmed (contiguous)
  std::uint64_t durable_seq = store::kNoSeq;  // newest durable record of the stream
  std::uint64_t backlog_records = 0;          // durable_seq - cursor
  std::uint64_t backlog_bytes = 0;            // estimate from the stream's average record size
  std::uint64_t in_flight = 0;
  std::uint64_t records_sent = 0;             // confirmed by Kafka, since start
  std::uint64_t bytes_sent = 0;
  double records_per_s = 0;                   // confirmed, smoothed over ~5 s
  std::uint64_t errors = 0;                   // delivery/transaction/link errors seen
  std::uint64_t redrives = 0;                 // times unconfirmed records were re-sent from the log
  std::uint64_t txn_commits = 0;
  std::uint64_t txn_aborts = 0;
  std::uint64_t gaps_reported = 0;            // gap records confirmed
  std::uint64_t gap_records_lost = 0;         // sequences covered by those gap records
  std::int64_t last_success_ms = 0;           // wall clock of the last confirmation, 0 = never
  std::int64_t last_success_steady_ms = 0;    // the same on the monotonic clock (mono_ms), for ages
  std::string last_error;
};

class Sync {
 public:
  // Validates the settings (names, topics, librdkafka properties) without connecting.
  // `log` must outlive the Sync.
  static Result<std::unique_ptr<Sync>> create(store::Log* log, SyncSettings settings);
  virtual ~Sync() = default;  // stops with a short timeout if still running

  // Starts one thread per mirror. Streams that do not exist yet are waited for.
  virtual Status start() = 0;
  // Asks every mirror to stop, waits up to timeout_ms for in-flight records to be confirmed
  // (cursors are committed for what was), then destroys the producers. Idempotent.
  virtual void stop(std::int64_t timeout_ms = 5000) = 0;
  virtual std::vector<MirrorMetrics> metrics() const = 0;
};

// The transactional.id of an exactly-once mirror: "outpost-<agent>-<mirror>".
std::string transactional_id(const std::string& agent, const std::string& mirror);
// The key of a mirror's record in the cursor topic: "<agent>/<stream>/<mirror>".
std::string cursor_key(const std::string& agent, const std::string& stream,
                       const std::string& mirror);

}  // namespace outpost::sync
