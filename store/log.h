// The local log: Outpost's "native log". Every event lands here first.
//
// A Log is a directory holding, per stream, segment files of zstd-compressed checksummed
// blocks of records (store/FORMAT.md has the bytes), plus a SQLite catalog (WAL mode) of
// streams, segments, cursors, query checkpoints and dropped ranges.
//
// Sequence numbers are dense per stream, start at 1, and are never reused, also across
// restarts and retention. Times are milliseconds since the Unix epoch (int64).
//
// Threads: a Log is safe to use from several threads. Appends to one stream are serialised
// by the Log; the usual owner is the agent's loop thread. A background flusher thread owned
// by the Log compresses, writes and fdatasyncs pending blocks every flush_interval_ms (or
// when flush_bytes are pending) and then calls the durable listener. Readers may live on any
// thread; each Reader is used by one thread at a time.
//
// Visibility: a Reader sees a record only once it is durable (written and, with
// FsyncMode::kAlways, fdatasync'd). So nothing a query or sync consumed can vanish in a crash,
// and a sequence number handed downstream is never reassigned to other data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace outpost::store {

inline constexpr std::uint64_t kNoSeq = 0;  // sequences start at 1
inline constexpr std::int64_t kMinTime = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t kMaxTime = std::numeric_limits<std::int64_t>::max();

enum class FsyncMode : std::uint8_t {
  kAlways,  // fdatasync after every group commit: a power cut loses at most flush_interval_ms
  kNever,   // write() only: survives a process crash, a power cut may lose what the OS held
};

enum class FullPolicy : std::uint8_t {
  kDropOldest,  // delete the oldest segments (even if a cursor still needs them) and record
                // the dropped ranges in the catalog
  kRejectNew,   // refuse appends with Status::full until space is freed
};

// Lets tests swap the file system (drop unsynced data, fail the k-th write, fill up).
class Env;
// Lets tests control wall and monotonic time.
class Clock;

struct Options {
  std::filesystem::path data_dir;
  std::uint64_t segment_bytes = 64ull << 20;   // roll a segment once it reaches this size
  std::uint32_t block_bytes = 1u << 20;        // raw bytes per block before it is sealed
  std::int64_t flush_interval_ms = 200;        // group commit period
  std::uint64_t flush_bytes = 4ull << 20;      // or commit earlier once this much is pending
  FsyncMode fsync = FsyncMode::kAlways;
  int zstd_level = 3;
  std::uint64_t quota_bytes = 0;               // all streams together; 0 = no quota
  FullPolicy on_full = FullPolicy::kDropOldest;
  bool read_only = false;  // no lock, no repair, no flusher: for `outpost log cat/stat/verify`
                           // beside a running daemon
  Env* env = nullptr;      // nullptr = the real file system
  Clock* clock = nullptr;  // nullptr = the system clocks
};

struct StreamOptions {
  // Retention by age is measured on the log's own monotonic clock (agent running time,
  // persisted across restarts), never on wall-clock time: a board without an RTC boots in
  // 1970 and later jumps forward (docs/SEMANTICS.md 0b). 0 = keep forever.
  std::int64_t retention_ms = 0;
  std::uint64_t retention_bytes = 0;  // 0 = no size limit for this stream
};

// How far an append has got when append() returns.
enum class AppendDurability : std::uint8_t {
  kBuffered,  // in memory; durable at the next group commit (lost if the process dies first)
  kWritten,   // also written to the operating system (the stream's intake journal, one write()
              // per record) before append() returns, so a process crash (kill -9, OOM) cannot
              // lose it. Used before acknowledging an MQTT QoS 1/2 message (docs/SEMANTICS.md 0).
              // Recovery replays journal records that had not reached a segment yet.
};

struct AppendRecord {
  std::optional<std::int64_t> event_time_ms;  // absent: the record's ingest time
  std::optional<std::string_view> key;
  std::string_view payload;
};

// A record as read back. The views stay valid until the next call on the Reader.
struct RecordView {
  std::uint64_t seq = kNoSeq;
  std::int64_t ingest_time_ms = 0;
  std::int64_t event_time_ms = 0;
  bool has_key = false;
  std::string_view key;
  std::string_view payload;
};

struct ReadOptions {
  std::uint64_t from_seq = 1;  // first sequence wanted; below the oldest kept starts there
  std::uint64_t to_seq = std::numeric_limits<std::uint64_t>::max();  // inclusive
  std::int64_t since_ms = kMinTime;  // event time, inclusive
  std::int64_t until_ms = kMaxTime;  // event time, exclusive
  bool follow = false;  // at the durable end, wait() for more instead of ending
};

// Where damage was found: which file, which bytes, which sequences were lost to it.
struct Damage {
  std::string stream;
  std::filesystem::path segment;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t first_seq = kNoSeq;  // kNoSeq when the range could not be determined
  std::uint64_t last_seq = kNoSeq;
  std::string message;
};

class Reader {
 public:
  enum class Next : std::uint8_t {
    kRecord,      // *out holds the next record
    kEnd,         // nothing more now (with follow: call wait() and try again)
    kCorruption,  // damage() describes a bad block; the reader has skipped past it
  };
  virtual ~Reader() = default;
  virtual Next next(RecordView* out) = 0;
  virtual const Damage& damage() const = 0;
  // Blocks until more durable records may be available, timeout_ms passed, or the Log is
  // closing. Returns true if next() is worth calling again.
  virtual bool wait(std::int64_t timeout_ms) = 0;
  // A lower bound on the event time of every record next() may still return, from the block
  // index: the oldest event time of the current block while it has records left, and of every
  // later block through to_seq (kMaxTime when nothing is left). Valid only for a reader whose
  // to_seq was durable when it was made (no block below it can still appear) and that does not
  // follow; kMinTime otherwise, and before the first record. A bounded (history) query closes
  // its windows by it: a window ending at or before the bound can gain no more records.
  virtual std::int64_t pending_min_event_ms() { return kMinTime; }
};

struct DroppedRange {
  std::int64_t id = 0;  // increases; lets a consumer remember what it already reported
  std::string stream;
  std::uint64_t first_seq = kNoSeq;
  std::uint64_t last_seq = kNoSeq;
  std::string reason;  // "quota", "retention", "corruption", "missing segment file"
  std::int64_t wall_time_ms = 0;
};

struct StreamStats {
  std::string name;
  std::uint64_t records = 0;  // records currently kept
  std::uint64_t segments = 0;
  std::uint64_t first_seq = kNoSeq;  // oldest kept
  std::uint64_t last_seq = kNoSeq;   // newest appended (may not be durable yet)
  std::uint64_t durable_seq = kNoSeq;
  std::uint64_t raw_bytes = 0;     // uncompressed record bytes kept
  std::uint64_t stored_bytes = 0;  // bytes on disk
  // Block index entries held in memory (~88 bytes each): the active segment's, and a sealed
  // segment's while a reader has used it in the last 30 s.
  std::uint64_t index_entries = 0;
  std::vector<DroppedRange> dropped;
};

// What open() found and repaired.
struct RecoveryReport {
  std::vector<Damage> truncated_tails;   // torn tails cut off an active segment
  std::vector<Damage> corrupt_blocks;    // damage found in the middle (left for readers to skip)
  std::vector<std::string> catalog_repairs;  // human-readable: where catalog and files disagreed
  std::uint64_t journal_records_replayed = 0;  // kWritten records recovered from intake journals
};

struct Checkpoint {
  std::string query;
  std::string input_stream;
  std::uint64_t input_seq = kNoSeq;   // last input sequence consumed
  std::string output_stream;
  std::uint64_t output_seq = kNoSeq;  // last output sequence written
  std::int64_t watermark_ms = kMinTime;
  std::string state;  // operator state, opaque to the store
};

using StreamId = std::uint32_t;

class Log {
 public:
  // Opens (creating if needed) the log in options.data_dir. In read-write mode takes an
  // exclusive lock on the directory (Status::busy if another process holds it), cuts torn
  // tails, reconciles the catalog with the segment files (the files win) and starts the
  // flusher. Never fails because of one damaged segment: damage goes into *report.
  static Result<std::unique_ptr<Log>> open(const Options& options, RecoveryReport* report = nullptr);

  virtual ~Log() = default;  // flushes (with fsync) and stops the flusher

  // Creates the stream if it does not exist; updates its options if it does.
  virtual Result<StreamId> open_stream(std::string_view name, const StreamOptions& options = {}) = 0;
  virtual Result<StreamId> find_stream(std::string_view name) const = 0;
  virtual std::vector<std::string> stream_names() const = 0;

  // Assigns the next sequence and buffers the record. Durable at the next group commit.
  // Status::full when the quota is reached and the policy is kRejectNew;
  // Status::invalid_argument when one record is larger than the format allows.
  virtual Result<std::uint64_t> append(StreamId stream, const AppendRecord& record,
                                       AppendDurability durability = AppendDurability::kBuffered) = 0;

  // Returns once everything appended before the call is durable.
  virtual Status flush() = 0;
  // The outcome of the latest group commit: not ok while the flusher cannot write (disk full,
  // I/O error). Appended records then wait in memory (kWritten ones also in the intake
  // journal) and every round retries them. Lets health see a failing disk before appends are
  // refused. (Default for test doubles: ok.)
  virtual Status last_commit_status() const { return Status::ok(); }
  virtual std::uint64_t durable_seq(StreamId stream) const = 0;
  virtual std::uint64_t last_seq(StreamId stream) const = 0;

  // Called on the flusher thread after each group commit, once per stream that advanced,
  // before a flush() waiting for that commit returns. Must not call flush().
  // Keep it short (e.g. hand the sequence to the loop with uv_async_send).
  using DurableListener = std::function<void(StreamId stream, std::uint64_t durable_seq)>;
  virtual void set_durable_listener(DurableListener listener) = 0;

  virtual Result<std::unique_ptr<Reader>> read(StreamId stream, const ReadOptions& options) = 0;

  // Cursors: a registered cursor holds back retention until it has passed a record (unless
  // the quota forces it). Names are free-form, e.g. "sync:central-raw" or "query:per_minute".
  virtual Status register_cursor(StreamId stream, std::string_view name) = 0;
  virtual Status unregister_cursor(StreamId stream, std::string_view name) = 0;
  virtual Status commit_cursor(StreamId stream, std::string_view name, std::uint64_t seq) = 0;
  virtual Result<std::optional<std::uint64_t>> cursor(StreamId stream, std::string_view name) const = 0;

  // Query checkpoints, saved atomically in the catalog.
  virtual Status save_checkpoint(const Checkpoint& checkpoint) = 0;
  virtual Result<std::optional<Checkpoint>> load_checkpoint(std::string_view query) const = 0;

  // Small durable key/value settings for other modules (e.g. "sync:gaps_reported:mirror").
  virtual Status set_meta(std::string_view key, std::string_view value) = 0;
  virtual Result<std::optional<std::string>> meta(std::string_view key) const = 0;

  // Ranges lost to quota, retention past a cursor, corruption or missing files; id > after_id.
  virtual std::vector<DroppedRange> dropped_ranges(std::int64_t after_id = 0) const = 0;

  // Applies age and size retention per stream and the global quota. Also run by the flusher
  // about once a second; exposed for tests and the CLI.
  virtual Status enforce_retention() = 0;

  virtual Result<StreamStats> stats(StreamId stream) const = 0;
  virtual std::uint64_t total_stored_bytes() const = 0;

  // Reads every block of every segment and checks every checksum. Returns what is damaged
  // (empty = clean). Works in read-only mode beside a running writer.
  virtual Result<std::vector<Damage>> verify() = 0;

  // The log's persisted monotonic clock (ms of agent running time), used by retention.
  virtual std::int64_t log_clock_ms() const = 0;
};

}  // namespace outpost::store
