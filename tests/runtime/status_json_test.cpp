// The daemon's views of itself: /healthz verdicts, /metrics format (checked by promtool),
// /v1/status JSON and the systemd STATUS= line, from hand-made snapshots.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/runtime/status_json.h"

using namespace outpost;
using namespace outpost::runtime;

namespace {

StatusSnapshot healthy_snapshot() {
  StatusSnapshot s;
  s.agent = "pump-7";
  s.now_ms = 1'700'000'100'000;
  s.started_ms = 1'700'000'000'000;
  s.now_steady_ms = 5'000'000;  // the monotonic clock: ms since boot
  s.started_steady_ms = 4'900'000;
  StreamSnapshot st;
  st.name = "readings";
  st.dead_letter_stream = "readings.dead";
  st.records_appended = 120;
  st.stats.records = 120;
  st.stats.last_seq = 120;
  st.stats.durable_seq = 120;
  st.stats.index_entries = 7;
  st.stats.dropped.push_back(store::DroppedRange{1, "readings", 1, 10, "quota", 0});
  s.streams.push_back(st);
  ingest::SourceMetrics src;
  src.name = "plant";
  src.kind = "mqtt";
  src.endpoint = "tcp://127.0.0.1:1883";
  src.state = ingest::SourceState::kConnected;
  src.healthy = true;
  src.last_message_time_ms = s.now_ms - 1000;
  src.last_message_steady_ms = s.now_steady_ms - 1000;
  s.sources.push_back(src);
  sync::MirrorMetrics m;
  m.name = "raw";
  m.stream = "readings";
  m.topic = "site.readings";
  m.state = sync::MirrorState::kOnline;
  m.last_success_ms = s.now_ms - 500;
  m.last_success_steady_ms = s.now_steady_ms - 500;
  s.mirrors.push_back(m);
  QueryMetrics q;
  q.name = "per_minute";
  q.state = "running";
  s.queries.push_back(q);
  return s;
}

bool unhealthy_part(const HealthReport& r, const std::string& part) {
  for (const auto& c : r.checks) if (c.part == part && !c.healthy) return true;
  return false;
}

}  // namespace

TEST_CASE("HealthyPipelineIsHealthy") {
  HealthReport r = evaluate_health(healthy_snapshot());
  CHECK(r.healthy);
  CHECK(health_json(r).find("\"status\":\"ok\"") != std::string::npos);
}

TEST_CASE("BrokerDownMakesHealthUnhealthyNamingMqtt") {
  StatusSnapshot s = healthy_snapshot();
  s.sources[0].state = ingest::SourceState::kDisconnected;
  s.sources[0].healthy = false;
  s.sources[0].detail = "mqtt broker down: plant (tcp://127.0.0.1:1883): connection refused";
  HealthReport r = evaluate_health(s);
  CHECK_FALSE(r.healthy);
  CHECK(unhealthy_part(r, "mqtt:plant"));
  std::string json = health_json(r);
  CHECK(json.find("\"unhealthy\":[\"mqtt:plant\"]") != std::string::npos);
  CHECK(json.find("connection refused") != std::string::npos);
}

TEST_CASE("SilentSourceCountsAsStalledWhenConfigured") {
  StatusSnapshot s = healthy_snapshot();
  s.sources[0].last_message_steady_ms = s.now_steady_ms - 10 * 60 * 1000;
  CHECK(evaluate_health(s).healthy);  // off by default
  s.health_plan.source_silence_ms = 5 * 60 * 1000;
  HealthReport r = evaluate_health(s);
  CHECK(unhealthy_part(r, "mqtt:plant"));
}

TEST_CASE("LogRefusingAppendsIsUnhealthyUntilAnAppendSucceeds") {
  StatusSnapshot s = healthy_snapshot();
  s.store_last_error = "full: disk quota reached";
  s.store_last_error_ms = s.now_steady_ms - 100;
  s.store_last_ok_ms = s.now_steady_ms - 5000;
  CHECK(unhealthy_part(evaluate_health(s), "store"));
  s.store_last_ok_ms = s.now_steady_ms;
  CHECK(evaluate_health(s).healthy);
}

TEST_CASE("FailingGroupCommitIsUnhealthyEvenWhileAppendsSucceed") {
  StatusSnapshot s = healthy_snapshot();
  s.store_commit_error = "stream 'readings': /data/x.seg: write: No space left on device";
  HealthReport r = evaluate_health(s);
  CHECK(unhealthy_part(r, "store"));
  CHECK(health_json(r).find("cannot write to disk") != std::string::npos);
  CHECK(health_json(r).find("No space left on device") != std::string::npos);
  s.store_commit_error.clear();
  CHECK(evaluate_health(s).healthy);
}

TEST_CASE("CentralOfflineWithBacklogBecomesUnhealthyOnlyAfterTheThreshold") {
  StatusSnapshot s = healthy_snapshot();
  s.mirrors[0].state = sync::MirrorState::kOffline;
  s.mirrors[0].backlog_records = 5000;
  s.mirrors[0].last_success_steady_ms = s.now_steady_ms - 60 * 1000;
  CHECK(evaluate_health(s).healthy);  // a minute offline is normal on a field link
  s.mirrors[0].last_success_steady_ms = s.now_steady_ms - 20 * 60 * 1000;
  CHECK(unhealthy_part(evaluate_health(s), "sync:raw"));
  s.mirrors[0].state = sync::MirrorState::kFenced;
  s.mirrors[0].last_success_steady_ms = s.now_steady_ms;
  CHECK(unhealthy_part(evaluate_health(s), "sync:raw"));
}

TEST_CASE("HealthAgesUseTheMonotonicClockNotTheWallClock") {
  // NTP sets the wall clock back an hour after the last message / confirmation: the wall-clock
  // difference is negative, yet the source has been silent and central away for 10 minutes.
  StatusSnapshot s = healthy_snapshot();
  s.health_plan.source_silence_ms = 5 * 60 * 1000;
  s.health_plan.sync_offline_ms = 5 * 60 * 1000;
  s.sources[0].last_message_time_ms = s.now_ms + 3'600'000 - 10 * 60 * 1000;
  s.sources[0].last_message_steady_ms = s.now_steady_ms - 10 * 60 * 1000;
  s.mirrors[0].state = sync::MirrorState::kOffline;
  s.mirrors[0].backlog_records = 10;
  s.mirrors[0].last_success_ms = s.sources[0].last_message_time_ms;
  s.mirrors[0].last_success_steady_ms = s.sources[0].last_message_steady_ms;
  HealthReport r = evaluate_health(s);
  CHECK(unhealthy_part(r, "mqtt:plant"));
  CHECK(unhealthy_part(r, "sync:raw"));
  CHECK(health_json(r).find("received nothing for 10m") != std::string::npos);
  // And a day forward: a message a second ago is not a day of silence.
  s = healthy_snapshot();
  s.health_plan.source_silence_ms = 5 * 60 * 1000;
  s.health_plan.sync_offline_ms = 5 * 60 * 1000;
  s.now_ms += 86'400'000;
  s.mirrors[0].state = sync::MirrorState::kBackingOff;
  s.mirrors[0].backlog_records = 10;
  CHECK(evaluate_health(s).healthy);
}

TEST_CASE("FailedQueryIsUnhealthy") {
  StatusSnapshot s = healthy_snapshot();
  s.queries[0].state = "failed";
  s.queries[0].last_error = "checkpoint could not be saved";
  CHECK(unhealthy_part(evaluate_health(s), "query:per_minute"));
}

TEST_CASE("StatusJsonParsesAndCarriesEveryPart") {
  StatusSnapshot s = healthy_snapshot();
  s.agent = "quote\" and \xff byte";
  std::string json = status_json(s);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE_FALSE(parser.parse(json).get(doc));
  std::string_view agent;
  REQUIRE_FALSE(doc["agent"].get(agent));
  CHECK(agent == "quote\" and \xEF\xBF\xBD byte");
  simdjson::dom::array streams;
  REQUIRE_FALSE(doc["streams"].get(streams));
  CHECK(streams.size() == 1);
  simdjson::dom::array dropped;
  REQUIRE_FALSE(streams.at(0)["dropped"].get(dropped));
  CHECK(dropped.size() == 1);
  std::uint64_t index_entries = 0;
  REQUIRE_FALSE(streams.at(0)["index_entries"].get(index_entries));
  CHECK(index_entries == 7);  // memory the log holds per stream, for "where did my RAM go"
  REQUIRE_FALSE(parser.parse(streams_json(s)).get(doc));
}

TEST_CASE("MetricsPassPromtool") {
  StatusSnapshot s = healthy_snapshot();
  s.mirrors[0].topic = "weird \"topic\"\nname";
  std::string text = prometheus_text(s);
  CHECK(text.find("outpost_ingest_records_total{stream=\"readings\"} 120") != std::string::npos);
  CHECK(text.find("outpost_log_dropped_records{stream=\"readings\"} 10") != std::string::npos);
  CHECK(text.find("outpost_log_index_entries{stream=\"readings\"} 7") != std::string::npos);
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    MESSAGE("promtool not installed: format checked by the assertions above only");
    return;
  }
  std::string path = "/tmp/outpost-status-metrics-" + std::to_string(::getpid()) + ".txt";
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  int rc = std::system(("promtool check metrics < " + path + " >/dev/null 2>&1").c_str());
  std::remove(path.c_str());
  CHECK(rc == 0);
}

TEST_CASE("StatusLineSaysRateBacklogAndProblems") {
  StatusSnapshot s = healthy_snapshot();
  s.mirrors[0].backlog_records = 42;
  s.mirrors[0].state = sync::MirrorState::kOffline;
  s.sources[0].healthy = false;
  std::string line = status_line(s, 12.4);
  CHECK(line == "ingest 12 rec/s, sync backlog 42 (1 mirror not online); unhealthy: mqtt:plant");
}
