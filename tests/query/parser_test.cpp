// Parser and compiler: every rejection has the exact message and position users see.
#include "tests/query/query_test_util.h"

using namespace qt;

namespace {

struct BadQuery {
  const char* sql;
  int line;
  int column;
  const char* message;
};

const BadQuery kBad[] = {
    {"SELECT window_start, tmp, count() FROM tumble(readings, ts, 1m)", 1, 22,
     "unknown column 'tmp' (did you mean 'temp'?)"},
    {"SELECT tmp FROM readings", 1, 8,
     "unknown column 'tmp' (did you mean 'temp'?)"},
    {"SELECT device FROM nowhere", 1, 20,
     "unknown stream 'nowhere'"},
    {"SELECT device FROM readings WHERE", 1, 34,
     "expected an expression, got the end of the query"},
    {"SELECT device, FROM readings", 1, 16,
     "expected an expression, got 'FROM'"},
    {"SELECT frobnicate(temp) FROM readings", 1, 8,
     "unknown function 'frobnicate'"},
    {"SELECT avgg(temp) FROM readings", 1, 8,
     "unknown function 'avgg' (did you mean 'avg'?)"},
    {"SELECT device FROM readings WHERE count() > 1", 1, 35,
     "aggregate function count() is not allowed in WHERE"},
    {"SELECT device, count() FROM tumble(readings, ts, 1m)", 1, 8,
     "column 'device' must be in GROUP BY or inside an aggregate function"},
    {"SELECT count() FROM readings", 1, 8,
     "a streaming aggregation needs a window: use FROM tumble(readings, <time>, 1m), hop(...) or session(...), or table(readings) for a one-off query over stored data"},
    {"SELECT window_start, count() FROM tumble(readings, ts, 10x)", 1, 56,
     "bad interval '10x' (use a number and one of ms, s, m, h, d, e.g. 10s)"},
    {"SELECT window_start, count() FROM tumble(readings, ts, 0s)", 1, 56,
     "bad interval: the window size must be greater than zero"},
    {"SELECT window_start, count() FROM hop(readings, ts, 1m, 10s)", 1, 57,
     "bad interval: the hop size must not be smaller than the slide"},
    {"SELECT window_start, count() FROM tumble(readings, temp, 1m)", 1, 52,
     "the window time column must be the stream's event time: 'ts' (its time field) or _tp_time, got 'temp'"},
    {"SELECT window_start, count() FROM tumble(readings, ts, 1m) EMIT AFTER NOTHING", 1, 71,
     "expected WATERMARK or WINDOW CLOSE after EMIT AFTER, got 'NOTHING'"},
    {"SELECT device FROM readings WHERE temp > 'hot'", 1, 42,
     "cannot compare double with string"},
    {"SELECT device + 1 FROM readings", 1, 8,
     "operator '+' expects numbers, got string (use || or concat() for strings)"},
    {"SELECT sum(device) FROM table(readings)", 1, 12,
     "sum() expects a number, got string"},
    {"SELECT max(count()) FROM table(readings)", 1, 12,
     "aggregate function count() cannot be nested inside another aggregate"},
    {"SELECT 'abc FROM readings", 1, 8,
     "unterminated string literal"},
    {"SELECT device FROM readings ORDER BY device", 1, 29,
     "ORDER BY is not supported (stream results come in window order)"},
    {"SELECT quantile(temp, 1.5) FROM table(readings)", 1, 23,
     "quantile() level must be a number literal between 0 and 1"},
    {"SELECT window_start FROM readings", 1, 8,
     "window_start is only available in window queries (FROM tumble/hop/session(...))"},
    {"SELECT device FROM readings WHERE temp > 1 AND", 1, 47,
     "expected an expression, got the end of the query"},
    {"SELECT device FROM readings LIMIT 10", 1, 29,
     "LIMIT is not supported"},
    {"SELECT CAST(temp AS blob) FROM readings", 1, 8,
     "unknown type 'blob' in CAST (use int, double, string, bool or timestamp)"},
    {"SELECT device FROM readings WHERE temp", 1, 35,
     "WHERE expects a boolean condition, got double"},
    {"SELECT device, device FROM readings", 1, 16,
     "duplicate output column 'device' (use AS to rename)"},
    {"SELECT lower(temp) FROM readings", 1, 14,
     "lower() expects a string, got double"},
    {"SELECT window_start, count() FROM tumble(readings, ts, 1.5s)", 1, 56,
     "bad interval '1.5s': the number must be a whole number (use 1500ms, not 1.5s)"},
    {"SELECT window_start, count() FROM session(readings, ts, 5m, 1m)", 1, 61,
     "bad interval: the session max length must not be smaller than the gap"},
    {"SELECT count() FROM table(readings) HAVING device = 'x'", 1, 44,
     "column 'device' must be in GROUP BY or inside an aggregate function"},
    {"SELECT substr('x') FROM readings", 1, 8,
     "substr() takes 2 to 3 arguments, got 1"},
    {"SELECT device FROM readings WHERE temp > 1 EMIT ON UPDATE", 1, 44,
     "EMIT is only allowed in window queries (FROM tumble/hop/session(...))"},
    {"SELECT * , device FROM readings", 1, 8,
     "'*' cannot be combined with other SELECT columns"},
    {"SELECT device FROM readings; SELECT 1", 1, 30,
     "expected the end of the query, got 'SELECT'"},
    {"SELECT device FROM readings WHERE temp ~ 3", 1, 40,
     "unexpected character '~'"},
    {"SELECT window_start, count() FROM tumble(readings, ts, 1m) GROUP BY window_start, device HAVING temp > 1", 1, 97,
     "column 'temp' must be in GROUP BY or inside an aggregate function"},
    {"SELECT window_start, count() FROM tumble(readings, ts, INTERVAL 5 FORTNIGHT)", 1, 67,
     "expected an interval unit (MILLISECOND, SECOND, MINUTE, HOUR or DAY), got 'FORTNIGHT'"},
};

}  // namespace

TEST_CASE("BadQueriesAreRejectedWithMessageAndPosition") {
  for (const auto& b : kBad) {
    CAPTURE(b.sql);
    const SqlError e = must_fail(b.sql);
    CHECK(e.message == b.message);
    CHECK(e.line == b.line);
    CHECK(e.column == b.column);
  }
}

TEST_CASE("ErrorPositionCountsLinesAndCharacters") {
  const SqlError e = must_fail("SELECT device,\n       tmp\nFROM readings");
  CHECK(e.to_string() == "line 2, column 8: unknown column 'tmp' (did you mean 'temp'?)");
  CHECK(e.offset == 22);
  const SqlError u = must_fail("SELECT 'é', tmp FROM readings");
  CHECK(u.column == 13);  // characters, not bytes
}

TEST_CASE("GoodQueriesCompile") {
  const char* good[] = {
      "SELECT device, temp * 1.8 + 32 AS f FROM readings WHERE temp > 80",
      "select device from readings where site = 'north' and not ok",
      "SELECT window_start, window_end, device, count() AS n, avg(temp) AS avg_t, max(temp), p99(temp)\n"
      "FROM tumble(readings, ts, 1m)\nWHERE temp > -40 AND site = 'north'\n"
      "GROUP BY window_start, window_end, device\nHAVING count() > 3\nEMIT AFTER WATERMARK AND DELAY 10s",
      "SELECT window_start, count() FROM hop(readings, ts, 10s, 1m) GROUP BY window_start EMIT AFTER WATERMARK WITH DELAY 5s",
      "SELECT window_start, count() FROM tumble(readings, _tp_time, INTERVAL 1 MINUTE) EMIT AFTER WINDOW CLOSE WITH DELAY 10s",
      "SELECT window_start, window_end, device, count() FROM session(readings, ts, 5m) GROUP BY device",
      "SELECT window_start, device, count() FROM session(readings, ts, 5m, 1h, temp > 50, temp < 20) GROUP BY device",
      "SELECT window_start, count() FROM tumble(readings, ts, 500ms) EMIT PERIODIC 1s",
      "SELECT window_start, device, count() c FROM tumble(readings, ts, 1h) GROUP BY device EMIT ON UPDATE",
      "SELECT device, count() AS n FROM table(readings) GROUP BY device HAVING n > 1",
      "SELECT count(*), count(DISTINCT device), quantile(temp, 0.9), stddev(temp), earliest(temp), latest(temp) FROM table(readings)",
      "SELECT * FROM table(readings) WHERE ts > '2024-01-01T00:00:00Z' -- comment",
      "/* block */ SELECT `meta.fw`, meta.fw AS fw2, \"site\" FROM readings;",
      "SELECT lower(site) AS s, count() FROM tumble(table(readings), ts, 1d) GROUP BY lower(site)",
      "SELECT window_start, count() FROM tumble(readings, 1m)",  // Proton: time column defaults to _tp_time
      "SELECT window_start, count() FROM session(readings, 30s)",
  };
  for (const char* sql : good) {
    CAPTURE(sql);
    auto q = must_compile(sql);
    REQUIRE(q);
  }
}

TEST_CASE("QueryDescribesItself") {
  auto q = must_compile(
      "SELECT window_start, device, count() AS n FROM tumble(readings, ts, 1m) GROUP BY device "
      "EMIT PERIODIC 2s AND DELAY 3s");
  REQUIRE(q);
  CHECK(q->input_stream() == "readings");
  CHECK(q->windowed());
  CHECK_FALSE(q->historical());
  CHECK(q->columns() == std::vector<std::string>{"window_start", "device", "n"});
  CHECK(q->emit_period_ms() == 2000);
  CHECK(q->delay_ms() == 3000);
  auto h = must_compile("SELECT max(temp) FROM table(readings)");
  REQUIRE(h);
  CHECK(h->historical());
  CHECK(h->columns() == std::vector<std::string>{"max(temp)"});
}

TEST_CASE("EveryRejectionHasAMessage") {
  // Truncations of a long valid query: each prefix either compiles or says why not.
  const std::string sql =
      "SELECT window_start, device, count() AS n, p99(temp) FROM hop(readings, ts, 10s, 1m) "
      "WHERE temp BETWEEN -40 AND 80 AND site IN ('a', 'b') GROUP BY window_start, device "
      "HAVING n > 3 EMIT AFTER WATERMARK AND DELAY 10s";
  for (std::size_t n = 0; n <= sql.size(); ++n) {
    auto r = compile(sql.substr(0, n), catalog());
    if (auto* e = std::get_if<SqlError>(&r)) {
      CAPTURE(n);
      CHECK_FALSE(e->message.empty());
      CHECK(e->offset <= n);
    }
  }
}

TEST_CASE("HugeExpressionsAreRejectedNotCrashing") {
  std::string chain = "SELECT 1";
  for (int i = 0; i < 200000; ++i) chain += "+1";
  chain += " AS x FROM readings";
  const SqlError e = must_fail(chain);
  CHECK(e.message == "expression nested too deeply (more than 256 levels)");
  std::string nested = "SELECT ";
  for (int i = 0; i < 100000; ++i) nested += "(";
  const SqlError n = must_fail(nested);
  CHECK(n.message == "expression nested too deeply");
  std::string ok = "SELECT 1";
  for (int i = 0; i < 200; ++i) ok += "+1";
  auto q = must_compile(ok + " AS x FROM readings");
  REQUIRE(q);
  Runner r(ok + " AS x FROM readings");
  r.feed(1, "{}");
  CHECK(r.take() == std::vector<std::string>{R"({"x":201})"});
}
