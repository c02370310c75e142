// What the daemon is doing, as one snapshot, and the views of it: /v1/status JSON (read by
// `outpost status`), /v1/streams JSON, /metrics text, /healthz verdict and the systemd STATUS=
// line. Pure functions of the snapshot, so each view is tested without a running daemon.
#pragma once

#include "base/json_string.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/decode/decoder.h"
#include "agent/http/metrics.h"
#include "agent/ingest/source.h"
#include "agent/runtime/plan.h"
#include "agent/runtime/query_host.h"
#include "store/log.h"
#include "sync/sync.h"

namespace outpost::runtime {

struct StreamSnapshot {
  std::string name;
  std::string dead_letter_stream;  // empty for streams not declared in the config
  store::StreamStats stats;
  std::uint64_t records_appended = 0;  // since start
  std::uint64_t dead_letters = 0;
  std::uint64_t decode_errors = 0;
  std::array<std::uint64_t, decode::kErrorClassCount> decode_errors_by_class{};  // index: decode::ErrorClass
  std::uint64_t malformed = 0;
  std::uint64_t append_errors = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t dead_letter_records = 0;  // kept in the dead-letter stream
  std::int64_t last_append_ms = 0;
};

struct StatusSnapshot {
  std::string agent;
  double uptime_s = 0;
  std::int64_t started_ms = 0;
  std::int64_t now_ms = 0;
  // Ages (silence, offline time, which store event came last) are measured on the monotonic
  // clock (steady_clock ms): a wall clock set by NTP may jump either way (docs/SEMANTICS.md 0b).
  std::int64_t started_steady_ms = 0;
  std::int64_t now_steady_ms = 0;
  std::vector<StreamSnapshot> streams;        // declared in the config
  std::vector<StreamSnapshot> other_streams;  // query results, late streams, ...
  std::uint64_t stored_bytes = 0;
  std::uint64_t quota_bytes = 0;
  std::vector<ingest::SourceMetrics> sources;
  std::vector<QueryMetrics> queries;
  std::vector<sync::MirrorMetrics> mirrors;
  http::ProcessStats process;
  std::string store_last_error;
  std::string store_commit_error;  // the latest group commit failed (disk full, I/O); empty = ok
  std::int64_t store_last_error_ms = 0;  // monotonic clock (steady_clock ms), 0 = never
  std::int64_t store_last_ok_ms = 0;     // monotonic clock (steady_clock ms), 0 = never
  HealthPlan health_plan;
};

struct HealthCheck {
  std::string part;    // "mqtt:plant-broker", "store", "sync:raw", "query:per_minute"
  bool healthy = true;
  std::string detail;  // why, in words a person on site understands
};

struct HealthReport {
  bool healthy = true;
  std::vector<HealthCheck> checks;
};

// Unhealthy when: a source is down/reopening/stalled (or silent past health.source_silence);
// the log refused appends recently (disk full, I/O error) without a success since, or its
// latest group commit failed; a query
// failed; a mirror is fenced or failed, or offline/backing off past health.sync_offline.
HealthReport evaluate_health(const StatusSnapshot& s);
std::string health_json(const HealthReport& r);

std::string status_json(const StatusSnapshot& s);
std::string streams_json(const StatusSnapshot& s);
std::string prometheus_text(const StatusSnapshot& s);
// One line for systemd's STATUS=: rates, backlog, problems.
std::string status_line(const StatusSnapshot& s, double records_per_s);

// JSON string literal for arbitrary bytes (invalid UTF-8 is replaced by U+FFFD).
using base::json_quote;  // base/json_string.h

}  // namespace outpost::runtime
