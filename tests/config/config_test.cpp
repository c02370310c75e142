// agent/config: the table-driven loader. Broken configs report exactly the expected
// FILE:LINE:COL messages (all of them); shipped configs load clean; units, did-you-mean,
// environment and credential expansion, the SQL hook; the table, the structs and docs/CONFIG.md
// cannot drift apart.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "agent/config/config.h"
#include "agent/config/loader_internal.h"
#include "agent/config/schema.h"

namespace fs = std::filesystem;
using namespace outpost::config;

namespace {

const fs::path kSource = OUTPOST_SOURCE_DIR;

// A fixed environment: tests never depend on the machine's.
LoadOptions env_options(std::map<std::string, std::string> env = {}) {
  LoadOptions o;
  o.getenv = [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return o;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> errors_of(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) {
    if (d.is_error()) out.push_back(d.to_string());
  }
  return out;
}

std::vector<std::string> warnings_of(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) {
    if (!d.is_error()) out.push_back(d.to_string());
  }
  return out;
}

LoadResult parse(const std::string& yaml, LoadOptions o = env_options()) {
  return parse_config(yaml, "t.yaml", o);
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += "\n  " + x;
  return s;
}

// A temp file removed at scope exit.
struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& content, const std::string& name = "secret") {
    path = fs::temp_directory_path() / ("outpost-config-test-" + std::to_string(::getpid()) + "-" + name);
    std::ofstream(path, std::ios::binary) << content;
  }
  ~TempFile() { fs::remove(path); }
};

const std::map<std::string, std::string> kDemoEnv = {
    {"OUTPOST_DEMO_DATA", "/tmp/outpost-demo"},
    {"OUTPOST_DEMO_MQTT_PORT", "18830"},
    {"OUTPOST_DEMO_KAFKA", "127.0.0.1:19092"},
    {"OUTPOST_SERIAL_DEVICE", "/dev/ttyUSB0"},
    {"KAFKA_PASSWORD", "s3cret"},
    {"CREDENTIALS_DIRECTORY", "/run/credentials/outpost.service"},
};

}  // namespace

TEST_CASE("every broken config in the corpus reports exactly its expected FILE:LINE:COL errors") {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kSource / "tests/config/broken")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 30);
  for (const auto& path : files) {
    CAPTURE(path.filename().string());
    std::vector<std::string> want;
    std::istringstream lines(read_file(path));
    for (std::string line; std::getline(lines, line) && line.rfind("# expect: ", 0) == 0;) {
      want.push_back(path.string() + ":" + line.substr(10));
    }
    REQUIRE_MESSAGE(!want.empty(), "the file must start with '# expect: LINE:COL: message' lines");
    LoadResult r = load_config_file(path.string(), env_options({{"OUTPOST_TEST_PASSWORD", "s3cret"}}));
    CHECK_FALSE(r.ok());
    std::vector<std::string> got = errors_of(r);
    CHECK_MESSAGE(got == want, "want:" << joined(want) << "\ngot:" << joined(got));
  }
}

TEST_CASE("shipped configs (examples/, the packaged default) load without errors or warnings") {
  std::vector<fs::path> files = {kSource / "systemd/outpost.yaml"};
  for (const auto& e : fs::directory_iterator(kSource / "examples")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  CHECK(files.size() >= 3);
  for (const auto& path : files) {
    CAPTURE(path.string());
    LoadOptions o = env_options(kDemoEnv);
    o.touch_files = false;  // examples name credential files that exist only on a gateway
    LoadResult r = load_config_file(path.string(), o);
    CHECK_MESSAGE(r.ok(), r.report());
    CHECK_MESSAGE(warnings_of(r).empty(), r.report());
  }
}

TEST_CASE("durations: whole number and unit, no space") {
  CHECK(parse_duration_ms("200ms") == 200);
  CHECK(parse_duration_ms("10s") == 10'000);
  CHECK(parse_duration_ms("5m") == 300'000);
  CHECK(parse_duration_ms("1h") == 3'600'000);
  CHECK(parse_duration_ms("7d") == 7 * 86'400'000LL);
  CHECK(parse_duration_ms("0s") == 0);
  for (const char* bad : {"10 s", "10", "s", "1.5s", "-1s", "10sec", "5min", "10S", " 10s", "10s ", "",
                          "99999999999999999999d", "9223372036854775807d"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration_ms(bad).has_value());
  }
  CHECK(format_duration_ms(90'000) == "90s");
  CHECK(format_duration_ms(300'000) == "5m");
  CHECK(format_duration_ms(1500) == "1500ms");
}

TEST_CASE("sizes: bytes, binary and decimal units; rates per second") {
  CHECK(parse_size_bytes("4096") == 4096u);
  CHECK(parse_size_bytes("64KiB") == 64u << 10);
  CHECK(parse_size_bytes("16MiB") == 16u << 20);
  CHECK(parse_size_bytes("1GiB") == 1ull << 30);
  CHECK(parse_size_bytes("2TiB") == 2ull << 40);
  CHECK(parse_size_bytes("5KB") == 5'000u);
  CHECK(parse_size_bytes("5MB") == 5'000'000u);
  CHECK(parse_size_bytes("5GB") == 5'000'000'000u);
  CHECK(parse_size_bytes("10B") == 10u);
  for (const char* bad : {"64 MB", "5MiBs", "5mb", "5M", "1.5GiB", "-1", "MiB", "", "99999999999TiB"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_size_bytes(bad).has_value());
  }
  auto r = parse_rate("500/s");
  REQUIRE(r);
  CHECK(r->records_per_s == 500);
  CHECK(r->bytes_per_s == 0);
  r = parse_rate("1MiB/s");
  REQUIRE(r);
  CHECK(r->bytes_per_s == 1 << 20);
  CHECK(r->records_per_s == 0);
  for (const char* bad : {"fast", "500", "500/m", "500 /s", "1MiB", "/s", "5M/s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_rate(bad).has_value());
  }
}

TEST_CASE("did-you-mean suggests a close key, never a far one") {

  LoadResult r = parse("agent: {data_dir: /tmp/x}\nstorage:\n  flush:\n    intervall: 1s\n");
  CHECK(errors_of(r) ==
        std::vector<std::string>{"t.yaml:4:5: unknown key 'intervall' in storage.flush (did you mean 'interval'?)"});
  r = parse("agent: {data_dir: /tmp/x}\nstorage:\n  completely_wrong: 1\n");
  CHECK(errors_of(r) == std::vector<std::string>{"t.yaml:3:3: unknown key 'completely_wrong' in storage"});
}

TEST_CASE("MQTT topic filters are checked by the spec's wildcard rules") {
  for (const char* ok : {"a", "a/b", "#", "+", "a/+/c", "a/#", "+/+/#", "/a", "a//b", "$SYS/#",
                         "$share/g/a/+/b", "$share/g/#"}) {
    CAPTURE(ok);
    CHECK(check_topic_filter(ok).empty());
  }
  for (const char* bad : {"", "a/#/b", "a#", "a/b#", "a+/b", "a/+b", "$share/g", "$share//a", "$share/g+/a",
                          "$share/g/"}) {
    CAPTURE(bad);
    CHECK_FALSE(check_topic_filter(bad).empty());
  }
}

TEST_CASE("${VAR} and ${VAR:-default} expand in every value; $${ is literal; unset is an error") {
  LoadResult r = parse(
      "agent:\n  id: ${SITE}-gw\n  data_dir: ${DATA:-/var/lib/outpost}\n"
      "  http: {listen: '127.0.0.1:${PORT:-8470}'}\n"
      "storage: {flush: {interval: '${FLUSH}'}}\n"
      "streams: [{name: r, key_field: 'literal$${x}'}]\n",
      env_options({{"SITE", "pump7"}, {"FLUSH", "50ms"}}));
  REQUIRE_MESSAGE(r.ok(), r.report());
  CHECK(r.config->agent.id == "pump7-gw");
  CHECK(r.config->agent.data_dir == "/var/lib/outpost");
  CHECK(r.config->agent.http_listen == "127.0.0.1:8470");
  CHECK(r.config->storage.flush_interval_ms == 50);
  CHECK(r.config->streams[0].key_field == "literal${x}");

  r = parse("agent: {data_dir: '${NOPE}/x'}\n");
  CHECK(errors_of(r) == std::vector<std::string>{"t.yaml:1:19: environment variable NOPE is not set"});
  r = parse("agent: {data_dir: '${oops'}\n");
  CHECK(errors_of(r) ==
        std::vector<std::string>{"t.yaml:1:19: unterminated ${ in '${oops' (write $${ for a literal ${)"});
}

TEST_CASE("secrets come from password_env or password_file, never from the YAML") {
  const std::string head =
      "agent: {data_dir: /tmp/x}\nstreams: [{name: r}]\n"
      "sources:\n  - name: s\n    type: mqtt\n    broker: tcp://127.0.0.1:1883\n    username: u\n";
  const std::string subs = "    subscriptions: [{topic: a/#, stream: r}]\n";

  LoadResult r = parse(head + "    password_env: MQTT_PW\n" + subs, env_options({{"MQTT_PW", "hunter2"}}));
  REQUIRE_MESSAGE(r.ok(), r.report());
  CHECK(r.config->mqtt_sources[0].password.value == "hunter2");
  CHECK(r.config->mqtt_sources[0].password.origin == "environment variable MQTT_PW");

  TempFile secret("from-file\n", "mqtt-password");
  const std::string dir = secret.path.parent_path().string();
  const std::string name = secret.path.filename().string();
  r = parse(head + "    password_file: ${CREDENTIALS_DIRECTORY}/" + name + "\n" + subs,
            env_options({{"CREDENTIALS_DIRECTORY", dir}}));
  REQUIRE_MESSAGE(r.ok(), r.report());
  CHECK(r.config->mqtt_sources[0].password.value == "from-file");  // trailing newline removed
  CHECK(r.config->mqtt_sources[0].password.origin == "file " + secret.path.string());
  // The value never appears in anything printable.
  CHECK(r.report().find("from-file") == std::string::npos);

  r = parse(head + "    password: hunter2\n" + subs);
  REQUIRE(errors_of(r).size() == 1);
  CHECK(errors_of(r)[0].find("a password is never written in the config in clear") != std::string::npos);
  CHECK(r.report().find("hunter2") == std::string::npos);  // not echoed back either

  TempFile empty("", "empty-password");
  r = parse(head + "    password_file: " + empty.path.string() + "\n" + subs);
  CHECK(r.ok());
  REQUIRE(warnings_of(r).size() == 1);
  CHECK(warnings_of(r)[0].find("is empty") != std::string::npos);
}

TEST_CASE("an empty config gets the table's defaults, which equal the store's own") {
  LoadResult r = parse("agent: {id: a}\n");
  REQUIRE_MESSAGE(r.ok(), r.report());
  const Config& c = *r.config;
  const outpost::store::Options store_defaults;
  CHECK(c.storage.segment_bytes == store_defaults.segment_bytes);
  CHECK(c.storage.block_bytes == store_defaults.block_bytes);
  CHECK(c.storage.flush_interval_ms == store_defaults.flush_interval_ms);
  CHECK(c.storage.flush_bytes == store_defaults.flush_bytes);
  CHECK(c.storage.fsync == store_defaults.fsync);
  CHECK(c.storage.zstd_level == store_defaults.zstd_level);
  CHECK(c.storage.quota_bytes == store_defaults.quota_bytes);
  CHECK(c.storage.on_full == store_defaults.on_full);
  CHECK(c.agent.data_dir == "/var/lib/outpost");
  CHECK(c.storage.data_dir == c.agent.data_dir);
  CHECK(c.agent.http_listen == "127.0.0.1:8470");
  CHECK(c.agent.log_level == LogLevel::kInfo);
  CHECK(c.health.sync_offline_ms == 15 * 60 * 1000);
  CHECK_FALSE(c.central.enabled);

  char host[256] = {};
  gethostname(host, sizeof host - 1);
  r = parse("storage: {}\n");
  REQUIRE(r.ok());
  CHECK(r.config->agent.id == std::string(host));
}

// Every key of the table is read by the binding layer: a key declared but never bound would
// be accepted and silently ignored.
const char* const kFullConfig = R"(
agent:
  id: gw-1
  data_dir: /tmp/outpost-full
  http: {listen: "0.0.0.0:9000"}
  log_level: debug
storage:
  segment_size: 32MiB
  block_size: 256KiB
  flush: {interval: 50ms, bytes: 1MiB}
  fsync: never
  zstd_level: 5
  quota: 2GB
  on_full: reject_new
sources:
  - name: broker
    type: mqtt
    broker: ssl://broker.local:8883
    client_id: gw-1-broker
    protocol: 5
    clean_session: false
    session_expiry: 2d
    keepalive: 20s
    connect_timeout: 5s
    username: outpost
    password_env: MQTT_PW
    tls: {ca_file: /etc/ca.pem, cert_file: /etc/c.pem, key_file: /etc/c.key, verify: true}
    reconnect: {min: 1s, max: 1m}
    max_inflight: 50
    ack: durable
    subscriptions:
      - {topic: "sensors/+/temp", qos: 2, stream: readings}
  - name: meter
    type: serial
    device: /dev/ttyUSB0
    baud: 115200
    data_bits: 7
    parity: even
    stop_bits: 2
    flow_control: rtscts
    framing: fixed
    frame_bytes: 32
    strip_cr: false
    max_line: 1KiB
    reopen: {min: 100ms, max: 5s}
    ack: written
    stream: meter
  - name: console
    type: serial
    device: /dev/ttyACM0
    delimiter: "\\r\\n"
    stream: kvs
streams:
  - name: readings
    format: json
    fields:
      - {name: device, type: string, required: true}
      - {name: meta.temp, type: double}
    key_field: device
    time: {field: ts, format: unix_ms}
    retention: {age: 7d, size: 10GiB}
    dead_letter: bad-readings
    max_payload: 64KiB
  - name: meter
    format: csv
    csv: {columns: [ts, flow], delimiter: ";"}
  - name: kvs
    format: kv
    kv: {separators: " ", assign: ":"}
queries:
  - name: per_minute
    sql: SELECT window_start, device, avg(temp) FROM tumble(readings, ts, 1m) GROUP BY window_start, device
    result_stream: readings_1m
    late_policy: update
    late_stream: readings_1m_late
    allowed_lateness: 30s
    idle_timeout: 2m
    start: earliest
    checkpoint_interval: 2s
central:
  brokers: kafka-1:9093,kafka-2:9093
  security_protocol: sasl_ssl
  sasl: {mechanism: SCRAM-SHA-512, username: site, password_env: KAFKA_PW}
  tls: {ca_file: /etc/kca.pem, cert_file: /etc/kc.pem, key_file: /etc/kc.key}
  compression: lz4
  gap_topic: site.gaps
  cursor_topic: site.cursors
  properties: {message.timeout.ms: "300000"}
  mirrors:
    - {name: raw, stream: readings, topic: site.readings, key: none, priority: 5, max_rate: 1MiB/s, delivery: exactly_once}
    - {stream: readings_1m, max_rate: 100/s, max_in_flight: 5000}
health: {source_silence: 5m, sync_offline: 1h, query_lag: 10m}
)";

TEST_CASE("every key in the table is bound to a struct field, and lands where it should") {
  LoadOptions o = env_options({{"MQTT_PW", "m"}, {"KAFKA_PW", "k"}});
  o.touch_files = false;
  std::set<std::string> touched;
  LoadResult r = internal::parse(kFullConfig, "full.yaml", o, &touched);
  REQUIRE_MESSAGE(r.ok(), r.report());
  CHECK_MESSAGE(warnings_of(r).empty(), r.report());
  for (const auto& k : schema::table()) {
    CHECK_MESSAGE(touched.count(k.path), "key " << k.path << " is declared but never read");
  }
  const Config& c = *r.config;
  CHECK(c.agent.log_level == LogLevel::kDebug);
  CHECK(c.storage.segment_bytes == 32u << 20);
  CHECK(c.storage.quota_bytes == 2'000'000'000u);
  CHECK(c.storage.on_full == outpost::store::FullPolicy::kRejectNew);
  REQUIRE(c.mqtt_sources.size() == 1);
  const auto& m = c.mqtt_sources[0];
  CHECK(m.protocol == MqttProtocol::kV5);
  CHECK(m.tls.enabled);
  CHECK(m.session_expiry_s == 2 * 86400);
  CHECK(m.reconnect.max_ms == 60'000);
  CHECK(m.ack == AckMode::kDurable);
  CHECK(m.persistence_dir == "/tmp/outpost-full/mqtt/broker");
  CHECK(m.subscriptions[0].qos == 2);
  REQUIRE(c.serial_sources.size() == 2);
  CHECK(c.serial_sources[0].framing == SerialFraming::kFixed);
  CHECK(c.serial_sources[0].frame_bytes == 32);
  CHECK(c.serial_sources[0].parity == SerialParity::kEven);
  CHECK(c.serial_sources[1].delimiter == "\r\n");
  CHECK(c.serial_sources[1].max_line_bytes == 4096);
  CHECK(c.streams[0].fields[1].type == FieldType::kDouble);
  CHECK(c.streams[0].dead_letter == "bad-readings");
  CHECK(c.streams[0].retention.retention_ms == 7 * 86'400'000LL);
  CHECK(c.streams[1].csv_delimiter == ';');
  CHECK(c.streams[1].dead_letter == "meter.dead");
  CHECK(c.streams[2].kv_assign == ':');
  CHECK(c.queries[0].late_policy == LatePolicy::kUpdate);
  CHECK(c.queries[0].start == QueryStart::kEarliest);
  CHECK(c.central.sasl_password.value == "k");
  CHECK(c.central.properties.at("message.timeout.ms") == "300000");
  CHECK(c.central.mirrors[0].delivery == Delivery::kExactlyOnce);
  CHECK(c.central.mirrors[0].max_bytes_per_s == 1 << 20);
  CHECK(c.central.mirrors[1].name == "readings_1m");
  CHECK(c.central.mirrors[1].topic == "readings_1m");
  CHECK(c.central.mirrors[1].max_records_per_s == 100);
  CHECK(c.central.mirrors[1].max_in_flight == 5000);
  CHECK(c.central.mirrors[0].max_in_flight == 20000);  // the table's default
  CHECK(c.health.query_lag_ms == 600'000);
  std::vector<std::string> all = c.all_stream_names();
  CHECK(std::find(all.begin(), all.end(), "readings_1m_late") != all.end());
}

TEST_CASE("docs/CONFIG.md is the reference generated from the table") {
  std::string generated = config_reference_markdown();
  std::string checked_in = read_file(kSource / "docs/CONFIG.md");
  CHECK_MESSAGE(checked_in == generated,
                "docs/CONFIG.md is stale: regenerate with `outpost check --print-reference > docs/CONFIG.md`");
  for (const auto& k : schema::table()) {
    if (std::string_view(k.path).find('.') == std::string_view::npos) continue;  // sections are headings
    CHECK_MESSAGE(generated.find(std::string("`") + k.path + "`") != std::string::npos, k.path);
  }
}

TEST_CASE("the registered SQL check reports at the sql value, with the position inside the SQL") {
  const std::string yaml =
      "agent: {data_dir: /tmp/x}\nstreams: [{name: readings}]\n"
      "queries:\n  - name: q\n    sql: |\n      SELECT avg(temp)\n      FROM nowhere\n";
  int calls = 0;
  LoadOptions o = env_options();
  o.sql_check = [&](const QueryConfig& q, const Config& c) {
    ++calls;
    std::vector<SqlIssue> out;
    auto at = q.sql.find("nowhere");
    if (at != std::string::npos && !c.find_stream("nowhere")) out.push_back({"unknown stream 'nowhere'", at, false});
    return out;
  };
  LoadResult r = parse(yaml, o);
  CHECK(calls == 1);
  CHECK(errors_of(r) ==
        std::vector<std::string>{"t.yaml:5:10: query 'q': unknown stream 'nowhere' (at SQL line 2, column 6)"});

  // The process-wide hook is used when the options carry none.
  register_sql_check([](const QueryConfig&, const Config&) {
    return std::vector<SqlIssue>{{"slow plan", std::nullopt, true}};
  });
  r = parse(yaml);
  CHECK(r.ok());
  CHECK(warnings_of(r) == std::vector<std::string>{"t.yaml:5:10: warning: query 'q': slow plan"});
  register_sql_check({});

  // Not called while the config has structural errors: its lookups would be meaningless.
  calls = 0;
  r = parse(yaml + "storage: {fsync: maybe}\n", o);
  CHECK(calls == 0);
}

TEST_CASE("query defaults and cross-checks") {
  LoadResult r = parse(
      "agent: {data_dir: /tmp/x}\nstreams: [{name: readings}]\n"
      "queries: [{name: per_minute, sql: SELECT 1}]\n"
      "central: {brokers: 'k:9092', mirrors: [{stream: per_minute}, {stream: per_minute.late, name: late}]}\n");
  REQUIRE_MESSAGE(r.ok(), r.report());
  const QueryConfig& q = r.config->queries[0];
  CHECK(q.result_stream == "per_minute");
  CHECK(q.late_stream == "per_minute.late");
  CHECK(q.late_policy == LatePolicy::kDrop);
  CHECK(q.start == QueryStart::kLatest);
  CHECK(q.checkpoint_interval_ms == 5000);
}

TEST_CASE("warnings flag legal but risky settings without failing") {
  LoadResult r = parse(
      "agent: {data_dir: /tmp/x}\nstreams: [{name: r}]\n"
      "sources:\n  - {name: s, type: mqtt, broker: 'tcp://h:1883', clean_session: true,\n"
      "     subscriptions: [{topic: a, qos: 1, stream: r}]}\n");
  CHECK(r.ok());
  REQUIRE(warnings_of(r).size() == 1);
  CHECK(warnings_of(r)[0].find("clean_session is true: QoS 1/2 messages published while Outpost is down are lost") !=
        std::string::npos);

  r = parse("agent: {data_dir: /tmp/x}\nstreams: [{name: r}]\ncentral:\n  brokers: h:9092\n"
            "  mirrors: [{stream: r, delivery: exactly_once, max_in_flight: 100}]\n");
  CHECK(r.ok());
  CHECK(warnings_of(r) == std::vector<std::string>{
                              "t.yaml:5:64: warning: central.mirrors[0].max_in_flight has no effect with delivery "
                              "exactly_once"});
}

TEST_CASE("garbage never crashes the loader: it becomes diagnostics") {
  std::vector<std::string> inputs = {
      "", "\n", "~", "42", "[", "{", "agent: [", "agent: {id: [1, {2: 3}]}", "\t\tfoo: bar",
      "a: &x {b: *x}", "*unknown", "sources: 5", "sources: [1, 2]", "sources: [{type: [mqtt]}]",
      "streams: [{name: {a: b}}]", "storage: {zstd_level: 99999999999999999999999}", "? [a]\n: b",
      std::string(5000, '['), std::string("agent:\0 x", 9), "central: {properties: [a]}",
      "central: {mirrors: {a: b}}", "streams: [{name: r, csv: {columns: a}}]",
  };
  std::mt19937 rng(7);
  std::string base = kFullConfig;
  for (int i = 0; i < 300; ++i) {
    std::string s = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s.erase(at, 1 + rng() % 8); break;
        case 1: s.insert(at, 1, "[]{}:-#&*!|>'\"\n 0a"[rng() % 19]); break;
        case 2: s[at] = static_cast<char>(rng() % 256); break;
      }
    }
    inputs.push_back(s);
  }
  for (const auto& in : inputs) {
    LoadOptions o = env_options({{"MQTT_PW", "m"}, {"KAFKA_PW", "k"}});
    o.touch_files = false;
    LoadResult r = parse_config(in, "g.yaml", o);
    for (const auto& d : r.diagnostics) {
      CHECK(d.message.find("internal") == std::string::npos);
      CHECK_FALSE(d.message.empty());
    }
    if (!r.ok()) CHECK(r.error_count() > 0);
  }
}
