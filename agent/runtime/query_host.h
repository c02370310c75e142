// Runs the configured continuous queries inside the daemon, and historical queries for
// /v1/query. A thin host around agent/query's runner: one thread per query, reading its input
// stream, appending result rows to its result stream, checkpointing in the catalog.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/runtime/plan.h"
#include "store/log.h"
#include "store/status.h"

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
  std::int64_t watermark_ms = 0;
  std::int64_t last_checkpoint_ms = 0;  // wall clock
  std::string last_error;
};

class QueryHost {
 public:
  static Result<std::unique_ptr<QueryHost>> create(store::Log* log, const QueryPlan& plan);
  virtual ~QueryHost() = default;
  virtual Status start() = 0;
  virtual void stop() = 0;  // checkpoints, then joins the thread
  virtual QueryMetrics metrics() const = 0;
};

// A bounded query over what is stored (`SELECT ... FROM table(stream) ...`); rows as a JSON array.
Result<std::string> run_historical_query(store::Log* log, const std::string& sql);

}  // namespace outpost::runtime
