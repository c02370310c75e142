// What the daemon runs, resolved from the checked config: every module's own settings, with
// secrets read (by agent/config), defaults applied and the decoders' specs built. The daemon
// never reads YAML itself: agent/config reads and checks the file (one table of keys, every
// problem as FILE:LINE:COL), and plan_from_config() below is the one place that maps a
// config::Config onto modules.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/decode/decoder.h"
#include "agent/ingest/mqtt_source.h"
#include "agent/ingest/serial_source.h"
#include "agent/runtime/credentials.h"
#include "agent/query/query.h"
#include "store/log.h"
#include "base/status.h"
#include "sync/sync.h"

namespace outpost::runtime {

struct StreamPlan {
  std::string name;
  store::StreamOptions retention;
  std::string dead_letter_stream;  // where payloads that fail to decode go
  decode::StreamSpec decode;       // how payloads are decoded (format, fields, key, time); valid
};

struct QueryPlan {
  std::string name;
  std::string sql;
  std::string input_stream;        // empty: the query engine takes it from the SQL's FROM
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
  std::vector<query::StreamSchema> stream_schemas;  // what queries see of the declared streams
  std::vector<ingest::MqttSourceOptions> mqtt_sources;
  std::vector<ingest::SerialSourceOptions> serial_sources;
  // What each MQTT source (by name) and the central connection authenticate with: a reload
  // compares the content of these files, not only their paths (credentials.h).
  std::map<std::string, Credentials> source_credentials;
  std::vector<QueryPlan> queries;
  bool sync_enabled = false;
  sync::SyncSettings sync;
  Credentials central_credentials;
  HealthPlan health;
};

// Resolves a Config that loaded without error into a Plan. It adds the checks only the modules
// can make (decode::validate_spec, ingest::validate_{mqtt,serial}_options, features this build
// cannot run yet). On any problem returns Status::invalid_argument whose message holds every
// problem, one "FILE:LINE:COL: message" per line (at the section the module refused).
Result<Plan> plan_from_config(const config::Config& config);

// config::load_config_file() then plan_from_config(): what `outpost run` starts from and what a
// SIGHUP reload reads. On error the message holds every diagnostic (warnings included), one
// "FILE:LINE:COL: message" per line. `warnings`, if given, receives the warnings of a file that
// loaded (each as "FILE:LINE:COL: warning: message").
Result<Plan> load_plan(const std::string& config_path, std::vector<std::string>* warnings = nullptr);
using PlanLoader = std::function<Result<Plan>()>;

}  // namespace outpost::runtime
