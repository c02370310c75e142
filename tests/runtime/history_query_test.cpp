// run_query over a real log: a query over table(s) answers as a batch engine would (every stored
// record counts, whatever order it arrived in), closing windows as the store's bound passes
// them; the stream form replays the live rules (docs/SEMANTICS.md, "History and live").
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "agent/runtime/query_host.h"
#include "tests/store/test_util.h"

using namespace outpost;
using outpost::store::test::TempDir;

namespace {

struct Event {
  std::int64_t t;
  std::string device;
  double temp;
};

std::string payload(const Event& e) {
  return "{\"device\":\"" + e.device + "\",\"ts\":" + std::to_string(e.t) + ",\"temp\":" + std::to_string(e.temp) + "}";
}

// Appends the events in the given order in small blocks (a commit every 50 records) and
// segments, as a gateway's log holds them.
std::unique_ptr<store::Log> log_of(const TempDir& dir, const std::vector<Event>& events) {
  store::Options o;
  o.data_dir = dir.path();
  o.segment_bytes = 64 << 10;
  o.block_bytes = 4096;
  auto log = store::Log::open(o);
  REQUIRE(log.is_ok());
  auto id = (*log)->open_stream("readings");
  REQUIRE(id.is_ok());
  for (std::size_t i = 0; i < events.size(); ++i) {
    std::string p = payload(events[i]);
    store::AppendRecord r;
    r.payload = p;
    r.event_time_ms = events[i].t;
    REQUIRE((*log)->append(*id, r).is_ok());
    if (i % 50 == 49) REQUIRE((*log)->flush().is_ok());
  }
  REQUIRE((*log)->flush().is_ok());
  return std::move(*log);
}

const query::StreamSchema kReadings = [] {
  query::StreamSchema s;
  s.name = "readings";
  s.time_field = "ts";
  s.fields = {{"device", query::ColumnType::kString}, {"temp", query::ColumnType::kDouble}};
  return s;
}();

struct Result {
  std::vector<std::string> rows;
  runtime::QueryRunStats stats;
  std::uint64_t read_at_first_row = 0;  // records read when the first row came out
  Status status;
};

Result run(store::Log* log, const std::string& sql, runtime::QueryRunOptions o = {}) {
  runtime::StreamCatalog catalog(log, {kReadings});
  Result r;
  r.status = runtime::run_query(log, sql, catalog.catalog(), o, nullptr,
                                [&](const query::OutputRow& row) {
                                  if (r.rows.empty()) r.read_at_first_row = r.stats.records_read;
                                  r.rows.push_back(row.payload);
                                },
                                &r.stats);
  return r;
}

// Mostly in order; 1% of readings arrive 5-60 minutes late.
std::vector<Event> field_feed(std::uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::vector<std::pair<std::int64_t, Event>> arrivals;
  std::int64_t t = 1'767'225'600'000;
  for (int i = 0; i < n; ++i) {
    t += 1000;
    Event e{t, "dev-" + std::to_string(i % 7), static_cast<double>(rng() % 1000) / 10.0};
    std::int64_t arrive = t + static_cast<std::int64_t>(rng() % 2000);
    if (rng() % 100 == 0) arrive += 300'000 + static_cast<std::int64_t>(rng() % 3'300'000);
    arrivals.emplace_back(arrive, e);
  }
  std::stable_sort(arrivals.begin(), arrivals.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Event> out;
  for (auto& [a, e] : arrivals) out.push_back(e);
  return out;
}

std::uint64_t total_n(const std::vector<std::string>& rows) {
  std::uint64_t total = 0;
  for (const auto& r : rows) {
    auto p = r.find("\"n\":");
    REQUIRE(p != std::string::npos);
    total += std::stoull(r.substr(p + 4));
  }
  return total;
}

}  // namespace

TEST_CASE("a history window query counts every stored record; the stream form drops the late ones") {
  TempDir dir;
  const auto events = field_feed(1, 20000);
  auto log = log_of(dir, events);
  auto history = run(log.get(), "SELECT window_start, device, count() AS n FROM tumble(table(readings), ts, 1m) "
                                "GROUP BY window_start, device");
  REQUIRE_MESSAGE(history.status.is_ok(), history.status.to_string());
  CHECK(total_n(history.rows) == events.size());
  CHECK(history.stats.late_events == 0);
  // Windows close as the store's bound passes them, not only at the end.
  CHECK(history.read_at_first_row < events.size() / 2);

  auto live = run(log.get(), "SELECT window_start, device, count() AS n FROM tumble(readings, ts, 1m) "
                             "GROUP BY window_start, device");
  REQUIRE(live.status.is_ok());
  CHECK(live.stats.late_events > 0);
  CHECK(total_n(live.rows) + live.stats.late_events == events.size());
}

TEST_CASE("a history session query with max_length takes records in event-time order") {
  // The same events stored sorted and shuffled give the same sessions: max_length splits by
  // event time, as over sorted data, whatever the arrival order.
  std::vector<Event> sorted;
  std::mt19937 rng(9);
  std::int64_t t = 1'767'225'600'000;
  for (int i = 0; i < 3000; ++i) {
    t += 200 + static_cast<std::int64_t>(rng() % 1500);
    sorted.push_back(Event{t, "dev-" + std::to_string(rng() % 3), 1.0});
  }
  std::vector<Event> shuffled = sorted;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const std::string sql = "SELECT window_start, window_end, device, count() AS n FROM "
                          "session(table(readings), ts, 4s, 30s) GROUP BY device";
  TempDir d1, d2, d3;
  auto a = run(log_of(d1, sorted).get(), sql);
  auto b = run(log_of(d2, shuffled).get(), sql);
  REQUIRE(a.status.is_ok());
  REQUIRE(b.status.is_ok());
  CHECK(a.rows.size() > 50);
  CHECK(total_n(b.rows) == shuffled.size());
  std::sort(a.rows.begin(), a.rows.end());
  std::sort(b.rows.begin(), b.rows.end());
  CHECK(a.rows == b.rows);

  // Ordering needs memory for the stored disorder; past the limit the query says so.
  runtime::QueryRunOptions small;
  small.order_memory_bytes = 16 << 10;
  auto c = run(log_of(d3, shuffled).get(), sql, small);
  CHECK(c.status.code() == Status::Code::kInvalidArgument);
  CHECK(c.status.message().find("event-time order") != std::string::npos);
}

TEST_CASE("a table() query cannot be followed") {
  TempDir dir;
  auto log = log_of(dir, field_feed(2, 10));
  runtime::QueryRunOptions o;
  o.follow = true;
  auto r = run(log.get(), "SELECT count() AS n FROM table(readings)", o);
  CHECK(r.status.code() == Status::Code::kInvalidArgument);
}

TEST_CASE("a stream's saved schema names its time field for queries without a config") {
  TempDir dir;
  auto log = log_of(dir, field_feed(3, 100));
  query::StreamSchema s;
  s.name = "readings";
  s.time_field = "ts";
  s.key_field = "device";
  s.fields = {{"temp", query::ColumnType::kDouble}};
  REQUIRE(runtime::save_stream_schema(log.get(), s).is_ok());
  auto back = runtime::load_stream_schema(*log, "readings");
  REQUIRE(back);
  CHECK(back->time_field == "ts");
  CHECK(back->key_field == "device");
  REQUIRE(back->fields.size() == 1);
  CHECK(back->fields[0].type == query::ColumnType::kDouble);
  CHECK_FALSE(runtime::load_stream_schema(*log, "other"));
  runtime::StreamCatalog catalog(log.get(), {});  // no config
  runtime::QueryRunStats stats;
  Status st = runtime::run_query(log.get(), "SELECT count() AS n FROM tumble(table(readings), ts, 1m)", catalog.catalog(),
                                 {}, nullptr, [](const query::OutputRow&) {}, &stats);
  CHECK_MESSAGE(st.is_ok(), st.to_string());
  CHECK(stats.records_read == 100);
}
