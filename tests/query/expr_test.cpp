// Expressions over records: projection, arithmetic, NULL logic, functions, casts.
#include "tests/query/query_test_util.h"

using namespace qt;

namespace {

// Evaluates `expr` over one record with `payload` and returns the JSON of the single column.
std::string eval1(const std::string& expr, const std::string& payload = R"({"device":"d1","temp":21.5,"hum":40,"site":"north","ok":true,"meta":{"fw":"1.2"}})") {
  Runner r("SELECT " + expr + " AS v FROM readings");
  if (!r.ex) return "<compile error>";
  r.feed(1000, payload, "d1");
  auto rows = r.take();
  if (rows.size() != 1) return "<no row>";
  const std::string& p = rows[0];
  const std::string prefix = "{\"v\":";
  if (p.rfind(prefix, 0) != 0) return "<bad row " + p + ">";
  return p.substr(prefix.size(), p.size() - prefix.size() - 1);
}

}  // namespace

TEST_CASE("FilterQueryStreamsRecordByRecord") {
  Runner r("SELECT device, temp * 1.8 + 32 AS f FROM readings WHERE temp > 80");
  r.feed(1000, R"({"device":"a","temp":81})", "a");
  r.feed(2000, R"({"device":"b","temp":20})", "b");
  r.feed(3000, R"({"device":"c","temp":100.5})", "c");
  CHECK(r.sink.full.size() == 2);
  CHECK(r.sink.full[0].event_time_ms == 1000);
  CHECK(r.sink.full[0].key == "a");
  auto rows = r.take();
  CHECK(rows == std::vector<std::string>{R"({"device":"a","f":177.8})", R"({"device":"c","f":212.9})"});
}

TEST_CASE("ArithmeticAndTypes") {
  CHECK(eval1("1 + 2") == "3");
  CHECK(eval1("7 / 2") == "3.5");  // '/' is floating division (ClickHouse/Proton)
  CHECK(eval1("7 % 3") == "1");
  CHECK(eval1("int_div(7, 2)") == "3");
  CHECK(eval1("hum * 2") == "80");
  CHECK(eval1("temp - 1.5") == "20");
  CHECK(eval1("-temp") == "-21.5");
  CHECK(eval1("1 / 0") == "null");
  CHECK(eval1("9223372036854775807 + 1") == "9223372036854775808");  // overflow moves to double
  CHECK(eval1("sqrt(-1)") == "null");
  CHECK(eval1("pow(2, 10)") == "1024");
  CHECK(eval1("exp(1000)") == "null");  // inf is not JSON: null
}

TEST_CASE("NullLogicIsThreeValued") {
  CHECK(eval1("NULL AND FALSE") == "false");
  CHECK(eval1("NULL AND TRUE") == "null");
  CHECK(eval1("NULL OR TRUE") == "true");
  CHECK(eval1("NULL OR FALSE") == "null");
  CHECK(eval1("NOT NULL") == "null");
  CHECK(eval1("missing = 1") == "null");
  CHECK(eval1("missing IS NULL") == "true");
  CHECK(eval1("temp IS NOT NULL") == "true");
  CHECK(eval1("1 IN (2, NULL)") == "null");
  CHECK(eval1("1 IN (1, NULL)") == "true");
  CHECK(eval1("1 NOT IN (2, NULL)") == "null");
  CHECK(eval1("3 NOT IN (1, 2)") == "true");
  CHECK(eval1("NULL + 1") == "null");
  CHECK(eval1("coalesce(missing, NULL, 'x')") == "\"x\"");
  CHECK(eval1("2 BETWEEN 1 AND NULL") == "null");
  CHECK(eval1("5 BETWEEN 1 AND NULL") == "null");
  CHECK(eval1("0 BETWEEN 1 AND NULL") == "false");
  CHECK(eval1("temp BETWEEN 20 AND 22") == "true");
  CHECK(eval1("temp NOT BETWEEN 20 AND 22") == "false");
}

TEST_CASE("WhereMaySeeSelectAliases") {
  Runner r("SELECT device, temp * 1.8 + 32 AS f FROM readings WHERE f > 100");
  r.feed(1, R"({"device":"a","temp":40})");
  r.feed(2, R"({"device":"b","temp":30})");
  CHECK(r.take() == std::vector<std::string>{R"({"device":"a","f":104})"});
}

TEST_CASE("WhereDropsNullAndFalse") {
  Runner r("SELECT device FROM readings WHERE temp > 20");
  r.feed(1, R"({"device":"a","temp":null})");
  r.feed(2, R"({"device":"b"})");
  r.feed(3, R"({"device":"c","temp":25})");
  CHECK(r.take() == std::vector<std::string>{R"({"device":"c"})"});
}

TEST_CASE("StringFunctionsAndLike") {
  CHECK(eval1("lower('AbC')") == "\"abc\"");
  CHECK(eval1("upper(device)") == "\"D1\"");
  CHECK(eval1("length('héllo')") == "5");
  CHECK(eval1("concat(device, '-', hum)") == "\"d1-40\"");
  CHECK(eval1("device || '/' || site") == "\"d1/north\"");
  CHECK(eval1("substr('abcdef', 2, 3)") == "\"bcd\"");
  CHECK(eval1("substring('abcdef', 4)") == "\"def\"");
  CHECK(eval1("trim('  x ')") == "\"x\"");
  CHECK(eval1("starts_with(site, 'no')") == "true");
  CHECK(eval1("ends_with(site, 'th')") == "true");
  CHECK(eval1("replace('a-b-c', '-', '+')") == "\"a+b+c\"");
  CHECK(eval1("site LIKE 'n%h'") == "true");
  CHECK(eval1("site LIKE 'n_rth'") == "true");
  CHECK(eval1("site NOT LIKE 'S%'") == "true");
  CHECK(eval1("site ILIKE 'NOR%'") == "true");
  CHECK(eval1("'50%' LIKE '50\\%'") == "true");
  CHECK(eval1("meta.fw") == "\"1.2\"");
}

TEST_CASE("MathFunctions") {
  CHECK(eval1("abs(-3)") == "3");
  CHECK(eval1("round(2.567, 2)") == "2.57");
  CHECK(eval1("round(2.5)") == "3");
  CHECK(eval1("floor(-1.5)") == "-2");
  CHECK(eval1("ceil(1.2)") == "2");
  CHECK(eval1("least(3, 1, 2)") == "1");
  CHECK(eval1("greatest(3, 1.5, 2)") == "3");
  CHECK(eval1("ln(1)") == "0");
  CHECK(eval1("log10(1000)") == "3");
  CHECK(eval1("if(temp > 20, 'hot', 'cold')") == "\"hot\"");
  CHECK(eval1("nullif(hum, 40)") == "null");
  CHECK(eval1("multi_if(temp > 30, 'hot', temp > 20, 'warm', 'cold')") == "\"warm\"");
  CHECK(eval1("multi_if(NULL, 1, 2)") == "2");
  CHECK(eval1("to_int64('12') + to_float32('0.5')") == "12.5");
}

TEST_CASE("CaseAndCasts") {
  CHECK(eval1("CASE WHEN temp > 30 THEN 'hot' WHEN temp > 20 THEN 'warm' ELSE 'cold' END") == "\"warm\"");
  CHECK(eval1("CASE site WHEN 'south' THEN 1 WHEN 'north' THEN 2 END") == "2");
  CHECK(eval1("CASE WHEN FALSE THEN 1 END") == "null");
  CHECK(eval1("CAST('42' AS int)") == "42");
  CHECK(eval1("CAST(temp AS int)") == "21");
  CHECK(eval1("CAST(hum AS string)") == "\"40\"");
  CHECK(eval1("CAST('yes' AS bool)") == "true");
  CHECK(eval1("CAST('x' AS int)") == "null");
  CHECK(eval1("to_int('7')") == "7");
  CHECK(eval1("to_float('2.5')") == "2.5");
  CHECK(eval1("to_string(1.5)") == "\"1.5\"");
  CHECK(eval1("hum::double / 8") == "5");
}

TEST_CASE("PseudoColumns") {
  Runner r("SELECT _tp_time, _seq, _key, _ingest_time, to_unix_ms(_tp_time) AS ms FROM readings");
  r.feed(1700000000123, R"({"device":"a"})", "a");
  r.feed(1700000000124, R"({"device":"b"})");
  CHECK(r.take() == std::vector<std::string>{
                        R"({"_tp_time":"2023-11-14T22:13:20.123Z","_seq":1,"_key":"a","_ingest_time":"2023-11-14T22:13:20.123Z","ms":1700000000123})",
                        R"({"_tp_time":"2023-11-14T22:13:20.124Z","_seq":2,"_key":null,"_ingest_time":"2023-11-14T22:13:20.124Z","ms":1700000000124})"});
}

TEST_CASE("TimestampColumnsCompareWithTextAndNumbers") {
  Runner r("SELECT device FROM readings WHERE ts >= '2024-05-01T12:00:00Z' AND _tp_time > 0");
  r.feed(1, R"({"device":"old","ts":"2024-05-01T11:59:59Z"})");
  r.feed(2, R"({"device":"new","ts":1714564800})");
  CHECK(r.take() == std::vector<std::string>{R"({"device":"new"})"});
}

TEST_CASE("BadRecordsAreCountedAndSkipped") {
  Runner r("SELECT device, temp + 1 AS t FROM readings");
  r.feed(1, "not json");
  r.feed(2, "[1,2]");
  r.feed(3, R"({"device":"a","temp":"warm"})");  // declared double, got a string
  r.feed(4, R"({"device":"b","temp":1})");
  CHECK(r.take() == std::vector<std::string>{R"({"device":"b","t":2})"});
  CHECK(r.ex->counters().eval_errors == 3);
  CHECK(r.ex->counters().records_in == 4);
  CHECK(r.ex->counters().rows_out == 1);
}

TEST_CASE("SelectStarPassesThePayload") {
  Runner r("SELECT * FROM readings WHERE hum > 10");
  r.feed(1, R"( {"device":"a","hum":11} )");
  CHECK(r.take() == std::vector<std::string>{R"({"device":"a","hum":11})"});
}

TEST_CASE("UndeclaredMembersAreTypedByTheirJsonValue") {
  CHECK(eval1("battery * 2", R"({"battery":1.5})") == "3");
  CHECK(eval1("extra.nested", R"({"extra":{"nested":[1,2]}})") == "\"[1,2]\"");
  CHECK(eval1("`weird-name`", R"({"weird-name":true})") == "true");
}

TEST_CASE("GroupKeysSortNaturallyAndRoundTrip") {
  Runner r("SELECT label, count() AS n FROM table(readings) GROUP BY label");
  for (const char* k : {"\"b\"", "\"a\\u0000z\"", "\"a\"", "\"ab\"", "-1.5", "10", "-3", "2.25", "null", "true",
                        "-0.0", "0.0", "\"\""}) {
    r.feed(1, std::string(R"({"label":)") + k + "}");
  }
  r.ex->on_end(r.sink);
  CHECK(r.take() == std::vector<std::string>{
                        R"({"label":null,"n":1})", R"({"label":true,"n":1})", R"({"label":-3,"n":1})", R"({"label":10,"n":1})",
                        R"({"label":-1.5,"n":1})", R"({"label":0,"n":2})", R"({"label":2.25,"n":1})", R"({"label":"","n":1})",
                        R"({"label":"a","n":1})", "{\"label\":\"a\\u0000z\",\"n\":1}", R"({"label":"ab","n":1})",
                        R"({"label":"b","n":1})"});
}
