// Continuous and historical SQL over the streams of the local log (agent/query).
//
//   auto compiled = query::compile(sql, catalog);     // a Query, or an SqlError with position
//   auto exec = query::Executor::create(query, options);
//   exec->load_state(checkpoint.state);               // after a restart, if there is one
//   for each input record, in sequence order:  exec->on_record(record, sink);
//   when the input has been quiet for options.idle_timeout_ms:  exec->on_idle(sink);
//   every query->emit_period_ms() (EMIT PERIODIC):  exec->on_periodic(sink);
//   batch mode (table()): exec->advance_input_bound(b, sink) whenever the input's lower bound rises;
//   at the end of a bounded input (table(), `outpost query` without --follow):  exec->on_end(sink);
//   checkpoint: exec->save_state() together with the last input seq fed and the output seq.
//
// The executor is a pure function of the records it was fed (and the on_idle/on_periodic calls):
// it never reads a clock, so results do not depend on batching or on when the process
// restarted (docs/SEMANTICS.md 4, 14, 16). The runner (agent/runtime/query_host) owns timing, the
// log and checkpoints.
//
// Input records are store records whose payload is a JSON object (what the decoders store for
// json/csv/kv streams). A column is a declared field of the stream (typed) or any other member
// of the object (typed by its JSON value); dotted names reach into nested objects. Pseudo
// columns: _tp_time (the record's event time, a timestamp), _ingest_time, _seq, _key.
//
// Output rows are JSON objects with the SELECT columns in order. Window queries add nothing
// else under the drop policy; under the update policy every row carries "_revision" (0 first,
// +1 per re-emission), so (window_start, window_end, group key, _revision) identifies a row.
//
// Threads: a Query is immutable and may be shared; an Executor belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/log.h"
#include "base/status.h"

namespace outpost::query {

enum class ColumnType : std::uint8_t { kString, kInt, kDouble, kBool, kTimestamp };

struct ColumnDecl {
  std::string name;  // as declared in the config: a member name or a dotted path
  ColumnType type = ColumnType::kString;
};

// What a FROM name resolves to: a stream's declared fields.
struct StreamSchema {
  std::string name;
  std::vector<ColumnDecl> fields;
  std::string time_field;  // the field the event time came from ("" = ingest time)
  std::string key_field;   // "" = records have no key
};

// The schema as JSON text ({"time_field":..,"key_field":..,"fields":[{"name":..,"type":..}]}),
// for keeping it beside the data; schema_from_json gives nullopt for text it did not write.
std::string schema_to_json(const StreamSchema& schema);
std::optional<StreamSchema> schema_from_json(std::string_view stream, std::string_view json);

// Resolves FROM names; returns nullptr for an unknown stream. Must outlive compile() only.
using Catalog = std::function<const StreamSchema*(std::string_view stream)>;

// A rejected query: what is wrong and where (1-based line and column in the SQL text; offset
// in bytes). Every rejection has a message.
struct SqlError {
  std::string message;
  std::size_t offset = 0;
  int line = 1;
  int column = 1;
  std::string to_string() const;  // "line 2, column 7: unknown column 'tmp' (did you mean 'temp'?)"
};

class Query {
 public:
  virtual ~Query() = default;
  virtual const std::string& input_stream() const = 0;
  virtual bool historical() const = 0;  // FROM table(s): bounded, over what is stored
  virtual bool windowed() const = 0;
  virtual const std::vector<std::string>& columns() const = 0;  // output column names
  virtual std::int64_t emit_period_ms() const = 0;  // EMIT PERIODIC interval; 0 = none
  virtual std::int64_t delay_ms() const = 0;        // watermark delay (EMIT ... DELAY)
  // Whether the rows depend on the order records arrive in beyond what the watermark allows
  // for: sessions with a max_length or start/end conditions (both judge each event against the
  // ones before it). A bounded (batch) run feeds such a query in event-time order.
  virtual bool order_sensitive() const = 0;
};

std::variant<std::shared_ptr<const Query>, SqlError> compile(std::string_view sql,
                                                             const Catalog& catalog);

enum class LatePolicy : std::uint8_t { kDrop, kUpdate };

// Live or batch. Live (continuous queries, `--follow`, replays of a stream): the watermark
// follows the largest event time seen minus the delay, and an event behind it is late. Batch
// (a bounded query over table(s)): the answer counts every record of the input, as a GROUP BY
// over complete data; the watermark is moved only by advance_input_bound(), the runner's
// promise that no record still to come is older, so nothing the input holds is ever late.
enum class TimeMode : std::uint8_t { kLive, kBatch };

struct ExecutorOptions {
  LatePolicy late_policy = LatePolicy::kDrop;
  std::int64_t allowed_lateness_ms = 0;  // update policy: revisions this long after close
  TimeMode time_mode = TimeMode::kLive;
};

struct OutputRow {
  std::string payload;            // JSON object
  std::int64_t event_time_ms = 0;  // windows: window_start; filters: the input's event time
  std::string key;                // GROUP BY values (JSON array text) or the input's key; "" = none
};

class RowSink {
 public:
  virtual ~RowSink() = default;
  virtual void row(OutputRow&& row) = 0;
  // An input record that was late for every window it belongs to (drop policy, or update
  // policy beyond the allowed lateness); the runner writes it to the query's late stream.
  virtual void late(const store::RecordView& input, std::string_view reason) = 0;
};

struct ExecutorCounters {
  std::uint64_t records_in = 0;
  std::uint64_t rows_out = 0;
  std::uint64_t late_events = 0;   // late for every window they belong to
  std::uint64_t late_dropped = 0;  // of those, not answered by a revision
  std::uint64_t eval_errors = 0;   // records skipped: payload not an object, wrong type, ...
  std::uint64_t open_windows = 0;
  std::uint64_t open_groups = 0;
  std::uint64_t state_bytes = 0;   // approximate memory held by window/group state
};

class Executor {
 public:
  static std::unique_ptr<Executor> create(std::shared_ptr<const Query> query,
                                          const ExecutorOptions& options);
  virtual ~Executor() = default;
  virtual void on_record(const store::RecordView& record, RowSink& sink) = 0;
  // The input was quiet for the idle timeout (live mode): the watermark moves to the end of the
  // last open window (at least max event time + 1), so every open window closes and is emitted
  // (docs/SEMANTICS.md 8). Ignored in batch mode.
  virtual void on_idle(RowSink& sink) = 0;
  virtual void on_periodic(RowSink& sink) = 0;
  virtual void on_end(RowSink& sink) = 0;  // bounded input done: emit every open window
  // Batch mode: every record still to come has an event time >= bound_ms, so windows (and
  // sessions) ending at or before it are complete and are emitted now. Lets a history query
  // over mostly ordered data hold only the windows its disorder spans. Ignored in live mode.
  virtual void advance_input_bound(std::int64_t bound_ms, RowSink& sink) = 0;
  virtual std::int64_t watermark_ms() const = 0;
  // Operator state, deterministic bytes; load_state() on a fresh executor of the same query
  // continues exactly where save_state() was taken.
  virtual std::string save_state() const = 0;
  virtual Status load_state(std::string_view state) = 0;
  virtual ExecutorCounters counters() const = 0;
};

}  // namespace outpost::query
