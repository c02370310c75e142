// plan_from_config: what the daemon runs is exactly what agent/config read (one reader of the
// YAML), with secrets, defaults and the decoders' specs in place, and what only the modules can
// refuse reported as FILE:LINE:COL like any config error.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "agent/config/config.h"
#include "agent/runtime/plan.h"

using namespace outpost;

namespace {

config::Config load(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  config::LoadOptions o;
  o.getenv = [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  config::LoadResult r = config::parse_config(yaml, "gw.yaml", o);
  REQUIRE_MESSAGE(r.ok(), r.report());
  return *r.config;
}

const char* kSite = R"(agent:
  id: gw-7
  data_dir: /var/lib/gw
  log_level: debug
storage:
  flush: {interval: 50ms}
  zstd_level: 5
sources:
  - name: plant
    type: mqtt
    broker: ssl://10.0.0.2:8883
    username: outpost
    password_env: MQTT_PW
    protocol: "5"
    tls: {verify: false}
    subscriptions:
      - {topic: plant/+/temp, qos: 2, stream: readings}
  - name: meter
    type: serial
    device: /dev/ttyUSB0
    baud: 115200
    delimiter: "\r\n"
    stream: flow
streams:
  - name: readings
    key_field: device
    time: {field: meta.ts, format: unix_ms}
    fields:
      - {name: temp, type: double, required: true}
      - {name: meta.site, type: string}
    retention: {age: 7d}
  - name: flow
    format: csv
    csv: {columns: [meter, t, flow], delimiter: ";"}
    fields: [{name: flow, type: double}]
    dead_letter: flow.bad
    max_payload: 4KiB
central:
  brokers: 127.0.0.1:9092
  mirrors:
    - {stream: readings, delivery: exactly_once, max_rate: 500/s}
    - {stream: flow.bad, key: none, max_in_flight: 2000}
health: {source_silence: 5m}
)";

}  // namespace

TEST_CASE("a site config becomes the plan the daemon runs, with defaults and secrets resolved") {
  auto plan = runtime::plan_from_config(load(kSite, {{"MQTT_PW", "s3cret"}}));
  REQUIRE_MESSAGE(plan.is_ok(), plan.status().to_string());
  const runtime::Plan& p = plan.value();
  CHECK(p.agent_id == "gw-7");
  CHECK(p.log_level == "debug");
  CHECK(p.store.data_dir == "/var/lib/gw");
  CHECK(p.store.flush_interval_ms == 50);
  CHECK(p.store.zstd_level == 5);
  CHECK(p.http_listen == "127.0.0.1:8470");

  REQUIRE(p.mqtt_sources.size() == 1);
  const auto& m = p.mqtt_sources[0];
  CHECK(m.client_id == "outpost-gw-7-plant");
  CHECK(m.password == "s3cret");
  CHECK(m.version == ingest::MqttVersion::kV5);
  CHECK(m.tls.enabled);
  CHECK_FALSE(m.tls.verify);
  CHECK(m.session_expiry_s == 7 * 24 * 3600);
  CHECK(m.persistence_dir == "/var/lib/gw/mqtt/plant");
  REQUIRE(m.subscriptions.size() == 1);
  CHECK(m.subscriptions[0].qos == 2);
  CHECK(m.subscriptions[0].stream == "readings");

  REQUIRE(p.serial_sources.size() == 1);
  CHECK(p.serial_sources[0].baud == 115200);
  CHECK(p.serial_sources[0].delimiter == "\r\n");
  CHECK(p.serial_sources[0].stream == "flow");

  REQUIRE(p.streams.size() == 2);
  const auto& r = p.streams[0];
  CHECK(r.dead_letter_stream == "readings.dead");
  CHECK(r.retention.retention_ms == 7 * 24 * 3600 * 1000LL);
  CHECK(r.decode.format == decode::Format::kJson);
  CHECK(r.decode.key_field == "device");
  REQUIRE(r.decode.time);
  CHECK(r.decode.time->field == "meta.ts");
  CHECK(r.decode.time->format == decode::TimeFormat::kUnixMs);
  REQUIRE(r.decode.fields.size() == 2);
  CHECK(r.decode.fields[1].path == "meta.site");  // a json field's name is its dotted path
  CHECK(r.decode.fields[0].required);
  const auto& f = p.streams[1];
  CHECK(f.dead_letter_stream == "flow.bad");
  CHECK(f.decode.format == decode::Format::kCsv);
  CHECK(f.decode.csv.delimiter == ';');
  CHECK(f.decode.fields[0].path.empty());  // csv fields are column names
  CHECK(f.decode.max_payload_bytes == 4096);

  CHECK(p.sync_enabled);
  CHECK(p.sync.agent == "gw-7");
  REQUIRE(p.sync.mirrors.size() == 2);
  CHECK(p.sync.mirrors[0].delivery == sync::Delivery::kExactlyOnce);
  CHECK(p.sync.mirrors[0].max_records_per_s == 500);
  CHECK(p.sync.mirrors[1].key == sync::KeyMode::kNone);
  CHECK(p.sync.mirrors[1].topic == "flow.bad");
  CHECK(p.sync.mirrors[1].max_in_flight == 2000);
  // Unset, the config table's default: the same as sync's own.
  CHECK(p.sync.mirrors[0].max_in_flight == sync::MirrorSettings{}.max_in_flight);
  CHECK(p.health.source_silence_ms == 5 * 60 * 1000);
  CHECK(p.health.sync_offline_ms == 15 * 60 * 1000);
}

TEST_CASE("what only the decoder can refuse is reported at the stream, as FILE:LINE:COL") {
  auto plan = runtime::plan_from_config(load(R"(agent: {data_dir: /tmp/x}
streams:
  - name: ok
  - name: quoted
    format: csv
    csv: {columns: [a, b], delimiter: '"'}
)"));
  REQUIRE_FALSE(plan.is_ok());
  CHECK(plan.status().message() == "gw.yaml:4:5: stream 'quoted': the csv delimiter cannot be a quote or a line break");
}

TEST_CASE("queries map onto query plans with the config's defaults, and queries see the declared fields") {
  auto plan = runtime::plan_from_config(load(R"(agent: {data_dir: /tmp/x}
streams:
  - name: s
    fields: [{name: temp, type: double}]
    time: {field: ts, format: unix_ms}
queries:
  - name: q
    sql: SELECT temp FROM s
    start: earliest
    late_policy: update
    allowed_lateness: 30s
)"));
  REQUIRE(plan.is_ok());
  REQUIRE(plan.value().queries.size() == 1);
  const auto& q = plan.value().queries[0];
  CHECK(q.name == "q");
  CHECK(q.result_stream == "q");
  CHECK(q.start_earliest);
  CHECK(q.late_update);
  CHECK(q.allowed_lateness_ms == 30000);
  REQUIRE(plan.value().stream_schemas.size() == 1);
  CHECK(plan.value().stream_schemas[0].time_field == "ts");
  REQUIRE(plan.value().stream_schemas[0].fields.size() == 1);
  CHECK(plan.value().stream_schemas[0].fields[0].name == "temp");
  CHECK(plan.value().stream_schemas[0].fields[0].type == query::ColumnType::kDouble);
}

TEST_CASE("load_plan reports an unreadable file and keeps the file's warnings apart") {
  auto missing = runtime::load_plan("/nonexistent/outpost.yaml");
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().message().rfind("/nonexistent/outpost.yaml: cannot read the config file", 0) == 0);
}

TEST_CASE("the plan names each part's credential files, and central's only when it speaks TLS") {
  // Any readable files will do: the plan carries paths; their content is judged at run time.
  const std::string f = std::string(OUTPOST_SOURCE_DIR) + "/README.md";
  auto yaml = [&](const std::string& protocol) {
    return "agent: {id: gw, data_dir: /tmp/x}\n"
           "sources:\n"
           "  - name: plant\n"
           "    type: mqtt\n"
           "    broker: ssl://10.0.0.2:8883\n"
           "    username: outpost\n"
           "    password_env: MQTT_PW\n"
           "    tls: {ca_file: " + f + ", cert_file: " + f + ", key_file: " + f + "}\n"
           "    subscriptions: [{topic: a/#, stream: s}]\n"
           "streams: [{name: s}]\n"
           "central:\n"
           "  brokers: kafka:9093\n"
           "  security_protocol: " + protocol + "\n"
           "  sasl: {mechanism: PLAIN, username: u, password_env: KAFKA_PW}\n"
           "  tls: {cert_file: " + f + ", key_file: " + f + "}\n"
           "  mirrors: [{stream: s}]\n";
  };
  const std::map<std::string, std::string> env{{"MQTT_PW", "m"}, {"KAFKA_PW", "k"}};
  auto plan = runtime::plan_from_config(load(yaml("sasl_ssl"), env));
  REQUIRE_MESSAGE(plan.is_ok(), plan.status().to_string());
  const runtime::Plan& p = plan.value();
  REQUIRE(p.source_credentials.count("plant") == 1);
  const runtime::Credentials& s = p.source_credentials.at("plant");
  REQUIRE(s.files.size() == 3);
  CHECK(s.files[0].key == "tls.ca_file");
  CHECK(s.files[0].kind == runtime::CredentialFile::Kind::kCaBundle);
  CHECK(s.files[1].key == "tls.cert_file");
  CHECK(s.files[2].kind == runtime::CredentialFile::Kind::kPrivateKey);
  CHECK(s.files[2].path == f);
  CHECK(s.password_origin == "environment variable MQTT_PW");
  REQUIRE(p.central_credentials.files.size() == 2);
  CHECK(p.central_credentials.files[0].key == "tls.cert_file");
  CHECK(p.central_credentials.password_origin == "environment variable KAFKA_PW");

  // sasl_plaintext: librdkafka loads no TLS file, so none is compared (the config warns).
  auto plain = runtime::plan_from_config(load(yaml("sasl_plaintext"), env));
  REQUIRE_MESSAGE(plain.is_ok(), plain.status().to_string());
  CHECK(plain.value().central_credentials.files.empty());
  CHECK(plain.value().central_credentials.password_origin == "environment variable KAFKA_PW");
}
