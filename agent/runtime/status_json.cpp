#include "agent/runtime/status_json.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace outpost::runtime {
namespace {

// Appends a JSON value; numbers print exactly (integers) or with enough digits (doubles).
class JsonOut {
 public:
  JsonOut& raw(std::string_view s) { comma(); out_ += s; return *this; }
  JsonOut& key(std::string_view k) {
    comma();
    out_ += json_quote(k);
    out_ += ':';
    fresh_ = true;
    return *this;
  }
  JsonOut& str(std::string_view v) { comma(); out_ += json_quote(v); return *this; }
  JsonOut& num(std::uint64_t v) { comma(); out_ += std::to_string(v); return *this; }
  JsonOut& num(std::int64_t v) { comma(); out_ += std::to_string(v); return *this; }
  JsonOut& num(int v) { return num(static_cast<std::int64_t>(v)); }
  JsonOut& dbl(double v) {
    comma();
    if (!std::isfinite(v)) { out_ += "null"; return *this; }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    out_ += buf;
    return *this;
  }
  JsonOut& boolean(bool v) { comma(); out_ += v ? "true" : "false"; return *this; }
  JsonOut& begin_object() { comma(); out_ += '{'; fresh_ = true; return *this; }
  JsonOut& end_object() { out_ += '}'; fresh_ = false; return *this; }
  JsonOut& begin_array() { comma(); out_ += '['; fresh_ = true; return *this; }
  JsonOut& end_array() { out_ += ']'; fresh_ = false; return *this; }
  std::string take() { return std::move(out_); }

 private:
  void comma() {
    if (!fresh_) out_ += ',';
    fresh_ = false;
  }
  std::string out_;
  bool fresh_ = true;
};

void stream_json(JsonOut& j, const StreamSnapshot& s) {
  j.begin_object();
  j.key("name").str(s.name);
  j.key("records").num(s.stats.records);
  j.key("segments").num(s.stats.segments);
  j.key("first_seq").num(s.stats.first_seq);
  j.key("last_seq").num(s.stats.last_seq);
  j.key("durable_seq").num(s.stats.durable_seq);
  j.key("raw_bytes").num(s.stats.raw_bytes);
  j.key("stored_bytes").num(s.stats.stored_bytes);
  j.key("index_entries").num(s.stats.index_entries);
  if (!s.dead_letter_stream.empty()) {
    j.key("dead_letter_stream").str(s.dead_letter_stream);
    j.key("dead_letter_records").num(s.dead_letter_records);
    j.key("appended_since_start").num(s.records_appended);
    j.key("dead_letters_since_start").num(s.dead_letters);
    j.key("decode_errors").num(s.decode_errors);
    j.key("decode_errors_by_class").begin_object();
    for (std::size_t c = 0; c < decode::kErrorClassCount; ++c) {
      if (s.decode_errors_by_class[c] == 0) continue;
      j.key(decode::error_class_name(static_cast<decode::ErrorClass>(c))).num(s.decode_errors_by_class[c]);
    }
    j.end_object();
    j.key("append_errors").num(s.append_errors);
    j.key("last_append_ms").num(s.last_append_ms);
  }
  j.key("dropped").begin_array();
  for (const auto& d : s.stats.dropped) {
    j.begin_object();
    j.key("first_seq").num(d.first_seq);
    j.key("last_seq").num(d.last_seq);
    j.key("reason").str(d.reason);
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

std::string age_words(std::int64_t ms) {
  if (ms < 0) ms = 0;
  std::int64_t s = ms / 1000;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

}  // namespace

HealthReport evaluate_health(const StatusSnapshot& s) {
  HealthReport r;
  auto add = [&r](std::string part, bool healthy, std::string detail) {
    if (!healthy) r.healthy = false;
    r.checks.push_back(HealthCheck{std::move(part), healthy, std::move(detail)});
  };
  for (const auto& src : s.sources) {
    bool healthy = src.healthy;
    std::string detail = src.detail.empty() ? ingest::source_state_name(src.state) : src.detail;
    if (healthy && s.health_plan.source_silence_ms > 0) {
      std::int64_t last = src.last_message_steady_ms != 0 ? src.last_message_steady_ms : s.started_steady_ms;
      if (s.now_steady_ms - last > s.health_plan.source_silence_ms) {
        healthy = false;
        detail = src.kind + " source " + src.name + " has received nothing for " + age_words(s.now_steady_ms - last) +
                 " (health.source_silence)";
      }
    }
    add(src.kind + ":" + src.name, healthy, detail);
  }
  const bool appends_ok = s.store_last_error_ms == 0 || s.store_last_ok_ms > s.store_last_error_ms;
  const bool commits_ok = s.store_commit_error.empty();
  add("store", appends_ok && commits_ok,
      !appends_ok  ? "the log refuses appends: " + s.store_last_error
      : !commits_ok ? "the log cannot write to disk (records wait in memory and are retried): " + s.store_commit_error
                    : "appending");
  for (const auto& q : s.queries) {
    bool ok = q.state != "failed";
    add("query:" + q.name, ok, ok ? q.state + ", lag " + std::to_string(q.lag_records) + " records"
                                  : "failed: " + q.last_error);
  }
  for (const auto& m : s.mirrors) {
    bool ok = true;
    std::string detail = sync::mirror_state_name(m.state);
    if (m.state == sync::MirrorState::kFenced || m.state == sync::MirrorState::kFailed) {
      ok = false;
      detail += ": " + m.last_error;
    } else if ((m.state == sync::MirrorState::kOffline || m.state == sync::MirrorState::kBackingOff) &&
               s.health_plan.sync_offline_ms > 0) {
      std::int64_t since = m.last_success_steady_ms != 0 ? m.last_success_steady_ms : s.started_steady_ms;
      if (m.backlog_records > 0 && s.now_steady_ms - since > s.health_plan.sync_offline_ms) {
        ok = false;
        detail = "central unreachable for " + age_words(s.now_steady_ms - since) + ", backlog " +
                 std::to_string(m.backlog_records) + " records: " + m.last_error;
      }
    }
    if (ok) detail += ", backlog " + std::to_string(m.backlog_records) + " records";
    add("sync:" + m.name, ok, detail);
  }
  return r;
}

std::string health_json(const HealthReport& r) {
  JsonOut j;
  j.begin_object();
  j.key("status").str(r.healthy ? "ok" : "unhealthy");
  j.key("unhealthy").begin_array();
  for (const auto& c : r.checks) if (!c.healthy) j.str(c.part);
  j.end_array();
  j.key("checks").begin_object();
  for (const auto& c : r.checks) {
    j.key(c.part).begin_object();
    j.key("healthy").boolean(c.healthy);
    j.key("detail").str(c.detail);
    j.end_object();
  }
  j.end_object();
  j.end_object();
  return j.take();
}

std::string status_json(const StatusSnapshot& s) {
  HealthReport health = evaluate_health(s);
  JsonOut j;
  j.begin_object();
  j.key("agent").str(s.agent);
  j.key("uptime_s").dbl(s.uptime_s);
  j.key("now_ms").num(s.now_ms);
  j.key("healthy").boolean(health.healthy);
  j.key("health").raw(health_json(health));
  j.key("stored_bytes").num(s.stored_bytes);
  j.key("quota_bytes").num(s.quota_bytes);
  j.key("process").begin_object();
  j.key("rss_bytes").num(s.process.rss_bytes);
  j.key("peak_rss_bytes").num(s.process.peak_rss_bytes);
  j.key("cpu_seconds").dbl(s.process.cpu_seconds);
  j.key("open_fds").num(s.process.open_fds);
  j.end_object();
  j.key("streams").begin_array();
  for (const auto& st : s.streams) stream_json(j, st);
  for (const auto& st : s.other_streams) stream_json(j, st);
  j.end_array();
  j.key("sources").begin_array();
  for (const auto& src : s.sources) {
    j.begin_object();
    j.key("name").str(src.name);
    j.key("kind").str(src.kind);
    j.key("endpoint").str(src.endpoint);
    j.key("state").str(ingest::source_state_name(src.state));
    j.key("healthy").boolean(src.healthy);
    j.key("detail").str(src.detail);
    j.key("received").num(src.received);
    j.key("delivered").num(src.delivered);
    j.key("malformed").num(src.malformed);
    j.key("duplicates").num(src.duplicates);
    j.key("read_bytes").num(src.read_bytes);
    j.key("reconnects").num(src.reconnects);
    j.key("connect_failures").num(src.connect_failures);
    j.key("errors").num(src.errors);
    j.key("last_message_ms").num(src.last_message_time_ms);
    j.key("last_error").str(src.last_error);
    j.end_object();
  }
  j.end_array();
  j.key("queries").begin_array();
  for (const auto& q : s.queries) {
    j.begin_object();
    j.key("name").str(q.name);
    j.key("state").str(q.state);
    j.key("input_stream").str(q.input_stream);
    j.key("result_stream").str(q.result_stream);
    j.key("input_seq").num(q.input_seq);
    j.key("lag_records").num(q.lag_records);
    j.key("output_seq").num(q.output_seq);
    j.key("rows_emitted").num(q.rows_emitted);
    j.key("late_events").num(q.late_events);
    j.key("late_dropped").num(q.late_dropped);
    j.key("errors").num(q.errors);
    j.key("checkpoint_state_discarded").num(q.checkpoint_state_discarded);
    j.key("watermark_ms").num(q.watermark_ms);
    j.key("last_error").str(q.last_error);
    j.end_object();
  }
  j.end_array();
  j.key("mirrors").begin_array();
  for (const auto& m : s.mirrors) {
    j.begin_object();
    j.key("name").str(m.name);
    j.key("stream").str(m.stream);
    j.key("topic").str(m.topic);
    j.key("delivery").str(m.delivery == sync::Delivery::kExactlyOnce ? "exactly_once" : "at_least_once");
    j.key("priority").num(m.priority);
    j.key("state").str(sync::mirror_state_name(m.state));
    j.key("cursor").num(m.cursor);
    j.key("backlog_records").num(m.backlog_records);
    j.key("backlog_bytes").num(m.backlog_bytes);
    j.key("in_flight").num(m.in_flight);
    j.key("records_sent").num(m.records_sent);
    j.key("records_per_s").dbl(m.records_per_s);
    j.key("errors").num(m.errors);
    j.key("redrives").num(m.redrives);
    j.key("gaps_reported").num(m.gaps_reported);
    j.key("last_success_ms").num(m.last_success_ms);
    j.key("last_error").str(m.last_error);
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return j.take();
}

std::string streams_json(const StatusSnapshot& s) {
  JsonOut j;
  j.begin_array();
  for (const auto& st : s.streams) stream_json(j, st);
  for (const auto& st : s.other_streams) stream_json(j, st);
  j.end_array();
  return j.take();
}

std::string prometheus_text(const StatusSnapshot& s) {
  using T = http::MetricsWriter::Type;
  http::MetricsWriter w;
  auto per_stream = [&](const char* name, T type, const char* help, auto value, bool declared_only) {
    w.family(name, type, help);
    for (const auto& st : s.streams) w.sample({{"stream", st.name}}, static_cast<double>(value(st)));
    if (!declared_only) {
      for (const auto& st : s.other_streams) w.sample({{"stream", st.name}}, static_cast<double>(value(st)));
    }
  };
  per_stream("outpost_ingest_records_total", T::kCounter, "Records decoded and appended to the stream since start.",
             [](const StreamSnapshot& x) { return x.records_appended; }, true);
  per_stream("outpost_ingest_bytes_total", T::kCounter, "Payload bytes received for the stream since start.",
             [](const StreamSnapshot& x) { return x.bytes_in; }, true);
  per_stream("outpost_ingest_decode_errors_total", T::kCounter, "Payloads that failed to decode (dead-lettered).",
             [](const StreamSnapshot& x) { return x.decode_errors; }, true);
  // Every class is exported for every declared stream (zeros too), so rate() sees the first error.
  w.family("outpost_ingest_decode_errors_by_class_total", T::kCounter,
           "Payloads that failed to decode, by why (too_large, not_utf8, syntax, shape, missing_field, field_type, time).");
  for (const auto& st : s.streams) {
    for (std::size_t c = 0; c < decode::kErrorClassCount; ++c) {
      w.sample({{"stream", st.name}, {"class", decode::error_class_name(static_cast<decode::ErrorClass>(c))}},
               static_cast<double>(st.decode_errors_by_class[c]));
    }
  }
  per_stream("outpost_ingest_dead_letters_total", T::kCounter, "Records written to the stream's dead-letter stream.",
             [](const StreamSnapshot& x) { return x.dead_letters; }, true);
  per_stream("outpost_ingest_append_errors_total", T::kCounter, "Appends the log refused (message not acknowledged).",
             [](const StreamSnapshot& x) { return x.append_errors; }, true);
  per_stream("outpost_log_records", T::kGauge, "Records kept in the local log.",
             [](const StreamSnapshot& x) { return x.stats.records; }, false);
  per_stream("outpost_log_last_seq", T::kGauge, "Newest sequence appended.",
             [](const StreamSnapshot& x) { return x.stats.last_seq; }, false);
  per_stream("outpost_log_durable_seq", T::kGauge, "Newest durable sequence.",
             [](const StreamSnapshot& x) { return x.stats.durable_seq; }, false);
  per_stream("outpost_log_stored_bytes", T::kGauge, "Bytes on disk.",
             [](const StreamSnapshot& x) { return x.stats.stored_bytes; }, false);
  per_stream("outpost_log_raw_bytes", T::kGauge, "Uncompressed bytes kept.",
             [](const StreamSnapshot& x) { return x.stats.raw_bytes; }, false);
  per_stream("outpost_log_index_entries", T::kGauge,
             "Block index entries held in memory (~88 bytes each; the active segment's and recently read ones).",
             [](const StreamSnapshot& x) { return x.stats.index_entries; }, false);
  w.family("outpost_log_dropped_records", T::kGauge, "Records lost to quota, retention past a cursor, corruption or missing files.");
  for (const auto* list : {&s.streams, &s.other_streams}) {
    for (const auto& st : *list) {
      std::uint64_t n = 0;
      for (const auto& d : st.stats.dropped) n += d.last_seq - d.first_seq + 1;
      w.sample({{"stream", st.name}}, static_cast<double>(n));
    }
  }
  w.gauge("outpost_log_total_stored_bytes", "Bytes on disk, all streams.", static_cast<double>(s.stored_bytes));
  w.gauge("outpost_log_quota_bytes", "Configured disk quota (0 = none).", static_cast<double>(s.quota_bytes));

  auto src_labels = [](const ingest::SourceMetrics& m) {
    return http::Labels{{"source", m.name}, {"kind", m.kind}};
  };
  w.family("outpost_source_up", T::kGauge, "1 while the source is connected / the device open.");
  for (const auto& m : s.sources) w.sample(src_labels(m), m.state == ingest::SourceState::kConnected ? 1 : 0);
  w.family("outpost_source_received_total", T::kCounter, "Messages or frames received.");
  for (const auto& m : s.sources) w.sample(src_labels(m), static_cast<double>(m.received));
  w.family("outpost_source_duplicates_total", T::kCounter, "MQTT messages received with the DUP flag.");
  for (const auto& m : s.sources) w.sample(src_labels(m), static_cast<double>(m.duplicates));
  w.family("outpost_source_malformed_total", T::kCounter, "Frames the source flagged malformed (over-long, cut).");
  for (const auto& m : s.sources) w.sample(src_labels(m), static_cast<double>(m.malformed));
  w.family("outpost_source_read_bytes_total", T::kCounter,
           "Bytes read from the peer before framing (serial: including a line not complete yet).");
  for (const auto& m : s.sources) w.sample(src_labels(m), static_cast<double>(m.read_bytes));
  w.family("outpost_source_reconnects_total", T::kCounter, "Reconnections / device reopenings.");
  for (const auto& m : s.sources) w.sample(src_labels(m), static_cast<double>(m.reconnects));
  w.family("outpost_source_connect_failures_total", T::kCounter,
           "Failed connection / device open attempts (an unplugged device retried with backoff).");
  for (const auto& m : s.sources) w.sample(src_labels(m), static_cast<double>(m.connect_failures));
  w.family("outpost_source_errors_total", T::kCounter, "Connection losses and read errors.");
  for (const auto& m : s.sources) w.sample(src_labels(m), static_cast<double>(m.errors));

  auto q_labels = [](const QueryMetrics& q) { return http::Labels{{"query", q.name}}; };
  w.family("outpost_query_lag_records", T::kGauge, "Durable input records the query has not consumed yet.");
  for (const auto& q : s.queries) w.sample(q_labels(q), static_cast<double>(q.lag_records));
  w.family("outpost_query_rows_total", T::kCounter, "Result rows emitted since start.");
  for (const auto& q : s.queries) w.sample(q_labels(q), static_cast<double>(q.rows_emitted));
  w.family("outpost_query_late_events_total", T::kCounter, "Events that arrived after their windows closed.");
  for (const auto& q : s.queries) w.sample(q_labels(q), static_cast<double>(q.late_events));
  w.family("outpost_query_late_dropped_total", T::kCounter, "Late events dropped (beyond allowed lateness or drop policy).");
  for (const auto& q : s.queries) w.sample(q_labels(q), static_cast<double>(q.late_dropped));
  w.family("outpost_query_checkpoint_state_discarded_total", T::kCounter,
           "Checkpoints whose saved window state was unreadable and was replaced by empty windows.");
  for (const auto& q : s.queries) w.sample(q_labels(q), static_cast<double>(q.checkpoint_state_discarded));
  w.family("outpost_query_watermark_timestamp_seconds", T::kGauge, "Current watermark (event time, Unix seconds).");
  for (const auto& q : s.queries) w.sample(q_labels(q), static_cast<double>(q.watermark_ms) / 1000.0);
  w.family("outpost_query_up", T::kGauge, "1 unless the query failed.");
  for (const auto& q : s.queries) w.sample(q_labels(q), q.state == "failed" ? 0 : 1);

  auto m_labels = [](const sync::MirrorMetrics& m) {
    return http::Labels{{"mirror", m.name}, {"stream", m.stream}, {"topic", m.topic}};
  };
  w.family("outpost_sync_backlog_records", T::kGauge, "Durable records not yet confirmed by central.");
  for (const auto& m : s.mirrors) w.sample(m_labels(m), static_cast<double>(m.backlog_records));
  w.family("outpost_sync_backlog_bytes", T::kGauge, "Estimated bytes not yet confirmed by central.");
  for (const auto& m : s.mirrors) w.sample(m_labels(m), static_cast<double>(m.backlog_bytes));
  w.family("outpost_sync_cursor", T::kGauge, "Last sequence confirmed by central.");
  for (const auto& m : s.mirrors) w.sample(m_labels(m), static_cast<double>(m.cursor));
  w.family("outpost_sync_sent_records_total", T::kCounter, "Records confirmed by central since start.");
  for (const auto& m : s.mirrors) w.sample(m_labels(m), static_cast<double>(m.records_sent));
  w.family("outpost_sync_errors_total", T::kCounter, "Delivery, transaction and link errors.");
  for (const auto& m : s.mirrors) w.sample(m_labels(m), static_cast<double>(m.errors));
  w.family("outpost_sync_redrives_total", T::kCounter, "Times unconfirmed records were re-sent from the local log.");
  for (const auto& m : s.mirrors) w.sample(m_labels(m), static_cast<double>(m.redrives));
  w.family("outpost_sync_gaps_reported_total", T::kCounter, "Gap records (lost ranges) reported to central.");
  for (const auto& m : s.mirrors) w.sample(m_labels(m), static_cast<double>(m.gaps_reported));
  w.family("outpost_sync_online", T::kGauge, "1 while the mirror's last contact with central worked.");
  for (const auto& m : s.mirrors) w.sample(m_labels(m), m.state == sync::MirrorState::kOnline ? 1 : 0);
  w.family("outpost_sync_last_success_timestamp_seconds", T::kGauge, "Unix time of the last confirmation (0 = never).");
  for (const auto& m : s.mirrors) w.sample(m_labels(m), static_cast<double>(m.last_success_ms) / 1000.0);

  w.gauge("outpost_process_resident_memory_bytes", "Resident set size.", static_cast<double>(s.process.rss_bytes));
  w.gauge("outpost_process_peak_resident_memory_bytes", "Peak resident set size.", static_cast<double>(s.process.peak_rss_bytes));
  w.counter("outpost_process_cpu_seconds_total", "User and system CPU time.", s.process.cpu_seconds);
  w.gauge("outpost_process_open_fds", "Open file descriptors.", static_cast<double>(s.process.open_fds));
  w.gauge("outpost_uptime_seconds", "Seconds since start.", s.uptime_s);
  w.gauge("outpost_healthy", "1 when /healthz answers 200.", evaluate_health(s).healthy ? 1 : 0);
  return w.text();
}

std::string status_line(const StatusSnapshot& s, double records_per_s) {
  std::ostringstream out;
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.0f", records_per_s);
  out << "ingest " << rate << " rec/s";
  std::uint64_t dead = 0;
  for (const auto& st : s.streams) dead += st.dead_letters;
  if (dead) out << ", " << dead << " dead letters";
  std::uint64_t backlog = 0;
  int offline = 0;
  for (const auto& m : s.mirrors) {
    backlog += m.backlog_records;
    if (m.state != sync::MirrorState::kOnline) ++offline;
  }
  if (!s.mirrors.empty()) {
    out << ", sync backlog " << backlog;
    if (offline) out << " (" << offline << " mirror" << (offline > 1 ? "s" : "") << " not online)";
  }
  HealthReport h = evaluate_health(s);
  if (!h.healthy) {
    out << "; unhealthy:";
    for (const auto& c : h.checks) if (!c.healthy) out << " " << c.part;
  }
  return out.str();
}

}  // namespace outpost::runtime
