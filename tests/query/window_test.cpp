// Windows, watermark, emit and late policies: golden event sequences with the exact rows
// expected (docs/SEMANTICS.md 1-14, 17).
#include <algorithm>
#include <limits>
#include <map>
#include <random>

#include "tests/query/query_test_util.h"

using namespace qt;

namespace {

std::string P(const std::string& device, double temp) {
  std::string t = std::to_string(temp);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return R"({"device":")" + device + R"(","temp":)" + t + "}";
}

using Rows = std::vector<std::string>;

const char* kTumbleCols = "SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, device, count() AS n, sum(temp) AS s ";

}  // namespace

TEST_CASE("TumbleInOrderEmitsEachWindowOnceWhenItCloses") {
  Runner r(std::string(kTumbleCols) + "FROM tumble(readings, ts, 10s) GROUP BY window_start, window_end, device");
  r.feed(1000, P("a", 1));
  r.feed(2000, P("b", 2));
  r.feed(9999, P("a", 3));
  CHECK(r.take().empty());
  r.feed(10000, P("a", 4));  // exactly at end: belongs to the next window, closes [0, 10s)
  CHECK(r.take() == Rows{R"({"ws":0,"we":10000,"device":"a","n":2,"s":4})",
                         R"({"ws":0,"we":10000,"device":"b","n":1,"s":2})"});
  CHECK(r.sink.full.empty());
  r.feed(25000, P("b", 5));
  auto rows = r.sink.full;
  CHECK(r.take() == Rows{R"({"ws":10000,"we":20000,"device":"a","n":1,"s":4})"});
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].event_time_ms == 10000);
  CHECK(rows[0].key == R"(["a"])");
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":20000,"we":30000,"device":"b","n":1,"s":5})"});
  CHECK(r.ex->counters().late_events == 0);
  CHECK(r.ex->counters().rows_out == 4);
}

TEST_CASE("WindowColumnsAreRfc3339Utc") {
  Runner r("SELECT window_start, window_end, count() AS n FROM tumble(readings, ts, 1m)");
  r.feed(1714564805123, P("a", 1));
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"window_start":"2024-05-01T12:00:00.000Z","window_end":"2024-05-01T12:01:00.000Z","n":1})"});
}

TEST_CASE("EmptyWindowsAreNeverEmitted") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM tumble(readings, ts, 10s)");
  r.feed(1000, P("a", 1));
  r.feed(35000, P("a", 1));
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":0,"n":1})", R"({"ws":30000,"n":1})"});
}

TEST_CASE("OutOfOrderWithinDelayIsCountedLateIsDropped") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n, min(temp) AS lo FROM tumble(readings, ts, 10s) "
           "EMIT AFTER WATERMARK AND DELAY 5s");
  r.feed(1000, P("a", 5));
  r.feed(8000, P("a", 5));
  r.feed(3000, P("a", 2));
  r.feed(12000, P("a", 5));  // watermark 7s
  r.feed(9000, P("a", 1));   // still open
  CHECK(r.ex->watermark_ms() == 7000);
  CHECK(r.take().empty());
  r.feed(15000, P("a", 5));  // watermark 10s: [0, 10s) closes
  CHECK(r.take() == Rows{R"({"ws":0,"n":4,"lo":1})"});
  r.feed(4000, P("a", 0));  // its only window has closed: late
  CHECK(r.take() == Rows{"LATE 7"});
  const auto c = r.ex->counters();
  CHECK(c.late_events == 1);
  CHECK(c.late_dropped == 1);
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":10000,"n":2,"lo":5})"});
}

TEST_CASE("EmitSpellingsAreEquivalent") {
  for (const char* emit : {"EMIT AFTER WATERMARK AND DELAY 5s", "EMIT AFTER WATERMARK WITH DELAY 5s",
                           "EMIT AFTER WINDOW CLOSE WITH DELAY 5s", "EMIT AFTER WATERMARK DELAY INTERVAL 5 SECOND"}) {
    CAPTURE(emit);
    Runner r(std::string("SELECT count() AS n FROM tumble(readings, ts, 10s) ") + emit);
    r.feed(1000, P("a", 1));
    r.feed(14999, P("a", 1));
    CHECK(r.take().empty());
    r.feed(15000, P("a", 1));
    CHECK(r.take() == Rows{R"({"n":1})"});
  }
}

TEST_CASE("UpdatePolicyRevisesClosedWindowsWithinAllowedLateness") {
  ExecutorOptions o;
  o.late_policy = LatePolicy::kUpdate;
  o.allowed_lateness_ms = 10000;
  Runner r("SELECT to_unix_ms(window_start) AS ws, device, count() AS n FROM tumble(readings, ts, 10s) "
           "GROUP BY window_start, device",
           o);
  r.feed(1000, P("a", 1));
  r.feed(2000, P("b", 1));
  r.feed(10000, P("a", 1));  // closes [0, 10s)
  CHECK(r.take() == Rows{R"({"ws":0,"device":"a","n":1,"_revision":0})",
                         R"({"ws":0,"device":"b","n":1,"_revision":0})"});
  r.feed(3000, P("a", 1));  // late, within lateness: the whole window again, revision + 1
  CHECK(r.take() == Rows{R"({"ws":0,"device":"a","n":2,"_revision":1})",
                         R"({"ws":0,"device":"b","n":1,"_revision":1})"});
  r.feed(4000, P("c", 1));  // a group new to the window starts at revision 0
  CHECK(r.take() == Rows{R"({"ws":0,"device":"a","n":2,"_revision":2})",
                         R"({"ws":0,"device":"b","n":1,"_revision":2})",
                         R"({"ws":0,"device":"c","n":1,"_revision":0})"});
  auto c = r.ex->counters();
  CHECK(c.late_events == 2);
  CHECK(c.late_dropped == 0);
  r.feed(20000, P("a", 1));  // watermark 20s: [10s, 20s) closes; [0, 10s) is past its lateness
  CHECK(r.take() == Rows{R"({"ws":10000,"device":"a","n":1,"_revision":0})"});
  r.feed(5000, P("a", 1));  // beyond the allowed lateness: dropped
  CHECK(r.take() == Rows{"LATE 7"});
  c = r.ex->counters();
  CHECK(c.late_events == 3);
  CHECK(c.late_dropped == 1);
}

TEST_CASE("HopEventInAnOpenWindowIsNotLate") {
  // hop 5s/10s: an event belongs to 2 windows. At watermark 16s the event at 12s is late for
  // [5s, 15s) but still counted in the open [10s, 20s) (Flink's rule; Proton drops it).
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM hop(readings, ts, 5s, 10s)");
  r.feed(1000, P("a", 1));
  r.feed(16000, P("a", 1));
  CHECK(r.take() == Rows{R"({"ws":-5000,"n":1})", R"({"ws":0,"n":1})"});
  r.feed(12000, P("a", 1));
  CHECK(r.take().empty());
  CHECK(r.ex->counters().late_events == 0);
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":10000,"n":2})", R"({"ws":15000,"n":1})"});
}

TEST_CASE("HopEveryEventInCeilSizeOverSlideWindows") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM hop(readings, ts, 10s, 30s)");
  r.feed(25000, P("a", 1));
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":0,"n":1})", R"({"ws":10000,"n":1})", R"({"ws":20000,"n":1})"});
}

TEST_CASE("HopLateForEveryWindowIsDroppedAndUpdateRevisesOnlyClosedOnes") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM hop(readings, ts, 5s, 10s)");
  r.feed(1000, P("a", 1));
  r.feed(30000, P("a", 1));
  r.take();
  r.feed(2000, P("a", 1));
  CHECK(r.take() == Rows{"LATE 3"});

  ExecutorOptions o;
  o.late_policy = LatePolicy::kUpdate;
  o.allowed_lateness_ms = 60000;
  Runner u("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM hop(readings, ts, 5s, 10s)", o);
  u.feed(1000, P("a", 1));
  u.feed(12000, P("a", 1));  // closes [-5s, 5s) and [0, 10s)
  CHECK(u.take() == Rows{R"({"ws":-5000,"n":1,"_revision":0})", R"({"ws":0,"n":1,"_revision":0})"});
  u.feed(6000, P("a", 1));  // [0, 10s) closed -> revised; [5s, 15s) open -> counted
  CHECK(u.take() == Rows{R"({"ws":0,"n":2,"_revision":1})"});
  CHECK(u.ex->counters().late_events == 0);  // not late: one of its windows was open
  u.ex->on_end(u.sink);
  CHECK(u.take() == Rows{R"({"ws":5000,"n":2,"_revision":0})", R"({"ws":10000,"n":1,"_revision":0})"});
}

TEST_CASE("SessionTouchingEventsMergeAndCloseAtLastPlusGap") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, device, count() AS n "
           "FROM session(readings, ts, 5s) GROUP BY device");
  r.feed(1000, P("a", 1));
  r.feed(6000, P("a", 1));  // exactly last + gap: extends the session (Flink rule)
  r.feed(20000, P("a", 1));
  CHECK(r.take() == Rows{R"({"ws":1000,"we":11000,"device":"a","n":2})"});
  r.feed(21000, P("b", 1));
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":20000,"we":25000,"device":"a","n":1})",
                         R"({"ws":21000,"we":26000,"device":"b","n":1})"});
}

TEST_CASE("SessionLateEventMergesTwoSessions") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, count() AS n, max(temp) AS mx "
           "FROM session(readings, ts, 5s) GROUP BY device EMIT AFTER WATERMARK WITH DELAY 10s");
  r.feed(1000, P("a", 1));
  r.feed(11000, P("a", 2));
  r.feed(6000, P("a", 3));  // touches [1s, 6s) and [11s, 16s)
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":1000,"we":16000,"n":3,"mx":3})"});
}

TEST_CASE("SessionMaxLengthCapsAndSplits") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, count() AS n "
           "FROM session(readings, ts, 5s, 8s) GROUP BY device");
  r.feed(0, P("a", 1));
  r.feed(4000, P("a", 1));
  r.feed(8000, P("a", 1));  // would make the session 8s long: starts a new one
  CHECK(r.take() == Rows{R"({"ws":0,"we":8000,"n":2})"});
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":8000,"we":13000,"n":1})"});
}

TEST_CASE("SessionStartAndEndConditions") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, count() AS n "
           "FROM session(readings, ts, 1m, 1h, temp > 50, temp < 20) GROUP BY device");
  r.feed(0, P("a", 30));     // no session and the start condition is false: ignored
  r.feed(1000, P("a", 60));  // starts
  r.feed(2000, P("a", 40));
  r.feed(3000, P("a", 10));  // end condition: closes now, the ending event included
  CHECK(r.take() == Rows{R"({"ws":1000,"we":3001,"n":3})"});
  r.feed(4000, P("a", 60));
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":4000,"we":64000,"n":1})"});
  CHECK(r.ex->counters().late_events == 0);
}

TEST_CASE("SessionLateEventIsDroppedOrRevised") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM session(readings, ts, 5s) GROUP BY device");
  r.feed(1000, P("a", 1));
  r.feed(20000, P("a", 1));
  r.take();
  r.feed(2000, P("a", 1));  // its session [1s, 6s) was closed and emitted
  CHECK(r.take() == Rows{"LATE 3"});

  ExecutorOptions o;
  o.late_policy = LatePolicy::kUpdate;
  o.allowed_lateness_ms = 30000;
  Runner u("SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, count() AS n "
           "FROM session(readings, ts, 5s) GROUP BY device", o);
  u.feed(1000, P("a", 1));
  u.feed(20000, P("a", 1));
  CHECK(u.take() == Rows{R"({"ws":1000,"we":6000,"n":1,"_revision":0})"});
  u.feed(2000, P("a", 1));
  CHECK(u.take() == Rows{R"({"ws":1000,"we":7000,"n":2,"_revision":1})"});
  CHECK(u.ex->counters().late_events == 1);
  CHECK(u.ex->counters().late_dropped == 0);
}

TEST_CASE("EmitOnUpdateEmitsEachChange") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, device, count() AS n FROM tumble(readings, ts, 10s) "
           "GROUP BY window_start, device EMIT ON UPDATE");
  r.feed(1000, P("a", 1));
  r.feed(2000, P("a", 1));
  r.feed(3000, P("b", 1));
  r.feed(12000, P("a", 1));  // closes [0, 10s): nothing more to say about it
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":0,"device":"a","n":1})", R"({"ws":0,"device":"a","n":2})",
                         R"({"ws":0,"device":"b","n":1})", R"({"ws":10000,"device":"a","n":1})"});
}

TEST_CASE("EmitPeriodicEmitsChangedOpenWindows") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, device, count() AS n FROM tumble(readings, ts, 10s) "
           "GROUP BY window_start, device EMIT PERIODIC 1s");
  CHECK(r.q->emit_period_ms() == 1000);
  r.feed(1000, P("a", 1));
  r.feed(2000, P("a", 1));
  r.ex->on_periodic(r.sink);
  CHECK(r.take() == Rows{R"({"ws":0,"device":"a","n":2})"});
  r.ex->on_periodic(r.sink);
  CHECK(r.take().empty());  // unchanged
  r.feed(3000, P("b", 1));
  r.ex->on_periodic(r.sink);
  CHECK(r.take() == Rows{R"({"ws":0,"device":"b","n":1})"});
  r.feed(4000, P("b", 1));
  r.feed(12000, P("a", 1));  // closes [0, 10s): its changed group is emitted with the final value
  CHECK(r.take() == Rows{R"({"ws":0,"device":"b","n":2})"});
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":10000,"device":"a","n":1})"});
}

TEST_CASE("IdleTimeoutClosesOpenWindows") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM tumble(readings, ts, 10s) "
           "EMIT AFTER WATERMARK AND DELAY 5s");
  r.feed(1000, P("a", 1));
  r.feed(12000, P("a", 1));
  CHECK(r.take().empty());
  r.ex->on_idle(r.sink);  // the watermark moves past every open window: all of them close
  CHECK(r.ex->watermark_ms() == 20000);
  CHECK(r.take() == Rows{R"({"ws":0,"n":1})", R"({"ws":10000,"n":1})"});
  r.feed(11000, P("a", 1));  // its window was emitted at the idle timeout: late
  r.feed(5000, P("a", 1));
  CHECK(r.take() == Rows{"LATE 3", "LATE 4"});
  r.ex->on_idle(r.sink);  // nothing new: the watermark stays
  CHECK(r.ex->watermark_ms() == 20000);
  r.feed(23000, P("a", 1));  // a new window after the idle period
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":20000,"n":1})"});
}

TEST_CASE("IdleTimeoutClosesTheWindowOfTheNewestEventToo") {
  // A source that stops for good: its last window is emitted at the idle timeout, not never.
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM tumble(readings, ts, 1m)");
  r.feed(61000, P("a", 1));
  r.feed(62000, P("a", 1));
  CHECK(r.take().empty());
  r.ex->on_idle(r.sink);
  CHECK(r.take() == Rows{R"({"ws":60000,"n":2})"});
  CHECK(r.ex->watermark_ms() == 120000);
}

TEST_CASE("WatermarkNeverDecreases") {
  Runner r("SELECT count() AS n FROM tumble(readings, ts, 10s) EMIT AFTER WATERMARK AND DELAY 2s");
  CHECK(r.ex->watermark_ms() == std::numeric_limits<std::int64_t>::min());
  r.feed(10000, P("a", 1));
  CHECK(r.ex->watermark_ms() == 8000);
  r.feed(3000, P("a", 1));
  CHECK(r.ex->watermark_ms() == 8000);
  r.feed(9000, P("a", 1));
  CHECK(r.ex->watermark_ms() == 8000);
  r.feed(10500, P("a", 1));
  CHECK(r.ex->watermark_ms() == 8500);
}

TEST_CASE("DuplicateTimesAndEarliestLatestTieBreakBySequence") {
  Runner r("SELECT count() AS n, earliest(temp) AS first, latest(temp) AS last, min(device) AS lo, "
           "max(device) AS hi, count_distinct(device) AS nd FROM tumble(readings, ts, 10s)");
  r.feed(5000, P("b", 1));
  r.feed(5000, P("a", 2));
  r.feed(5000, P("c", 3));
  r.feed(4000, P("b", 4));
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"n":4,"first":4,"last":3,"lo":"a","hi":"c","nd":3})"});
}

TEST_CASE("KeyChurnFreesClosedGroups") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, device, count() AS n FROM tumble(readings, ts, 10s) "
           "GROUP BY window_start, device");
  for (int w = 0; w < 3; ++w) {
    for (int k = 0; k < 50; ++k) r.feed(w * 10000 + k, P("w" + std::to_string(w) + "k" + std::to_string(k), 1));
  }
  const auto c = r.ex->counters();
  CHECK(c.open_windows == 1);
  CHECK(c.open_groups == 50);
  CHECK(c.state_bytes > 0);
  CHECK(r.take().size() == 100);
  r.ex->on_end(r.sink);
  CHECK(r.take().size() == 50);
  CHECK(r.ex->counters().open_groups == 0);
}

TEST_CASE("HavingFiltersGroups") {
  Runner r("SELECT device, count() AS n FROM tumble(readings, ts, 10s) GROUP BY device HAVING n > 1");
  r.feed(1000, P("a", 1));
  r.feed(2000, P("a", 1));
  r.feed(3000, P("b", 1));
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"device":"a","n":2})"});
}

TEST_CASE("HistoricalAggregatesEmitAtEnd") {
  Runner r("SELECT device, count() AS n, avg(temp) AS a, p50(temp) AS m, stddev_pop(temp) AS sd "
           "FROM table(readings) GROUP BY device");
  r.feed(1, P("b", 2));
  r.feed(2, P("a", 1));
  r.feed(3, P("a", 3));
  CHECK(r.take().empty());
  r.ex->on_end(r.sink);
  const auto rows = r.take();
  REQUIRE(rows.size() == 2);
  // p50 is the sketch's estimate: within 1% of 2 (docs/SEMANTICS.md 13).
  CHECK(rows[1].rfind(R"({"device":"b","n":1,"a":2,"m":1.99)", 0) == 0);
  CHECK(rows[1].find(R"("sd":0})") != std::string::npos);
  CHECK(rows[0].rfind(R"({"device":"a","n":2,"a":2,"m":)", 0) == 0);

  Runner empty("SELECT count() AS n, avg(temp) AS a FROM table(readings)");
  empty.ex->on_end(empty.sink);
  CHECK(empty.take() == Rows{R"({"n":0,"a":null})"});
}

TEST_CASE("WhereFilteredRecordsStillAdvanceTheWatermark") {
  Runner r("SELECT count() AS n FROM tumble(readings, ts, 10s) WHERE temp > 5");
  r.feed(1000, P("a", 10));
  r.feed(15000, P("a", 1));  // filtered out, yet the watermark moves: [0, 10s) closes
  CHECK(r.take() == Rows{R"({"n":1})"});
}

// ---- shuffle (docs/SEMANTICS.md 14) and restart (docs/SEMANTICS.md 16) ----

namespace {

struct Ev {
  std::int64_t t;
  std::string payload;
};

std::vector<Ev> random_events(std::uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> step(0, 700);
  std::uniform_int_distribution<int> dev(0, 6);
  std::uniform_real_distribution<double> temp(-20, 40);
  std::vector<Ev> v;
  std::int64_t t = 1700000000000;
  for (int i = 0; i < n; ++i) {
    t += step(rng);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", temp(rng));
    v.push_back({t, std::string(R"({"device":"d)") + std::to_string(dev(rng)) + R"(","temp":)" + buf + "}"});
  }
  return v;
}

// Reorders events so that none is more than `disorder` ms behind the largest event time before it.
std::vector<Ev> shuffle_within(std::vector<Ev> v, std::int64_t disorder, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int64_t> jitter(0, disorder);
  std::vector<std::pair<std::int64_t, std::size_t>> order;
  for (std::size_t i = 0; i < v.size(); ++i) order.emplace_back(v[i].t + jitter(rng), i);
  std::sort(order.begin(), order.end());
  std::vector<Ev> out;
  for (auto& [k, i] : order) out.push_back(v[i]);
  return out;
}

Rows run_all(const std::string& sql, const std::vector<Ev>& evs, ExecutorOptions o = {}) {
  Runner r(sql, o);
  for (const auto& e : evs) r.feed(e.t, e.payload);
  r.ex->on_end(r.sink);
  return r.take();
}

const char* kShuffleQueries[] = {
    "SELECT window_start, device, count() AS n, sum(temp) AS s, avg(temp) AS a, min(temp) AS lo, max(temp) AS hi, "
    "p99(temp) AS p, stddev(temp) AS sd, count_distinct(temp) AS nd FROM tumble(readings, ts, 10s) "
    "GROUP BY window_start, device EMIT AFTER WATERMARK AND DELAY 3s",
    "SELECT window_start, window_end, count() AS n, sum(temp) AS s, quantile(temp, 0.5) AS q FROM hop(readings, ts, 5s, 20s) "
    "GROUP BY window_start, window_end EMIT AFTER WATERMARK AND DELAY 3s",
    "SELECT window_start, window_end, device, count() AS n, avg(temp) AS a FROM session(readings, ts, 2s) "
    "GROUP BY device EMIT AFTER WATERMARK AND DELAY 3s",
};

}  // namespace

TEST_CASE("ShuffleWithinAllowedDisorderGivesTheSameRows") {
  const auto evs = random_events(7, 3000);
  for (const char* sql : kShuffleQueries) {
    CAPTURE(sql);
    const Rows base = run_all(sql, evs);
    CHECK(base.size() > 10);
    for (std::uint32_t seed = 1; seed <= 3; ++seed) {
      const auto shuffled = shuffle_within(evs, 3000, seed);
      CHECK(run_all(sql, shuffled) == base);
    }
  }
}

// ---- history: batch semantics (docs/SEMANTICS.md, "History and live") ----

namespace {

// Feeds `evs` to a batch executor in the given order, announcing before each record the bound
// `bound_of(i)` (what the store's reader promises: no record from i on is older), then ends.
template <typename Bound>
Rows run_batch(const std::string& sql, const std::vector<Ev>& evs, const Bound& bound_of) {
  ExecutorOptions o;
  o.time_mode = TimeMode::kBatch;
  Runner r(sql, o);
  for (std::size_t i = 0; i < evs.size(); ++i) {
    r.ex->advance_input_bound(bound_of(i), r.sink);
    r.feed(evs[i].t, evs[i].payload);
  }
  r.ex->on_end(r.sink);
  CHECK(r.ex->counters().late_events == 0);
  return r.take();
}

// The exact bound: the smallest event time from record i on.
std::vector<std::int64_t> suffix_min(const std::vector<Ev>& evs) {
  std::vector<std::int64_t> m(evs.size() + 1, std::numeric_limits<std::int64_t>::max());
  for (std::size_t i = evs.size(); i-- > 0;) m[i] = std::min(m[i + 1], evs[i].t);
  return m;
}

}  // namespace

TEST_CASE("HistoryCountsEveryStoredRecordWhateverTheOrder") {
  // Sorted input gives the reference; any other arrival order (records far behind the newest
  // included, which the live rules drop) must give the same rows, with or without early bounds.
  const auto evs = random_events(11, 2000);
  std::vector<Ev> sorted = evs;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Ev& a, const Ev& b) { return a.t < b.t; });
  const char* queries[] = {
      "SELECT window_start, device, count() AS n, sum(temp) AS s, avg(temp) AS a, min(temp) AS lo, max(temp) AS hi, "
      "p99(temp) AS p FROM tumble(table(readings), ts, 10s) GROUP BY window_start, device",
      "SELECT window_start, window_end, count() AS n, sum(temp) AS s FROM hop(table(readings), ts, 5s, 20s) "
      "GROUP BY window_start, window_end",
  };
  for (const char* sql : queries) {
    CAPTURE(sql);
    const Rows base = run_batch(sql, sorted, [](std::size_t) { return std::numeric_limits<std::int64_t>::min(); });
    CHECK(base.size() > 10);
    const auto sm = suffix_min(sorted);
    CHECK(run_batch(sql, sorted, [&](std::size_t i) { return sm[i]; }) == base);
    for (std::uint32_t seed = 1; seed <= 3; ++seed) {
      std::vector<Ev> shuffled = evs;
      std::mt19937 rng(seed);
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      const auto m = suffix_min(shuffled);
      CHECK(run_batch(sql, shuffled, [&](std::size_t i) { return m[i]; }) == base);
    }
  }
  // The live rules over the same shuffled records drop some as late; batch counts all.
  std::vector<Ev> shuffled = evs;
  std::mt19937 rng(5);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  Runner live("SELECT count() AS n FROM tumble(readings, ts, 10s)");
  for (const auto& e : shuffled) live.feed(e.t, e.payload);
  live.ex->on_end(live.sink);
  CHECK(live.ex->counters().late_events > 0);
  ExecutorOptions o;
  o.time_mode = TimeMode::kBatch;
  Runner batch("SELECT count() AS n FROM tumble(table(readings), ts, 10s)", o);
  for (const auto& e : shuffled) batch.feed(e.t, e.payload);
  batch.ex->on_end(batch.sink);
  std::uint64_t total = 0;
  for (const auto& row : batch.take()) total += std::stoull(row.substr(row.find(':') + 1));
  CHECK(total == shuffled.size());
}

TEST_CASE("HistoryClosesWindowsByTheInputBound") {
  // Windows ending at or before the bound are emitted at once (memory follows the disorder, not
  // the history's length); nothing is emitted before the bound passes a window's end.
  ExecutorOptions o;
  o.time_mode = TimeMode::kBatch;
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM tumble(table(readings), ts, 10s)", o);
  r.feed(25000, P("a", 1));
  r.feed(1000, P("a", 1));  // far behind the newest: still counted
  CHECK(r.take().empty());
  r.ex->advance_input_bound(10000, r.sink);
  CHECK(r.take() == Rows{R"({"ws":0,"n":1})"});
  CHECK(r.ex->counters().open_windows == 1);
  r.feed(12000, P("a", 1));
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":10000,"n":1})", R"({"ws":20000,"n":1})"});
}

TEST_CASE("HistorySessionsMergeAcrossCompleteData") {
  // Sessions are the connected runs of the complete data, whatever the arrival order: events
  // that reach the executor long after the newest one still bridge two runs.
  const char* sql = "SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, device, count() AS n "
                    "FROM session(table(readings), ts, 5s) GROUP BY device";
  std::vector<Ev> evs;
  for (std::int64_t t : {1000, 4000, 9000, 30000, 33000, 60000}) evs.push_back(Ev{t, P("a", 1)});
  std::vector<Ev> sorted = evs;
  const Rows want{R"({"ws":1000,"we":14000,"device":"a","n":3})", R"({"ws":30000,"we":38000,"device":"a","n":2})",
                  R"({"ws":60000,"we":65000,"device":"a","n":1})"};
  CHECK(run_batch(sql, sorted, [](std::size_t) { return std::numeric_limits<std::int64_t>::min(); }) == want);
  std::vector<Ev> reversed(evs.rbegin(), evs.rend());
  const auto m = suffix_min(reversed);
  CHECK(run_batch(sql, reversed, [&](std::size_t i) { return m[i]; }) == want);
  // Live, the same reversed order drops all but the newest event of each run as late.
  Runner live("SELECT count() AS n FROM session(readings, ts, 5s) GROUP BY device");
  for (const auto& e : reversed) live.feed(e.t, e.payload);
  CHECK(live.ex->counters().late_events > 0);
  // Random orders of a larger set agree with sorted order.
  const auto many = random_events(13, 1500);
  std::vector<Ev> many_sorted = many;
  std::stable_sort(many_sorted.begin(), many_sorted.end(), [](const Ev& a, const Ev& b) { return a.t < b.t; });
  const char* sql2 = "SELECT window_start, window_end, device, count() AS n, sum(temp) AS s FROM "
                     "session(table(readings), ts, 2s) GROUP BY device";
  const Rows base = run_batch(sql2, many_sorted, [](std::size_t) { return std::numeric_limits<std::int64_t>::min(); });
  CHECK(base.size() > 10);
  std::vector<Ev> shuffled = many;
  std::mt19937 rng(3);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const auto ms = suffix_min(shuffled);
  Rows got = run_batch(sql2, shuffled, [&](std::size_t i) { return ms[i]; });
  // Sessions close in the order the bound passes their ends; compare as sets of rows.
  Rows want2 = base;
  std::sort(got.begin(), got.end());
  std::sort(want2.begin(), want2.end());
  CHECK(got == want2);
}

namespace {

// Feeds `evs`, and before every record saves the state, restores it into a fresh executor and
// continues with that one; on_periodic/on_idle are called at fixed points in both runs.
Rows run_with_restarts(const std::string& sql, const std::vector<Ev>& evs, ExecutorOptions o, bool restart) {
  auto q = must_compile(sql);
  auto ex = Executor::create(q, o);
  Collect sink;
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    if (restart) {
      const std::string state = ex->save_state();
      auto fresh = Executor::create(q, o);
      const Status st = fresh->load_state(state);
      REQUIRE(st.is_ok());
      CHECK(fresh->save_state() == state);
      ex = std::move(fresh);
    }
    store::RecordView r;
    r.seq = ++seq;
    r.event_time_ms = evs[i].t;
    r.ingest_time_ms = evs[i].t;
    r.payload = evs[i].payload;
    ex->on_record(r, sink);
    if (i % 37 == 36) ex->on_periodic(sink);
    if (i % 101 == 100) ex->on_idle(sink);
  }
  ex->on_end(sink);
  const auto c = ex->counters();
  sink.rows.push_back("records_in=" + std::to_string(c.records_in) + " rows_out=" + std::to_string(c.rows_out) +
                      " late=" + std::to_string(c.late_events) + "/" + std::to_string(c.late_dropped));
  return sink.rows;
}

}  // namespace

TEST_CASE("SaveAndLoadStateAtEveryRecordGivesIdenticalOutput") {
  // Out of order beyond the delay, so late events (drop and update) are part of the state.
  const auto evs = shuffle_within(random_events(11, 400), 6000, 5);
  const char* queries[] = {
      kShuffleQueries[0],
      kShuffleQueries[1],
      kShuffleQueries[2],
      "SELECT window_start, device, count() AS n, earliest(temp) AS e, latest(temp) AS l FROM tumble(readings, ts, 5s) "
      "GROUP BY window_start, device EMIT PERIODIC 1s",
      "SELECT window_start, device, max(temp) AS m FROM tumble(readings, ts, 5s) GROUP BY window_start, device EMIT ON UPDATE",
      "SELECT window_start, device, count() AS n FROM session(readings, ts, 1s, 3s, temp > 0, temp < -15) GROUP BY device",
      "SELECT device, count() AS n, sum(temp) AS s FROM table(readings) GROUP BY device",
      "SELECT device, temp FROM readings WHERE temp > 30",
  };
  std::size_t runs_with_late = 0;
  for (const char* sql : queries) {
    for (const LatePolicy policy : {LatePolicy::kDrop, LatePolicy::kUpdate}) {
      CAPTURE(sql);
      CAPTURE(static_cast<int>(policy));
      ExecutorOptions o;
      o.late_policy = policy;
      o.allowed_lateness_ms = policy == LatePolicy::kUpdate ? 2000 : 0;
      const Rows straight = run_with_restarts(sql, evs, o, false);
      CHECK(straight.size() > 1);
      MESSAGE(straight.back());
      if (straight.back().find(" late=0/") == std::string::npos) ++runs_with_late;
      CHECK(run_with_restarts(sql, evs, o, true) == straight);
    }
  }
  CHECK(runs_with_late >= 8);  // the input really has late events for the window queries
}

TEST_CASE("LoadStateRejectsForeignOrDamagedBytes") {
  auto q = must_compile("SELECT count() AS n FROM tumble(readings, ts, 10s)");
  auto other = must_compile("SELECT count() AS n FROM tumble(readings, ts, 20s)");
  auto ex = Executor::create(q, {});
  Collect sink;
  store::RecordView r;
  r.seq = 1;
  r.event_time_ms = 1000;
  r.payload = P("a", 1);
  ex->on_record(r, sink);
  const std::string state = ex->save_state();
  CHECK(Executor::create(other, {})->load_state(state).code() == Status::Code::kInvalidArgument);
  ExecutorOptions upd;
  upd.late_policy = LatePolicy::kUpdate;
  CHECK_FALSE(Executor::create(q, upd)->load_state(state).is_ok());
  CHECK(Executor::create(q, {})->load_state("garbage").code() == Status::Code::kCorruption);
  for (std::size_t n = 0; n < state.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(Executor::create(q, {})->load_state(state.substr(0, n)).is_ok());
  }
  CHECK(Executor::create(q, {})->load_state(state + "x").code() == Status::Code::kCorruption);
  // Whitespace and comments do not change a query's identity.
  auto same = must_compile("select count()  AS n -- c\nFROM tumble(readings, ts, 10s)");
  CHECK(Executor::create(same, {})->load_state(state).is_ok());
}

// ---- against a brute-force reference ----

namespace {

struct RefEv {
  std::int64_t t;
  int device;
  std::int64_t hum;
};

// Expected rows of `SELECT to_unix_ms(window_start) AS ws, device, count() AS n, sum(hum) AS s,
// min(hum) AS lo, max(hum) AS hi FROM hop(readings, ts, slide, size) GROUP BY window_start, device
// EMIT AFTER WATERMARK AND DELAY delay` under the drop policy, computed the slow and obvious way:
// an event counts in a window iff the window had not closed (end <= watermark) when it arrived.
Rows reference_rows(const std::vector<RefEv>& evs, std::int64_t slide, std::int64_t size, std::int64_t delay,
                    std::uint64_t* late) {
  struct Agg {
    std::int64_t n = 0, s = 0, lo = 0, hi = 0;
  };
  std::map<std::pair<std::int64_t, int>, Agg> acc;
  std::int64_t wm = std::numeric_limits<std::int64_t>::min(), max_t = wm;
  *late = 0;
  auto floor_div = [](std::int64_t a, std::int64_t b) { return (a / b - ((a % b) < 0 ? 1 : 0)) * b; };
  for (const auto& e : evs) {
    bool counted = false;
    for (std::int64_t s = floor_div(e.t, slide); s > e.t - size; s -= slide) {
      if (s + size <= wm) continue;
      counted = true;
      Agg& a = acc[{s, e.device}];
      if (a.n == 0) a.lo = a.hi = e.hum;
      ++a.n;
      a.s += e.hum;
      a.lo = std::min(a.lo, e.hum);
      a.hi = std::max(a.hi, e.hum);
    }
    if (!counted) ++*late;
    max_t = std::max(max_t, e.t);
    wm = std::max(wm, max_t - delay);
  }
  Rows rows;
  for (const auto& [k, a] : acc) {
    rows.push_back(R"({"ws":)" + std::to_string(k.first) + R"(,"device":"d)" + std::to_string(k.second) +
                   R"(","n":)" + std::to_string(a.n) + R"(,"s":)" + std::to_string(a.s) + R"(,"lo":)" +
                   std::to_string(a.lo) + R"(,"hi":)" + std::to_string(a.hi) + "}");
  }
  return rows;
}

}  // namespace

TEST_CASE("RandomDisorderedInputMatchesABruteForceReference") {
  std::mt19937 rng(42);
  for (int round = 0; round < 12; ++round) {
    const std::int64_t slide = 1000 * (1 + static_cast<std::int64_t>(rng() % 5));
    const std::int64_t size = slide * (1 + static_cast<std::int64_t>(rng() % 4));
    const std::int64_t delay = 500 * static_cast<std::int64_t>(rng() % 8);
    std::vector<RefEv> evs;
    std::int64_t t = -20000 + static_cast<std::int64_t>(rng() % 10000);
    for (int i = 0; i < 300; ++i) {
      t += static_cast<std::int64_t>(rng() % 400);
      const std::int64_t jitter = static_cast<std::int64_t>(rng() % 6000);  // some events far behind
      evs.push_back({t - jitter, static_cast<int>(rng() % 4), static_cast<std::int64_t>(rng() % 200) - 100});
    }
    std::uint64_t ref_late = 0;
    Rows expected = reference_rows(evs, slide, size, delay, &ref_late);
    const std::string sql = "SELECT to_unix_ms(window_start) AS ws, device, count() AS n, sum(hum) AS s, min(hum) AS lo, "
                            "max(hum) AS hi FROM hop(readings, ts, " + std::to_string(slide) + "ms, " +
                            std::to_string(size) + "ms) GROUP BY window_start, device EMIT AFTER WATERMARK AND DELAY " +
                            std::to_string(delay) + "ms";
    CAPTURE(sql);
    Runner r(sql);
    for (const auto& e : evs)
      r.feed(e.t, R"({"device":"d)" + std::to_string(e.device) + R"(","hum":)" + std::to_string(e.hum) + "}");
    r.ex->on_end(r.sink);
    Rows got;
    for (const auto& row : r.take())
      if (row.rfind("LATE", 0) != 0) got.push_back(row);
    // The executor emits in window-close order, the reference in (window, device) order: the
    // same thing for windows of one size.
    CHECK(got == expected);
    CHECK(r.ex->counters().late_events == ref_late);
  }
}

TEST_CASE("OnUpdateWithUpdatePolicyCarriesRevisionsPerGroup") {
  ExecutorOptions o;
  o.late_policy = LatePolicy::kUpdate;
  o.allowed_lateness_ms = 10000;
  Runner r("SELECT to_unix_ms(window_start) AS ws, device, count() AS n FROM tumble(readings, ts, 10s) "
           "GROUP BY window_start, device EMIT ON UPDATE", o);
  r.feed(1000, P("a", 1));
  r.feed(2000, P("b", 1));
  r.feed(12000, P("a", 1));
  r.feed(3000, P("a", 1));  // late, within lateness: only the changed group, next revision
  CHECK(r.take() == Rows{R"({"ws":0,"device":"a","n":1,"_revision":0})", R"({"ws":0,"device":"b","n":1,"_revision":0})",
                         R"({"ws":10000,"device":"a","n":1,"_revision":0})",
                         R"({"ws":0,"device":"a","n":2,"_revision":1})"});
  CHECK(r.ex->counters().late_events == 1);
  CHECK(r.ex->counters().late_dropped == 0);
}

TEST_CASE("SessionsWithPeriodicEmitAndIdle") {
  Runner r("SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, device, count() AS n "
           "FROM session(readings, ts, 5s) GROUP BY device EMIT PERIODIC 1s");
  r.feed(1000, P("a", 1));
  r.feed(2000, P("b", 1));
  r.ex->on_periodic(r.sink);
  CHECK(r.take() == Rows{R"({"ws":1000,"we":6000,"device":"a","n":1})", R"({"ws":2000,"we":7000,"device":"b","n":1})"});
  r.feed(3000, P("a", 1));
  r.ex->on_periodic(r.sink);
  CHECK(r.take() == Rows{R"({"ws":1000,"we":8000,"device":"a","n":2})"});
  r.feed(4000, P("a", 1));
  r.ex->on_periodic(r.sink);
  CHECK(r.take() == Rows{R"({"ws":1000,"we":9000,"device":"a","n":3})"});
  r.feed(3500, P("b", 1));  // b's session grows to [2s, 8.5s): changed since its last emission
  r.ex->on_idle(r.sink);  // watermark 9s, past every open session: all close, the changed one is emitted
  CHECK(r.ex->watermark_ms() == 9000);
  CHECK(r.take() == Rows{R"({"ws":2000,"we":8500,"device":"b","n":2})"});
  r.feed(3000, P("c", 1));  // its session would end at 8s, behind the watermark: late
  CHECK(r.take() == Rows{"LATE 6"});
  r.feed(9500, P("c", 1));
  r.ex->on_end(r.sink);  // c never emitted
  CHECK(r.take() == Rows{R"({"ws":9500,"we":14500,"device":"c","n":1})"});
}

TEST_CASE("IdleClosesHopWindowsAndSessions") {
  Runner h("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM hop(readings, ts, 5s, 10s)");
  h.feed(7000, P("a", 1));
  h.feed(9000, P("a", 1));
  CHECK(h.take().empty());
  h.ex->on_idle(h.sink);  // [0, 10s) and [5s, 15s) both close: watermark 15s
  CHECK(h.take() == Rows{R"({"ws":0,"n":2})", R"({"ws":5000,"n":2})"});
  CHECK(h.ex->watermark_ms() == 15000);

  Runner s("SELECT count() AS n FROM session(readings, ts, 1s) GROUP BY device");
  s.feed(1000, P("a", 1));
  s.feed(1500, P("a", 1));
  s.feed(1700, P("b", 1));
  CHECK(s.take().empty());
  s.ex->on_idle(s.sink);  // a's [1s, 2.5s) and b's [1.7s, 2.7s) close: watermark 2.7s
  CHECK(s.take() == Rows{R"({"n":2})", R"({"n":1})"});
  CHECK(s.ex->watermark_ms() == 2700);
}

TEST_CASE("OnEndUnderUpdatePolicyEmitsAndForgetsEverything") {
  ExecutorOptions o;
  o.late_policy = LatePolicy::kUpdate;
  o.allowed_lateness_ms = 60000;
  Runner r("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM tumble(readings, ts, 10s)", o);
  r.feed(1000, P("a", 1));
  r.feed(15000, P("a", 1));
  CHECK(r.take() == Rows{R"({"ws":0,"n":1,"_revision":0})"});
  CHECK(r.ex->counters().open_groups == 2);  // the closed window is kept for revisions
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":10000,"n":1,"_revision":0})"});
  CHECK(r.ex->counters().open_groups == 0);
  r.feed(2000, P("a", 1));  // after the end everything is late
  CHECK(r.take() == Rows{"LATE 3"});
}

TEST_CASE("GroupByExpressionsMatchSelectExpressions") {
  Runner r("SELECT upper(lower(device)) AS d, count() AS n, max(temp) - min(temp) AS spread FROM tumble(readings, ts, 10s) "
           "GROUP BY lower(device)");
  r.feed(1000, P("A", 1));
  r.feed(2000, P("a", 4));
  r.feed(3000, P("b", 2));
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"d":"A","n":2,"spread":3})", R"({"d":"B","n":1,"spread":0})"});
  CHECK(r.sink.full.empty());
}

TEST_CASE("WindowsAlignToTheEpochPlusAnOptionalOffset") {
  Runner t("SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, count() AS n "
           "FROM tumble(readings, ts, 10s, 3s)");
  t.feed(2000, P("a", 1));
  t.feed(3000, P("a", 1));
  t.feed(12999, P("a", 1));
  t.ex->on_end(t.sink);
  CHECK(t.take() == Rows{R"({"ws":-7000,"we":3000,"n":1})", R"({"ws":3000,"we":13000,"n":2})"});
  Runner h("SELECT to_unix_ms(window_start) AS ws, count() AS n FROM hop(readings, ts, 5s, 10s, INTERVAL 1 SECOND)");
  h.feed(5500, P("a", 1));
  h.ex->on_end(h.sink);
  CHECK(h.take() == Rows{R"({"ws":-4000,"n":1})", R"({"ws":1000,"n":1})"});
  const SqlError e = must_fail("SELECT count() FROM tumble(readings, ts, 10s, 10s)");
  CHECK(e.message == "bad interval: the window offset must be smaller than the window size");
}

TEST_CASE("SealedSessionKeptForRevisionsDoesNotCollideWithANewOneAtTheSameStart") {
  ExecutorOptions o;
  o.late_policy = LatePolicy::kUpdate;
  o.allowed_lateness_ms = 60000;
  Runner r("SELECT to_unix_ms(window_start) AS ws, to_unix_ms(window_end) AS we, count() AS n "
           "FROM session(readings, ts, 10s, 1m, temp > 50, temp > 90) GROUP BY device", o);
  r.feed(1000, P("a", 95));  // starts and ends at once: [1s, 1.001s), kept for revisions
  r.feed(1000, P("a", 60));  // a new session at the same start
  r.feed(5000, P("a", 60));
  r.feed(30000, P("b", 60));  // closes a's open session
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"ws":1000,"we":1001,"n":1,"_revision":0})", R"({"ws":1000,"we":15000,"n":2,"_revision":0})",
                         R"({"ws":30000,"we":40000,"n":1,"_revision":0})"});
}

TEST_CASE("TimestampAggregatesAreRfc3339") {
  Runner r("SELECT device, min(_tp_time) AS first_seen, max(ts) AS last_ts, latest(_seq) AS last_seq "
           "FROM tumble(readings, ts, 1h) GROUP BY device");
  r.feed(1714564800000, R"({"device":"a","ts":"2024-05-01T12:00:00Z"})");
  r.feed(1714564801500, R"({"device":"a","ts":1714564801.5})");
  r.ex->on_end(r.sink);
  CHECK(r.take() == Rows{R"({"device":"a","first_seen":"2024-05-01T12:00:00.000Z","last_ts":"2024-05-01T12:00:01.500Z","last_seq":2})"});
}

// The group table is a hash table (grown while it fills) and windows are emitted by sorting
// groups on a 16-byte key prefix: the rows must still come in exact key order for keys that
// share long prefixes, are prefixes of each other or are longer than the prefix, and a state
// snapshot taken mid-window must restore the same groups.
TEST_CASE("ManyGroupsComeInKeyOrderAndSurviveAStateRoundTrip") {
  std::vector<std::string> devices;
  for (int i = 0; i < 300; ++i) devices.push_back("d" + std::to_string(i));
  for (const char* d : {"sensor-0000000000", "sensor-00000000000", "sensor-000000000000000000-a",
                        "sensor-000000000000000000-b", "sensor-000000000000000000", "sensor-00000000",
                        "sensor-000000000Z", "sensor-0000000000000000", "sensor-000000000000000", "s"})
    devices.push_back(d);
  std::vector<std::string> order = devices;
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  const std::string sql = "SELECT device, count() AS n FROM tumble(readings, ts, 10s) GROUP BY window_start, device";
  Runner r(sql);
  for (std::size_t i = 0; i < order.size(); ++i) r.feed(1000 + static_cast<std::int64_t>(i % 7), P(order[i], 1));
  const std::string state = r.ex->save_state();
  auto restored = Executor::create(r.q, {});
  REQUIRE(restored->load_state(state).is_ok());
  CHECK(restored->save_state() == state);
  for (const auto& d : devices) r.feed(2000, P(d, 2));
  r.ex->on_end(r.sink);
  std::sort(devices.begin(), devices.end());
  Rows expected;
  for (const auto& d : devices) expected.push_back(R"({"device":")" + d + R"(","n":2})");
  CHECK(r.take() == expected);
}
