// What the daemon runs, resolved from the YAML config: every module's own settings, with
// secrets read, paths made absolute and defaults applied. The daemon never reads YAML itself;
// plan_from_config() (plan.cpp) is the one place that maps config onto modules.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agent/ingest/mqtt_source.h"
#include "agent/ingest/serial_source.h"
#include "agent/runtime/stream_codec.h"
#include "store/log.h"
#include "store/status.h"
#include "sync/sync.h"

namespace outpost::runtime {

struct StreamPlan {
  std::string name;
  store::StreamOptions retention;
  std::string dead_letter_stream;  // where payloads that fail to decode go
  StreamCodecSpec codec;           // how payloads are decoded (format, fields, key, time)
};

struct QueryPlan {
  std::string name;
  std::string sql;
  std::string input_stream;
  std::string result_stream;
  std::string late_stream;         // late rows under the drop policy
  bool late_update = false;        // late policy update (revised rows) instead of drop
  std::int64_t allowed_lateness_ms = 0;
  std::int64_t idle_timeout_ms = 0;  // 0 = never advance the watermark on idleness
  bool start_earliest = false;       // backfill history first
  std::int64_t checkpoint_interval_ms = 5000;
};

struct HealthPlan {
  // A source with no message for this long counts as stalled (0 = off).
  std::int64_t source_silence_ms = 0;
  // A mirror offline (or backing off) for this long makes /healthz unhealthy (0 = never).
  std::int64_t sync_offline_ms = 15 * 60 * 1000;
};

struct Plan {
  std::string agent_id;
  std::string log_level = "info";
  store::Options store;
  std::string http_listen = "127.0.0.1:8470";  // empty = no HTTP server
  std::vector<StreamPlan> streams;
  std::vector<ingest::MqttSourceOptions> mqtt_sources;
  std::vector<ingest::SerialSourceOptions> serial_sources;
  std::vector<QueryPlan> queries;
  bool sync_enabled = false;
  sync::SyncSettings sync;
  HealthPlan health;
};

// Loads and validates the config file and resolves it into a Plan. On any config error returns
// Status::invalid_argument whose message holds every diagnostic, one "FILE:LINE:COL: message"
// per line.
using PlanLoader = std::function<Result<Plan>()>;
Result<Plan> load_plan(const std::string& config_path);

}  // namespace outpost::runtime
