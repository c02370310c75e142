// The SQL check behind `outpost check`: queries are compiled against the config's streams and
// errors point into the SQL.
#include <doctest/doctest.h>

#include "agent/config/config.h"
#include "agent/query/config_check.h"

using namespace outpost;

namespace {

config::LoadResult load(const std::string& queries) {
  const std::string yaml = R"(agent:
  data_dir: /tmp/outpost-query-test
streams:
  - name: readings
    format: json
    fields:
      - {name: device, type: string}
      - {name: temp, type: double}
      - {name: meta.unit, type: string}
    key_field: device
    time: {field: ts}
queries:
)" + queries;
  config::LoadOptions o;
  o.touch_files = false;
  o.sql_check = &query::check_query_sql;
  return config::parse_config(yaml, "outpost.yaml", o);
}

}  // namespace

TEST_CASE("ConfigCheckAcceptsGoodQueries") {
  auto r = load(R"(  - name: per_minute
    sql: SELECT window_start, device, avg(temp) AS a, max(meta.unit) AS u FROM tumble(readings, ts, 1m) GROUP BY window_start, device
  - name: chained
    sql: SELECT device, a FROM per_minute WHERE a > 10
)");
  CHECK(r.report() == "");
  CHECK(r.ok());
}

TEST_CASE("ConfigCheckReportsSqlErrorsWithTheirPosition") {
  auto r = load(R"y(  - name: bad
    sql: "SELECT window_start, tmp, count() FROM tumble(readings, ts, 1m)"
)y");
  CHECK_FALSE(r.ok());
  CHECK(r.report().find("query 'bad': unknown column 'tmp' (did you mean 'temp'?) (at SQL line 1, column 22)") !=
        std::string::npos);
}

TEST_CASE("ConfigCheckRejectsUnknownStreamsAndWarnsOnUselessUpdatePolicy") {
  auto r = load(R"(  - name: nowhere
    sql: SELECT device FROM sensors
)");
  CHECK(r.report().find("unknown stream 'sensors'") != std::string::npos);
  auto w = load(R"(  - name: alert
    sql: SELECT device FROM readings WHERE temp > 80
    late_policy: update
)");
  CHECK(w.ok());
  CHECK(w.report().find("late_policy 'update' has no effect on a query without a window") != std::string::npos);
}

TEST_CASE("SchemaOfMapsDeclaredFields") {
  config::StreamConfig s;
  s.name = "x";
  s.time_field = "ts";
  s.key_field = "k";
  s.fields.push_back({"a.b", config::FieldType::kTimestamp, false, {}});
  const auto schema = query::schema_of(s);
  CHECK(schema.name == "x");
  CHECK(schema.time_field == "ts");
  CHECK(schema.key_field == "k");
  REQUIRE(schema.fields.size() == 1);
  CHECK(schema.fields[0].name == "a.b");
  CHECK(schema.fields[0].type == query::ColumnType::kTimestamp);
}

TEST_CASE("ExampleConfigQueriesCompile") {
  config::LoadOptions o;
  o.touch_files = false;
  o.sql_check = &query::check_query_sql;
  o.getenv = [](const std::string&) -> std::optional<std::string> { return std::string("1"); };
  auto r = config::load_config_file(std::string(OUTPOST_SOURCE_DIR) + "/examples/site.yaml", o);
  CHECK(r.report().find("query '") == std::string::npos);
  CHECK(r.ok());
}
