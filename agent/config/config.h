// The agent's configuration: one YAML file, read into the typed structs below.
//
// Every key is declared once, in one table (schema.cpp: path, type, default, unit, allowed
// values, description). That table drives parsing, defaults, validation (unknown keys are
// rejected with a did-you-mean), `outpost check`, and the generated reference docs/CONFIG.md
// (config_reference_markdown(); a test keeps the file equal to it).
//
// Loading never throws and never stops at the first problem: every problem becomes a
// Diagnostic "FILE:LINE:COL: message" (1-based, from yaml-cpp marks). A Config is returned only
// when there is no error; warnings may accompany it. `outpost check` and `outpost run` both load
// through here, so a file that checks clean is a file the daemon accepts.
//
// Units in YAML: durations "200ms", "10s", "5m", "1h", "7d" (a whole number and a unit, no
// space); sizes "4096", "64KiB", "16MiB", "1GiB" (binary) or "5KB", "5MB", "5GB" (decimal);
// rates "500/s" (records per second) or "1MiB/s" (bytes per second).
//
// Secrets: never written in the YAML in clear. A `password:` key is an error; use
// `password_env: VAR` or `password_file: PATH` (e.g. `${CREDENTIALS_DIRECTORY}/mqtt-password`
// with systemd LoadCredential=). `${VAR}` and `${VAR:-default}` expand in every scalar; `$${`
// is a literal `${`. Secret values are read at load time and held in Secret, whose origin (not
// its value) is what logs may print.
//
// Threads: loading is a pure function of the file, the environment and the file system; it
// may run on any thread. The SQL check hook (register_sql_check) is process-wide and must be
// registered before the first load, from one thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/log.h"
#include "base/status.h"

namespace outpost::config {

// Where a value or a section came from in the file (1-based; 0 = not from the file).
struct Location {
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  enum class Severity : std::uint8_t { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;
  Location at;
  std::string message;  // names the key path, e.g. "sources[0].subscriptions[1].qos must be ..."

  bool is_error() const { return severity == Severity::kError; }
  // "FILE:LINE:COL: message", or "FILE:LINE:COL: warning: message".
  std::string to_string() const;
};

// ---- values --------------------------------------------------------------------------------

// A password read from the environment or a file. `origin` says where from
// ("environment variable KAFKA_PASSWORD", "file /run/credentials/outpost.service/kafka");
// print the origin, never the value.
struct Secret {
  std::string value;
  std::string origin;  // empty = no secret configured
  bool empty() const { return origin.empty(); }
};

struct Backoff {
  std::int64_t min_ms = 0;  // first wait; doubles up to max_ms
  std::int64_t max_ms = 0;
};

enum class LogLevel : std::uint8_t { kDebug, kInfo, kWarning, kError };

// When a source acknowledges a message (MQTT PUBACK/PUBCOMP, serial bytes consumed).
enum class AckMode : std::uint8_t {
  kWritten,  // after the record is written to the OS (survives kill -9)
  kDurable,  // after the group commit fdatasync'd it (survives a power cut; slower)
};

// ---- agent ---------------------------------------------------------------------------------

struct AgentConfig {
  std::string id;                    // default: the host name
  std::filesystem::path data_dir;    // the local log; also Config::storage.data_dir
  std::string http_listen;           // "host:port"; empty = no HTTP server
  LogLevel log_level = LogLevel::kInfo;
};

// ---- sources -------------------------------------------------------------------------------

enum class MqttProtocol : std::uint8_t { kV311, kV5 };

struct MqttTls {
  bool enabled = false;   // true for ssl://, mqtts://, tls://, wss:// brokers
  std::string ca_file;    // empty = system CA paths
  std::string cert_file;  // client certificate (mutual TLS); set together with key_file
  std::string key_file;
  bool verify = true;     // verify the broker's chain and host name
};

struct MqttSubscriptionConfig {
  std::string filter;  // validated: '+' a whole level, '#' last and whole, $share/<group>/...
  int qos = 1;         // 0, 1, 2
  std::string stream;  // a declared stream
  Location at;
};

struct MqttSourceConfig {
  std::string name;
  std::string broker;     // scheme://host:port; scheme tcp, mqtt, ssl, mqtts, tls, ws or wss
  std::string client_id;  // default "outpost-<agent id>-<name>"; stable for persistent sessions
  MqttProtocol protocol = MqttProtocol::kV311;
  bool clean_session = false;  // false = persistent session (the broker queues while we are down)
  std::int64_t session_expiry_s = 0;  // MQTT 5 only
  std::int64_t keepalive_s = 0;
  std::int64_t connect_timeout_s = 0;
  std::string username;
  Secret password;
  MqttTls tls;
  Backoff reconnect;
  int max_inflight = 0;
  AckMode ack = AckMode::kWritten;
  std::filesystem::path persistence_dir;  // <data_dir>/mqtt/<name> (Paho's QoS 2 state)
  std::vector<MqttSubscriptionConfig> subscriptions;
  Location at;
};

enum class SerialParity : std::uint8_t { kNone, kEven, kOdd };
enum class SerialFlowControl : std::uint8_t { kNone, kRtsCts };
enum class SerialFraming : std::uint8_t { kLine, kFixed };

struct SerialSourceConfig {
  std::string name;
  std::string device;          // /dev/ttyUSB0, /dev/serial/by-id/...
  std::uint32_t baud = 9600;   // a standard rate
  int data_bits = 8;           // 5..8
  SerialParity parity = SerialParity::kNone;
  int stop_bits = 1;           // 1 or 2
  SerialFlowControl flow_control = SerialFlowControl::kNone;
  SerialFraming framing = SerialFraming::kLine;
  std::string delimiter;       // line framing; escapes already decoded ("\r\n" is 2 bytes)
  bool strip_cr = true;        // drop one '\r' before the delimiter
  std::size_t max_line_bytes = 0;
  std::size_t frame_bytes = 0;  // fixed framing: bytes per message (> 0)
  Backoff reopen;
  AckMode ack = AckMode::kWritten;
  std::string stream;
  Location at;
};

// ---- streams -------------------------------------------------------------------------------

enum class PayloadFormat : std::uint8_t { kJson, kCsv, kKv, kRaw };
enum class FieldType : std::uint8_t { kDouble, kInt, kString, kBool, kTimestamp };
enum class TimeFormat : std::uint8_t { kAuto, kUnixS, kUnixMs, kUnixUs, kUnixNs, kRfc3339 };

struct FieldConfig {
  std::string name;  // json: dotted path into the object ("meta.site"); csv column; kv key
  FieldType type = FieldType::kString;
  bool required = false;
  Location at;
};

struct StreamConfig {
  std::string name;  // 1..200 of [A-Za-z0-9_.-] (store/filename.h)
  PayloadFormat format = PayloadFormat::kJson;
  std::vector<FieldConfig> fields;
  std::vector<std::string> csv_columns;  // csv: column names in order
  char csv_delimiter = ',';
  std::string kv_separators;             // kv: characters separating pairs
  char kv_assign = '=';                  // kv: character between key and value
  std::string key_field;                 // empty = records have no key
  std::string time_field;                // empty = event time is ingest time
  TimeFormat time_format = TimeFormat::kAuto;
  store::StreamOptions retention;
  std::string dead_letter;               // default "<name>.dead"
  std::size_t max_payload_bytes = 0;
  Location at;
};

// ---- queries -------------------------------------------------------------------------------

enum class LatePolicy : std::uint8_t { kDrop, kUpdate };
enum class QueryStart : std::uint8_t { kLatest, kEarliest };

struct QueryConfig {
  std::string name;
  std::string sql;            // non-empty; checked by the registered SqlCheck, if any
  Location sql_at;
  std::string result_stream;  // default: the query's name
  LatePolicy late_policy = LatePolicy::kDrop;
  std::string late_stream;    // default "<name>.late": late events under the drop policy
  std::int64_t allowed_lateness_ms = 0;  // update policy: revise windows this long after close
  std::int64_t idle_timeout_ms = 0;      // 0 = never advance the watermark on idleness
  QueryStart start = QueryStart::kLatest;
  std::int64_t checkpoint_interval_ms = 0;
  Location at;
};

// ---- central (sync) ------------------------------------------------------------------------

enum class MirrorKey : std::uint8_t { kRecord, kNone };
enum class Delivery : std::uint8_t { kAtLeastOnce, kExactlyOnce };

struct MirrorConfig {
  std::string name;    // default: the stream's name; unique; part of cursor names and txn ids
  std::string stream;  // a declared stream, a dead-letter, a query result or late stream
  std::string topic;   // default: the stream's name
  MirrorKey key = MirrorKey::kRecord;
  int priority = 0;    // higher drains first
  double max_records_per_s = 0;  // 0 = unlimited
  double max_bytes_per_s = 0;    // 0 = unlimited
  Delivery delivery = Delivery::kAtLeastOnce;
  // at_least_once: records sent and not yet covered by the saved cursor, at most (what a
  // crash re-sends at most); the table's default, as sync::MirrorSettings'.
  std::int64_t max_in_flight = 20000;
  Location at;
};

struct CentralConfig {
  bool enabled = false;  // a central: section is present
  std::string brokers;   // "host:port,host:port"
  std::string security_protocol;  // plaintext | ssl | sasl_plaintext | sasl_ssl (librdkafka's words)
  std::string sasl_mechanism;     // PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512; empty without SASL
  std::string sasl_username;
  Secret sasl_password;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string compression;   // none | gzip | snappy | lz4 | zstd
  std::string gap_topic;
  std::string cursor_topic;
  std::map<std::string, std::string> properties;  // raw librdkafka properties, passed through
  std::vector<MirrorConfig> mirrors;
  Location at;
};

// ---- health --------------------------------------------------------------------------------

struct HealthConfig {
  std::int64_t source_silence_ms = 0;  // a source silent this long is stalled (0 = off)
  std::int64_t sync_offline_ms = 0;    // central unreachable with a backlog this long (0 = off)
  std::int64_t query_lag_ms = 0;       // a query this far behind its input (event time; 0 = off)
};

// ---- the whole file ------------------------------------------------------------------------

struct Config {
  std::string file;  // the path it was loaded from, as given
  AgentConfig agent;
  store::Options storage;  // data_dir = agent.data_dir; env/clock left null
  std::vector<MqttSourceConfig> mqtt_sources;
  std::vector<SerialSourceConfig> serial_sources;
  std::vector<StreamConfig> streams;
  std::vector<QueryConfig> queries;
  CentralConfig central;
  HealthConfig health;

  const StreamConfig* find_stream(std::string_view name) const;
  // Every stream the agent writes: declared streams, their dead letters, query results and
  // query late streams. A mirror may name any of them.
  std::vector<std::string> all_stream_names() const;
};

// ---- the SQL hook --------------------------------------------------------------------------

// The query module validates SQL without this module depending on it: it registers a
// SqlCheck once at startup (before any load). The check gets the query and the whole Config
// (so it can resolve FROM streams) and returns problems; an `offset` (bytes into the SQL text)
// is turned into "(at SQL line L, column C)" in the message.
struct SqlIssue {
  std::string message;
  std::optional<std::size_t> offset;
  bool warning = false;
};
using SqlCheck = std::function<std::vector<SqlIssue>(const QueryConfig& query, const Config& config)>;

// Process-wide default used when LoadOptions::sql_check is empty. Not thread-safe: call
// during startup (e.g. from main) before loading.
void register_sql_check(SqlCheck check);
const SqlCheck& registered_sql_check();

// ---- loading -------------------------------------------------------------------------------

struct LoadOptions {
  SqlCheck sql_check;  // empty = registered_sql_check() (if any)
  // Environment lookup for ${VAR}, password_env and ${CREDENTIALS_DIRECTORY}; empty = getenv.
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  // Read password files and check TLS files are readable. Off only for tests and fuzzing.
  bool touch_files = true;
};

struct LoadResult {
  std::optional<Config> config;          // set iff there is no error
  std::vector<Diagnostic> diagnostics;   // errors and warnings, in file order
  bool ok() const { return config.has_value(); }
  std::size_t error_count() const;
  // All diagnostics, one to_string() per line.
  std::string report() const;
};

// Reads and checks the file. Never throws.
LoadResult load_config_file(const std::string& path, const LoadOptions& options = {});
// Same for YAML text already in memory; `file_name` is what diagnostics name.
LoadResult parse_config(std::string_view yaml, const std::string& file_name, const LoadOptions& options = {});
// Convenience: the Config, or Status::invalid_argument whose message is report() (warnings
// included, one per line).
Result<Config> load_config(const std::string& path, const LoadOptions& options = {});

// ---- units (exposed for the CLI, other modules and tests) ----------------------------------

// "200ms", "10s", "5m", "1h", "7d" -> milliseconds. nullopt for anything else.
std::optional<std::int64_t> parse_duration_ms(std::string_view text);
// "4096", "64KiB", "16MiB", "1GiB", "1TiB", "5KB", "5MB", "5GB", "5TB", "10B" -> bytes.
std::optional<std::uint64_t> parse_size_bytes(std::string_view text);
struct Rate {
  double records_per_s = 0;
  double bytes_per_s = 0;
};
// "500/s" -> records; "1MiB/s" -> bytes. nullopt for anything else.
std::optional<Rate> parse_rate(std::string_view text);
// The canonical text of a duration ("90000" ms -> "90s", 300000 -> "5m").
std::string format_duration_ms(std::int64_t ms);


// Checks an MQTT topic filter (MQTT 3.1.1 4.7 / 5.0 4.7, plus $share/<group>/<filter>).
// Returns "" if valid, else what is wrong.
std::string check_topic_filter(std::string_view filter);

// ---- reference -----------------------------------------------------------------------------

// docs/CONFIG.md, generated from the table.
std::string config_reference_markdown();

}  // namespace outpost::config
