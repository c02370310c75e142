// config::Config -> Plan. agent/config has read and checked the file (types, units, references
// between sections, secrets, TLS files); this maps each section onto the settings struct of the
// module that runs it, and lets each module refuse what only it can judge.
#include "agent/runtime/plan.h"

#include "agent/query/config_check.h"

#include <utility>

namespace outpost::runtime {
namespace {

// Collects "FILE:LINE:COL: message" lines for one config.
class Problems {
 public:
  explicit Problems(const config::Config& c) : file_(c.file) {}
  void add(config::Location at, std::string message) {
    config::Diagnostic d;
    d.file = file_;
    d.at = at;
    d.message = std::move(message);
    lines_ += (lines_.empty() ? "" : "\n") + d.to_string();
  }
  // A module's refusal (its message names the source or stream) at the section it refused.
  void add(config::Location at, const Status& st) {
    if (!st.is_ok()) add(at, st.message());
  }
  bool empty() const { return lines_.empty(); }
  Status status() const { return Status::invalid_argument(lines_); }

 private:
  std::string file_;
  std::string lines_;
};

const char* log_level_name(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kDebug: return "debug";
    case config::LogLevel::kInfo: return "info";
    case config::LogLevel::kWarning: return "warning";
    case config::LogLevel::kError: return "error";
  }
  return "info";
}

ingest::AckMode ack_of(config::AckMode a) {
  return a == config::AckMode::kDurable ? ingest::AckMode::kDurable : ingest::AckMode::kWritten;
}

ingest::BackoffOptions backoff_of(const config::Backoff& b) { return ingest::BackoffOptions{b.min_ms, b.max_ms}; }

// One row per value: config's enums (the YAML's words) onto the decoder's.
template <typename From, typename To, std::size_t N>
To map_enum(From value, const std::pair<From, To> (&table)[N]) {
  for (const auto& [from, to] : table) {
    if (from == value) return to;
  }
  return table[0].second;
}

constexpr std::pair<config::PayloadFormat, decode::Format> kFormats[] = {
    {config::PayloadFormat::kJson, decode::Format::kJson},
    {config::PayloadFormat::kCsv, decode::Format::kCsv},
    {config::PayloadFormat::kKv, decode::Format::kKv},
    {config::PayloadFormat::kRaw, decode::Format::kRaw}};
constexpr std::pair<config::FieldType, decode::FieldType> kFieldTypes[] = {
    {config::FieldType::kString, decode::FieldType::kString},
    {config::FieldType::kDouble, decode::FieldType::kDouble},
    {config::FieldType::kInt, decode::FieldType::kInt},
    {config::FieldType::kBool, decode::FieldType::kBool},
    {config::FieldType::kTimestamp, decode::FieldType::kTimestamp}};
constexpr std::pair<config::TimeFormat, decode::TimeFormat> kTimeFormats[] = {
    {config::TimeFormat::kAuto, decode::TimeFormat::kAuto},
    {config::TimeFormat::kUnixS, decode::TimeFormat::kUnixS},
    {config::TimeFormat::kUnixMs, decode::TimeFormat::kUnixMs},
    {config::TimeFormat::kUnixUs, decode::TimeFormat::kUnixUs},
    {config::TimeFormat::kUnixNs, decode::TimeFormat::kUnixNs},
    {config::TimeFormat::kRfc3339, decode::TimeFormat::kRfc3339}};

decode::StreamSpec decode_spec_of(const config::StreamConfig& s) {
  decode::StreamSpec d;
  d.name = s.name;
  d.format = map_enum(s.format, kFormats);
  for (const auto& f : s.fields) {
    decode::FieldSpec fs;
    fs.name = f.name;
    // A json field's name is a dotted path into the object ("meta.site"), as documented for
    // streams[].fields[].name; csv columns and kv keys are plain names.
    if (d.format == decode::Format::kJson) fs.path = f.name;
    fs.type = map_enum(f.type, kFieldTypes);
    fs.required = f.required;
    d.fields.push_back(std::move(fs));
  }
  if (!s.time_field.empty()) d.time = decode::TimeSpec{s.time_field, map_enum(s.time_format, kTimeFormats), false};
  d.key_field = s.key_field;
  d.max_payload_bytes = s.max_payload_bytes;
  d.csv.columns = s.csv_columns;
  d.csv.delimiter = s.csv_delimiter;
  d.kv.separators = s.kv_separators;
  d.kv.assign = s.kv_assign;
  return d;
}

ingest::MqttSourceOptions mqtt_options_of(const config::MqttSourceConfig& m) {
  ingest::MqttSourceOptions o;
  o.name = m.name;
  o.broker = m.broker;
  o.client_id = m.client_id;
  o.version = m.protocol == config::MqttProtocol::kV5 ? ingest::MqttVersion::kV5 : ingest::MqttVersion::kV311;
  o.clean_session = m.clean_session;
  o.session_expiry_s = static_cast<std::uint32_t>(m.session_expiry_s);
  o.keepalive_s = m.keepalive_s;
  o.connect_timeout_s = m.connect_timeout_s;
  o.username = m.username;
  o.password = m.password.value;
  o.tls.enabled = m.tls.enabled;
  o.tls.ca_file = m.tls.ca_file;
  o.tls.cert_file = m.tls.cert_file;
  o.tls.key_file = m.tls.key_file;
  o.tls.verify = m.tls.verify;
  o.reconnect = backoff_of(m.reconnect);
  o.max_inflight = m.max_inflight;
  o.ack = ack_of(m.ack);
  o.persistence_dir = m.persistence_dir;
  for (const auto& s : m.subscriptions) o.subscriptions.push_back(ingest::MqttSubscription{s.filter, s.qos, s.stream});
  return o;
}

ingest::SerialSourceOptions serial_options_of(const config::SerialSourceConfig& s) {
  ingest::SerialSourceOptions o;
  o.name = s.name;
  o.device = s.device;
  o.stream = s.stream;
  o.baud = s.baud;
  o.data_bits = s.data_bits;
  o.parity = s.parity == config::SerialParity::kEven  ? ingest::SerialParity::kEven
             : s.parity == config::SerialParity::kOdd ? ingest::SerialParity::kOdd
                                                      : ingest::SerialParity::kNone;
  o.stop_bits = s.stop_bits;
  o.flow_control = s.flow_control == config::SerialFlowControl::kRtsCts ? ingest::SerialFlowControl::kRtsCts
                                                                         : ingest::SerialFlowControl::kNone;
  o.framing = s.framing == config::SerialFraming::kFixed ? ingest::SerialFraming::kFixed
                                                         : ingest::SerialFraming::kLine;
  o.delimiter = s.delimiter;
  o.strip_cr = s.strip_cr;
  o.max_line_bytes = s.max_line_bytes;
  o.frame_bytes = s.frame_bytes;
  o.reopen = backoff_of(s.reopen);
  o.ack = ack_of(s.ack);
  return o;
}

sync::SyncSettings sync_settings_of(const config::Config& c) {
  sync::SyncSettings s;
  s.agent = c.agent.id;
  const config::CentralConfig& cc = c.central;
  s.central.brokers = cc.brokers;
  s.central.security_protocol = cc.security_protocol;
  s.central.sasl_mechanism = cc.sasl_mechanism;
  s.central.sasl_username = cc.sasl_username;
  s.central.sasl_password = cc.sasl_password.value;
  s.central.tls_ca_file = cc.tls_ca_file;
  s.central.tls_cert_file = cc.tls_cert_file;
  s.central.tls_key_file = cc.tls_key_file;
  s.central.compression = cc.compression;
  s.central.gap_topic = cc.gap_topic;
  s.central.cursor_topic = cc.cursor_topic;
  s.central.properties = cc.properties;
  for (const auto& m : cc.mirrors) {
    sync::MirrorSettings ms;
    ms.name = m.name;
    ms.stream = m.stream;
    ms.topic = m.topic;
    ms.key = m.key == config::MirrorKey::kNone ? sync::KeyMode::kNone : sync::KeyMode::kRecordKey;
    ms.priority = m.priority;
    ms.max_records_per_s = m.max_records_per_s;
    ms.max_bytes_per_s = m.max_bytes_per_s;
    ms.delivery = m.delivery == config::Delivery::kExactlyOnce ? sync::Delivery::kExactlyOnce
                                                               : sync::Delivery::kAtLeastOnce;
    ms.max_in_flight = static_cast<std::size_t>(m.max_in_flight);
    s.mirrors.push_back(std::move(ms));
  }
  return s;
}

// The files a part reads when it connects, and where its password comes from.
Credentials credentials_of(const std::string& ca_file, const std::string& cert_file, const std::string& key_file,
                           const config::Secret& password) {
  using Kind = CredentialFile::Kind;
  Credentials c;
  if (!ca_file.empty()) c.files.push_back(CredentialFile{Kind::kCaBundle, "tls.ca_file", ca_file});
  if (!cert_file.empty()) c.files.push_back(CredentialFile{Kind::kCertificate, "tls.cert_file", cert_file});
  if (!key_file.empty()) c.files.push_back(CredentialFile{Kind::kPrivateKey, "tls.key_file", key_file});
  c.password_origin = password.origin;
  return c;
}

QueryPlan query_plan_of(const config::QueryConfig& q) {
  QueryPlan p;
  p.name = q.name;
  p.sql = q.sql;
  p.result_stream = q.result_stream;
  p.late_stream = q.late_stream;
  p.late_update = q.late_policy == config::LatePolicy::kUpdate;
  p.allowed_lateness_ms = q.allowed_lateness_ms;
  p.idle_timeout_ms = q.idle_timeout_ms;
  p.start_earliest = q.start == config::QueryStart::kEarliest;
  p.checkpoint_interval_ms = q.checkpoint_interval_ms;
  return p;
}

}  // namespace

Result<Plan> plan_from_config(const config::Config& c) {
  Problems problems(c);
  Plan p;
  p.agent_id = c.agent.id;
  p.log_level = log_level_name(c.agent.log_level);
  p.store = c.storage;
  p.http_listen = c.agent.http_listen;

  for (const auto& s : c.streams) {
    StreamPlan sp;
    sp.name = s.name;
    sp.retention = s.retention;
    sp.dead_letter_stream = s.dead_letter;
    sp.decode = decode_spec_of(s);
    problems.add(s.at, decode::validate_spec(sp.decode));
    p.streams.push_back(std::move(sp));
    p.stream_schemas.push_back(query::schema_of(s));
  }
  for (const auto& m : c.mqtt_sources) {
    p.mqtt_sources.push_back(mqtt_options_of(m));
    p.source_credentials[m.name] = credentials_of(m.tls.ca_file, m.tls.cert_file, m.tls.key_file, m.password);
    problems.add(m.at, ingest::validate_mqtt_options(p.mqtt_sources.back()));
  }
  for (const auto& s : c.serial_sources) {
    p.serial_sources.push_back(serial_options_of(s));
    problems.add(s.at, ingest::validate_serial_options(p.serial_sources.back()));
  }
  for (const auto& q : c.queries) p.queries.push_back(query_plan_of(q));
  if (c.central.enabled) {
    p.sync = sync_settings_of(c);
    const config::CentralConfig& cc = c.central;
    // Under plaintext or sasl_plaintext librdkafka loads no TLS file (the config warns that
    // central.tls is ignored): a broken one must not hold back a reload.
    const bool tls = cc.security_protocol == "ssl" || cc.security_protocol == "sasl_ssl";
    p.central_credentials = tls ? credentials_of(cc.tls_ca_file, cc.tls_cert_file, cc.tls_key_file, cc.sasl_password)
                                : credentials_of({}, {}, {}, cc.sasl_password);
  }
  p.sync_enabled = !p.sync.mirrors.empty();
  p.health.source_silence_ms = c.health.source_silence_ms;
  p.health.sync_offline_ms = c.health.sync_offline_ms;

  if (!problems.empty()) return problems.status();
  return p;
}

Result<Plan> load_plan(const std::string& config_path, std::vector<std::string>* warnings) {
  config::LoadResult loaded = config::load_config_file(config_path);
  if (!loaded.ok()) return Status::invalid_argument(loaded.report());
  auto plan = plan_from_config(*loaded.config);
  if (!plan.is_ok()) {
    // The module's refusals after the file's own diagnostics (warnings included), as `outpost
    // check` shows them.
    std::string report = loaded.report();
    return Status::invalid_argument(report.empty() ? plan.status().message()
                                                   : report + "\n" + plan.status().message());
  }
  if (warnings) {
    for (const auto& d : loaded.diagnostics) {
      if (!d.is_error()) warnings->push_back(d.to_string());
    }
  }
  return plan;
}

}  // namespace outpost::runtime
