// Runs SQL queries (agent/query) against the local log:
//  - QueryHost: one configured continuous query inside the daemon, on its own thread: reads
//    its input stream from a checkpointed position (backfilling history first when asked),
//    feeds the executor, appends result rows to the result stream and late events to the late
//    stream, and checkpoints (docs/SEMANTICS.md 15-17).
//  - run_query(): one query over what is stored, optionally continuing live (`outpost query`,
//    /v1/query).
//
// Exactness after a crash: a checkpoint holds the input sequence consumed, the executor's
// state and the last result/late sequences written, and is saved only after a log flush, so
// every row it counts is durable. Rows written after the last checkpoint are not lost or
// doubled on restart: the executor is deterministic, so replaying the input from the
// checkpoint regenerates exactly those rows, and the host skips as many as the result stream
// already holds past the checkpoint.
//
// Threads: QueryHost owns one thread; metrics() may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/query/query.h"
#include "agent/runtime/plan.h"
#include "store/log.h"
#include "base/status.h"

namespace outpost::runtime {

struct QueryMetrics {
  std::string name;
  std::string input_stream;
  std::string result_stream;
  std::string state;  // "starting", "backfilling", "running", "failed", "stopped"
  std::uint64_t input_seq = 0;       // last input sequence consumed
  std::uint64_t input_durable_seq = 0;
  std::uint64_t lag_records = 0;     // input_durable_seq - input_seq
  std::uint64_t output_seq = 0;      // last result sequence written
  std::uint64_t rows_emitted = 0;    // since start
  std::uint64_t late_events = 0;
  std::uint64_t late_dropped = 0;
  std::uint64_t errors = 0;          // input records the query could not evaluate
  // Checkpoints whose saved window state could not be read (damaged on disk): the query went on
  // from the checkpoint's input position with empty windows, so those windows' rows are partial.
  std::uint64_t checkpoint_state_discarded = 0;
  std::int64_t watermark_ms = 0;
  std::int64_t last_checkpoint_ms = 0;  // wall clock
  std::string last_error;
};

// A stream's schema kept in the log's catalog (meta key "stream_schema:<name>"), so a query over
// a data dir without its config still knows the stream's time field, key field and declared
// fields: `outpost log append --time-field/--key-field` and the daemon (for its declared
// streams) save it. Saving the same schema again writes nothing.
Status save_stream_schema(store::Log* log, const query::StreamSchema& schema);
// nullopt when none was saved or what is saved cannot be read (then members are typed by value).
std::optional<query::StreamSchema> load_stream_schema(const store::Log& log, std::string_view stream);

// FROM resolution for queries: the declared streams with their fields, and any other stream the
// log holds: with the schema saved in the catalog (load_stream_schema) if there is one, else
// with no declared fields (members typed by value; query results, dead letters).
// Thread-safe: the query threads and the HTTP thread compile against one catalog.
class StreamCatalog {
 public:
  StreamCatalog(store::Log* log, std::vector<query::StreamSchema> declared);
  query::Catalog catalog() const;  // valid while this object lives

 private:
  store::Log* log_;
  std::vector<query::StreamSchema> declared_;
  mutable std::mutex mu_;
  // Schemas handed out for undeclared streams; kept (and never moved) so pointers stay valid.
  mutable std::vector<std::unique_ptr<query::StreamSchema>> undeclared_;  // GUARDED_BY(mu_)
};

class QueryHost {
 public:
  static Result<std::unique_ptr<QueryHost>> create(store::Log* log, const QueryPlan& plan,
                                                   const query::Catalog& catalog);
  virtual ~QueryHost() = default;
  virtual Status start() = 0;
  virtual void stop() = 0;  // checkpoints, then joins the thread
  virtual QueryMetrics metrics() const = 0;
};

struct QueryRunOptions {
  bool follow = false;      // stream form only: after what is stored, go on with records as they become durable
  std::uint64_t max_rows = 0;  // stop after this many rows (0 = no limit)
  std::function<bool()> cancelled;  // polled between records; may be empty
  // An order-sensitive query over table(s) (sessions with max_length or start/end conditions)
  // holds the records the stored disorder spans, to take them in event-time order; past this
  // much it fails with a message rather than grow without bound.
  std::uint64_t order_memory_bytes = 64ull << 20;
};

struct QueryRunStats {
  std::uint64_t records_read = 0;
  std::uint64_t rows = 0;
  std::uint64_t late_events = 0;
  std::uint64_t eval_errors = 0;
  std::uint64_t damaged_blocks = 0;  // skipped while reading (corruption)
  bool truncated = false;            // max_rows reached
};

// Compiles `sql` and runs it over the stored input (all of it: from the oldest kept record).
//  - Over table(s) it is a batch query over what was durable when it started: every record
//    counts in every window it belongs to, whatever order it arrived in (the executor's batch
//    mode; windows close by the reader's pending_min_event_ms(), so memory follows the stored
//    disorder, not the history's length). Order-sensitive sessions see event-time order.
//  - The stream form replays the live rules (watermark, delay, late records dropped and counted
//    in stats->late_events), then closes every open window unless following.
// Errors: an SQL error (message with line and column) as invalid_argument; a missing stream as
// not_found.
Status run_query(store::Log* log, const std::string& sql, const query::Catalog& catalog,
                 const QueryRunOptions& options, std::vector<std::string>* columns,
                 const std::function<void(const query::OutputRow&)>& on_row,
                 QueryRunStats* stats = nullptr);

// For /v1/query: {"columns":[...],"rows":[{...},...],"truncated":false,"records_read":N}.
Result<std::string> run_historical_query(store::Log* log, const std::string& sql,
                                         const query::Catalog& catalog,
                                         std::uint64_t max_rows = 10000);

}  // namespace outpost::runtime
