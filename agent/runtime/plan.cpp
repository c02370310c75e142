// Reads the YAML config into a Plan. Every problem is reported as FILE:LINE:COL: message, all
// of them, not just the first; nothing starts while any is left.
#include "agent/runtime/plan.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace outpost::runtime {
namespace {

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Node& at, const std::string& message) {
    const YAML::Mark m = at.Mark();
    errors_.push_back(file_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": " + message);
  }
  void error_top(const std::string& message) { errors_.push_back(file_ + ":1:1: " + message); }

  // Reports keys of `map` not in `known` (with a suggestion when one is close).
  void known_keys(const YAML::Node& map, const std::string& where, std::initializer_list<const char*> known) {
    if (!map || !map.IsMap()) return;
    for (const auto& kv : map) {
      std::string k = kv.first.as<std::string>("");
      bool ok = false;
      std::string best;
      std::size_t best_d = 99;
      for (const char* c : known) {
        if (k == c) ok = true;
        std::size_t d = distance(k, c);
        if (d < best_d) { best_d = d; best = c; }
      }
      if (!ok) {
        error(kv.first, "unknown key '" + k + "' in " + where +
                            (best_d <= 2 ? " (did you mean '" + best + "'?)" : ""));
      }
    }
  }

  std::string str(const YAML::Node& n, const std::string& what, const std::string& def = "") {
    if (!n) return def;
    if (!n.IsScalar()) { error(n, what + " must be a string"); return def; }
    return expand(n, n.as<std::string>());
  }
  std::int64_t integer(const YAML::Node& n, const std::string& what, std::int64_t def, std::int64_t lo, std::int64_t hi) {
    if (!n) return def;
    try {
      std::int64_t v = n.as<std::int64_t>();
      if (v < lo || v > hi) {
        error(n, what + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
        return def;
      }
      return v;
    } catch (const YAML::Exception&) {
      error(n, what + " must be a whole number");
      return def;
    }
  }
  bool boolean(const YAML::Node& n, const std::string& what, bool def) {
    if (!n) return def;
    try {
      return n.as<bool>();
    } catch (const YAML::Exception&) {
      error(n, what + " must be true or false");
      return def;
    }
  }
  // "200ms", "10s", "5m", "1h", "7d".
  std::int64_t duration_ms(const YAML::Node& n, const std::string& what, std::int64_t def) {
    if (!n) return def;
    std::string s = n.as<std::string>("");
    static const std::pair<const char*, std::int64_t> kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (const auto& [u, mul] : kUnits) {
      std::size_t ul = std::char_traits<char>::length(u);
      if (s.size() > ul && s.compare(s.size() - ul, ul, u) == 0) {
        std::string num = s.substr(0, s.size() - ul);
        if (!num.empty() && num.find_first_not_of("0123456789") == std::string::npos) {
          // "10m" must not be read as "10" + "m"s when it ends in "ms": checked by order above.
          return std::stoll(num) * mul;
        }
      }
    }
    error(n, what + ": '" + s + "' is not a duration; write e.g. 200ms, 10s, 5m, 1h or 7d (no space)");
    return def;
  }
  // "64MiB", "5MB", "1024".
  std::uint64_t size_bytes(const YAML::Node& n, const std::string& what, std::uint64_t def) {
    if (!n) return def;
    std::string s = n.as<std::string>("");
    static const std::pair<const char*, std::uint64_t> kUnits[] = {
        {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
        {"KB", 1000ull}, {"MB", 1000000ull}, {"GB", 1000000000ull}, {"TB", 1000000000000ull}, {"B", 1}};
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) return std::stoull(s);
    for (const auto& [u, mul] : kUnits) {
      std::size_t ul = std::char_traits<char>::length(u);
      if (s.size() > ul && s.compare(s.size() - ul, ul, u) == 0) {
        std::string num = s.substr(0, s.size() - ul);
        if (!num.empty() && num.find_first_not_of("0123456789") == std::string::npos) return std::stoull(num) * mul;
      }
    }
    error(n, what + ": '" + s + "' is not a size; write e.g. 4096, 64KiB, 16MiB, 1GiB or 5MB (no space)");
    return def;
  }

  // ${VAR} and ${VAR:-default} from the environment; ${CREDENTIALS_DIRECTORY} included.
  std::string expand(const YAML::Node& n, const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
      if (s.compare(i, 2, "${") == 0) {
        std::size_t close = s.find('}', i);
        if (close == std::string::npos) { error(n, "unterminated ${ in '" + s + "'"); return s; }
        std::string inner = s.substr(i + 2, close - i - 2);
        std::string def;
        bool has_def = false;
        if (auto p = inner.find(":-"); p != std::string::npos) {
          def = inner.substr(p + 2);
          inner = inner.substr(0, p);
          has_def = true;
        }
        const char* v = std::getenv(inner.c_str());
        if (v) out += v;
        else if (has_def) out += def;
        else error(n, "environment variable " + inner + " is not set");
        i = close + 1;
      } else {
        out += s[i++];
      }
    }
    return out;
  }

  // A secret: `password_file: path` (or `${CREDENTIALS_DIRECTORY}/name`) or `password_env: VAR`.
  std::string secret(const YAML::Node& parent, const std::string& where) {
    if (parent["password"]) {
      error(parent["password"], where + ": a password is never written in the config in clear; use password_file "
                                        "(e.g. ${CREDENTIALS_DIRECTORY}/mqtt-password) or password_env");
    }
    if (parent["password_env"]) {
      std::string var = str(parent["password_env"], where + ".password_env");
      const char* v = std::getenv(var.c_str());
      if (!v) { error(parent["password_env"], "environment variable " + var + " is not set"); return {}; }
      return v;
    }
    if (parent["password_file"]) {
      std::string path = str(parent["password_file"], where + ".password_file");
      std::ifstream f(path);
      if (!f) { error(parent["password_file"], "cannot read password file " + path); return {}; }
      std::string v((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
      return v;
    }
    return {};
  }

  void readable(const YAML::Node& n, const std::string& what, const std::string& path) {
    if (!path.empty() && ::access(path.c_str(), R_OK) != 0) error(n, what + ": cannot read " + path);
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  static std::size_t distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  }

  std::string file_;
  std::vector<std::string> errors_;
};

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "outpost";
  return buf;
}

void read_agent(Reader& r, const YAML::Node& a, Plan* p) {
  r.known_keys(a, "agent", {"id", "data_dir", "http", "log_level"});
  p->agent_id = r.str(a["id"], "agent.id", hostname());
  p->store.data_dir = r.str(a["data_dir"], "agent.data_dir", "/var/lib/outpost");
  if (a["http"]) {
    r.known_keys(a["http"], "agent.http", {"listen"});
    p->http_listen = r.str(a["http"]["listen"], "agent.http.listen", p->http_listen);
  }
  p->log_level = r.str(a["log_level"], "agent.log_level", "info");
  if (p->log_level != "debug" && p->log_level != "info" && p->log_level != "warning" && p->log_level != "error") {
    r.error(a["log_level"], "agent.log_level must be debug, info, warning or error");
  }
}

void read_storage(Reader& r, const YAML::Node& s, Plan* p) {
  if (!s) return;
  r.known_keys(s, "storage", {"segment_size", "block_size", "flush", "fsync", "zstd_level", "quota", "on_full"});
  auto& o = p->store;
  o.segment_bytes = r.size_bytes(s["segment_size"], "storage.segment_size", o.segment_bytes);
  o.block_bytes = static_cast<std::uint32_t>(r.size_bytes(s["block_size"], "storage.block_size", o.block_bytes));
  if (s["flush"]) {
    r.known_keys(s["flush"], "storage.flush", {"interval", "bytes"});
    o.flush_interval_ms = r.duration_ms(s["flush"]["interval"], "storage.flush.interval", o.flush_interval_ms);
    o.flush_bytes = r.size_bytes(s["flush"]["bytes"], "storage.flush.bytes", o.flush_bytes);
  }
  std::string fsync = r.str(s["fsync"], "storage.fsync", "always");
  if (fsync == "always") o.fsync = store::FsyncMode::kAlways;
  else if (fsync == "never") o.fsync = store::FsyncMode::kNever;
  else r.error(s["fsync"], "storage.fsync must be always or never");
  o.zstd_level = static_cast<int>(r.integer(s["zstd_level"], "storage.zstd_level", o.zstd_level, 1, 19));
  o.quota_bytes = r.size_bytes(s["quota"], "storage.quota", 0);
  std::string full = r.str(s["on_full"], "storage.on_full", "drop_oldest");
  if (full == "drop_oldest") o.on_full = store::FullPolicy::kDropOldest;
  else if (full == "reject_new") o.on_full = store::FullPolicy::kRejectNew;
  else r.error(s["on_full"], "storage.on_full must be drop_oldest or reject_new");
}

void read_streams(Reader& r, const YAML::Node& list, Plan* p) {
  if (!list) return;
  if (!list.IsSequence()) { r.error(list, "streams must be a list"); return; }
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node s = list[i];
    const std::string where = "streams[" + std::to_string(i) + "]";
    r.known_keys(s, where, {"name", "format", "fields", "csv", "kv", "key_field", "time", "retention", "dead_letter", "max_payload"});
    StreamPlan sp;
    sp.name = r.str(s["name"], where + ".name");
    if (sp.name.empty()) r.error(s, where + " needs a name");
    else if (!names.insert(sp.name).second) r.error(s["name"], "stream '" + sp.name + "' is declared twice");
    std::string format = r.str(s["format"], where + ".format", "json");
    if (format == "json") sp.codec.format = PayloadFormat::kJson;
    else if (format == "csv") sp.codec.format = PayloadFormat::kCsv;
    else if (format == "kv") sp.codec.format = PayloadFormat::kKv;
    else if (format == "raw") sp.codec.format = PayloadFormat::kRaw;
    else r.error(s["format"], where + ".format: '" + format + "' is not one of json, csv, kv, raw");
    if (const YAML::Node fields = s["fields"]) {
      if (!fields.IsSequence()) r.error(fields, where + ".fields must be a list of {name, type, required}");
      for (std::size_t j = 0; fields.IsSequence() && j < fields.size(); ++j) {
        const std::string fw = where + ".fields[" + std::to_string(j) + "]";
        r.known_keys(fields[j], fw, {"name", "type", "required"});
        FieldSpec f;
        f.name = r.str(fields[j]["name"], fw + ".name");
        if (f.name.empty()) r.error(fields[j], fw + " needs a name");
        std::string type = r.str(fields[j]["type"], fw + ".type", "string");
        static const std::pair<const char*, FieldType> kTypes[] = {{"double", FieldType::kDouble}, {"int", FieldType::kInt},
            {"string", FieldType::kString}, {"bool", FieldType::kBool}, {"timestamp", FieldType::kTimestamp}};
        bool known = false;
        for (const auto& [n, t] : kTypes) if (type == n) { f.type = t; known = true; }
        if (!known) r.error(fields[j]["type"], fw + ".type must be double, int, string, bool or timestamp");
        f.required = r.boolean(fields[j]["required"], fw + ".required", false);
        sp.codec.fields.push_back(f);
      }
    }
    if (const YAML::Node csv = s["csv"]) {
      r.known_keys(csv, where + ".csv", {"columns", "delimiter"});
      if (csv["columns"] && csv["columns"].IsSequence()) {
        for (const auto& c : csv["columns"]) sp.codec.csv_columns.push_back(r.str(c, where + ".csv.columns"));
      } else {
        r.error(csv, where + ".csv needs columns: [name, ...]");
      }
      std::string d = r.str(csv["delimiter"], where + ".csv.delimiter", ",");
      if (d == "\\t") d = "\t";
      if (d.size() != 1) r.error(csv["delimiter"], where + ".csv.delimiter must be one character");
      else sp.codec.csv_delimiter = d[0];
    }
    if (sp.codec.format == PayloadFormat::kCsv && sp.codec.csv_columns.empty() && !s["csv"]) {
      r.error(s, where + ": format csv needs csv: {columns: [name, ...]}");
    }
    if (const YAML::Node kv = s["kv"]) {
      r.known_keys(kv, where + ".kv", {"separators", "assign"});
      sp.codec.kv_separators = r.str(kv["separators"], where + ".kv.separators", sp.codec.kv_separators);
      std::string a = r.str(kv["assign"], where + ".kv.assign", "=");
      if (a.size() != 1) r.error(kv["assign"], where + ".kv.assign must be one character");
      else sp.codec.kv_assign = a[0];
    }
    sp.codec.key_field = r.str(s["key_field"], where + ".key_field");
    if (s["time"]) {
      r.known_keys(s["time"], where + ".time", {"field", "format"});
      sp.codec.time_field = r.str(s["time"]["field"], where + ".time.field");
      std::string tf = r.str(s["time"]["format"], where + ".time.format", "auto");
      static const std::pair<const char*, TimeFormat> kFormats[] = {
          {"auto", TimeFormat::kAuto}, {"unix_s", TimeFormat::kUnixS}, {"unix_ms", TimeFormat::kUnixMs},
          {"unix_us", TimeFormat::kUnixUs}, {"unix_ns", TimeFormat::kUnixNs}, {"rfc3339", TimeFormat::kRfc3339}};
      bool ok = false;
      for (const auto& [n, f] : kFormats) if (tf == n) { sp.codec.time_format = f; ok = true; }
      if (!ok) r.error(s["time"]["format"], where + ".time.format must be auto, unix_s, unix_ms, unix_us, unix_ns or rfc3339");
    }
    if (sp.codec.format == PayloadFormat::kRaw &&
        (!sp.codec.key_field.empty() || !sp.codec.time_field.empty() || !sp.codec.fields.empty())) {
      r.error(s, where + ": a raw stream has no fields; fields, key_field and time need format json, csv or kv");
    }
    if (sp.codec.format == PayloadFormat::kCsv) {
      auto column = [&](const std::string& name) {
        for (const auto& c : sp.codec.csv_columns) if (c == name) return true;
        return false;
      };
      if (!sp.codec.key_field.empty() && !column(sp.codec.key_field)) {
        r.error(s["key_field"], where + ".key_field: '" + sp.codec.key_field + "' is not one of the csv columns");
      }
      if (!sp.codec.time_field.empty() && !column(sp.codec.time_field)) {
        r.error(s["time"]["field"], where + ".time.field: '" + sp.codec.time_field + "' is not one of the csv columns");
      }
      for (std::size_t j = 0; j < sp.codec.fields.size(); ++j) {
        if (!column(sp.codec.fields[j].name)) {
          r.error(s["fields"][j]["name"], where + ".fields[" + std::to_string(j) + "]: '" + sp.codec.fields[j].name +
                                              "' is not one of the csv columns");
        }
      }
    }
    if (s["retention"]) {
      r.known_keys(s["retention"], where + ".retention", {"age", "size"});
      sp.retention.retention_ms = r.duration_ms(s["retention"]["age"], where + ".retention.age", 0);
      sp.retention.retention_bytes = r.size_bytes(s["retention"]["size"], where + ".retention.size", 0);
    }
    sp.codec.max_payload_bytes = r.size_bytes(s["max_payload"], where + ".max_payload", sp.codec.max_payload_bytes);
    sp.dead_letter_stream = r.str(s["dead_letter"], where + ".dead_letter", sp.name + ".dead");
    p->streams.push_back(std::move(sp));
  }
}

void read_sources(Reader& r, const YAML::Node& list, Plan* p) {
  if (!list) return;
  if (!list.IsSequence()) { r.error(list, "sources must be a list"); return; }
  std::set<std::string> names;
  auto stream_known = [&](const YAML::Node& at, const std::string& name) {
    for (const auto& s : p->streams) if (s.name == name) return;
    r.error(at, "stream '" + name + "' is not declared under streams");
  };
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node s = list[i];
    const std::string where = "sources[" + std::to_string(i) + "]";
    std::string name = r.str(s["name"], where + ".name");
    if (name.empty()) r.error(s, where + " needs a name");
    else if (!names.insert(name).second) r.error(s["name"], "source '" + name + "' is declared twice");
    std::string type = r.str(s["type"], where + ".type");
    if (type == "mqtt") {
      r.known_keys(s, where, {"name", "type", "broker", "client_id", "protocol", "clean_session", "keepalive",
                              "username", "password", "password_env", "password_file", "tls", "reconnect",
                              "max_inflight", "ack", "subscriptions"});
      ingest::MqttSourceOptions o;
      o.name = name;
      o.broker = r.str(s["broker"], where + ".broker");
      if (o.broker.empty()) r.error(s, where + " needs a broker (e.g. tcp://127.0.0.1:1883)");
      o.client_id = r.str(s["client_id"], where + ".client_id", "outpost-" + p->agent_id + "-" + name);
      std::string proto = r.str(s["protocol"], where + ".protocol", "3.1.1");
      if (proto == "5") o.version = ingest::MqttVersion::kV5;
      else if (proto != "3.1.1") r.error(s["protocol"], where + ".protocol must be 3.1.1 or 5");
      o.clean_session = r.boolean(s["clean_session"], where + ".clean_session", false);
      o.keepalive_s = r.duration_ms(s["keepalive"], where + ".keepalive", 30000) / 1000;
      o.username = r.str(s["username"], where + ".username");
      o.password = r.secret(s, where);
      if (s["tls"]) {
        const YAML::Node t = s["tls"];
        r.known_keys(t, where + ".tls", {"ca_file", "cert_file", "key_file", "verify"});
        o.tls.ca_file = r.str(t["ca_file"], where + ".tls.ca_file");
        o.tls.cert_file = r.str(t["cert_file"], where + ".tls.cert_file");
        o.tls.key_file = r.str(t["key_file"], where + ".tls.key_file");
        r.readable(t["ca_file"], where + ".tls.ca_file", o.tls.ca_file);
        r.readable(t["cert_file"], where + ".tls.cert_file", o.tls.cert_file);
        r.readable(t["key_file"], where + ".tls.key_file", o.tls.key_file);
      }
      if (s["reconnect"]) {
        r.known_keys(s["reconnect"], where + ".reconnect", {"min", "max"});
        o.reconnect.min_ms = r.duration_ms(s["reconnect"]["min"], where + ".reconnect.min", o.reconnect.min_ms);
        o.reconnect.max_ms = r.duration_ms(s["reconnect"]["max"], where + ".reconnect.max", o.reconnect.max_ms);
      }
      o.max_inflight = static_cast<int>(r.integer(s["max_inflight"], where + ".max_inflight", o.max_inflight, 1, 65535));
      std::string ack = r.str(s["ack"], where + ".ack", "written");
      if (ack == "durable") o.ack = ingest::AckMode::kDurable;
      else if (ack != "written") r.error(s["ack"], where + ".ack must be written or durable");
      // Paho's on-disk state closes the QoS 2 gap between PUBREC and our callback (see
      // agent/ingest/README.md), so it always lives beside the log.
      o.persistence_dir = p->store.data_dir / "mqtt" / name;
      const YAML::Node subs = s["subscriptions"];
      if (!subs || !subs.IsSequence() || subs.size() == 0) {
        r.error(s, where + " needs a list of subscriptions ({topic, qos, stream})");
      } else {
        for (std::size_t j = 0; j < subs.size(); ++j) {
          const std::string sw = where + ".subscriptions[" + std::to_string(j) + "]";
          r.known_keys(subs[j], sw, {"topic", "qos", "stream"});
          ingest::MqttSubscription sub;
          sub.filter = r.str(subs[j]["topic"], sw + ".topic");
          sub.qos = static_cast<int>(r.integer(subs[j]["qos"], sw + ".qos", 1, 0, 2));
          sub.stream = r.str(subs[j]["stream"], sw + ".stream");
          if (sub.filter.empty()) r.error(subs[j], sw + " needs a topic");
          if (sub.stream.empty()) r.error(subs[j], sw + " needs a stream");
          else stream_known(subs[j]["stream"], sub.stream);
          o.subscriptions.push_back(sub);
        }
      }
      Status st = ingest::validate_mqtt_options(o);
      if (!st.is_ok() && r.errors().empty()) r.error(s, st.message());
      p->mqtt_sources.push_back(std::move(o));
    } else if (type == "serial") {
      r.known_keys(s, where, {"name", "type", "device", "baud", "data_bits", "parity", "stop_bits", "framing",
                              "delimiter", "frame_bytes", "max_line", "stream", "reopen"});
      ingest::SerialSourceOptions o;
      o.name = name;
      o.device = r.str(s["device"], where + ".device");
      if (o.device.empty()) r.error(s, where + " needs a device (e.g. /dev/ttyUSB0)");
      o.baud = static_cast<std::uint32_t>(r.integer(s["baud"], where + ".baud", 9600, 50, 4000000));
      o.data_bits = static_cast<int>(r.integer(s["data_bits"], where + ".data_bits", 8, 5, 8));
      std::string parity = r.str(s["parity"], where + ".parity", "none");
      if (parity == "even") o.parity = ingest::SerialParity::kEven;
      else if (parity == "odd") o.parity = ingest::SerialParity::kOdd;
      else if (parity != "none") r.error(s["parity"], where + ".parity must be none, even or odd");
      o.stop_bits = static_cast<int>(r.integer(s["stop_bits"], where + ".stop_bits", 1, 1, 2));
      std::string framing = r.str(s["framing"], where + ".framing", "line");
      if (framing == "fixed") {
        o.framing = ingest::SerialFraming::kFixed;
        o.frame_bytes = static_cast<std::size_t>(r.integer(s["frame_bytes"], where + ".frame_bytes", 0, 1, 1 << 20));
        if (!s["frame_bytes"]) r.error(s, where + ": framing fixed needs frame_bytes");
      } else if (framing != "line") {
        r.error(s["framing"], where + ".framing must be line or fixed");
      }
      if (s["delimiter"]) {
        std::string d = r.str(s["delimiter"], where + ".delimiter");
        std::string unescaped;
        for (std::size_t k = 0; k < d.size(); ++k) {
          if (d[k] == '\\' && k + 1 < d.size()) {
            char c = d[++k];
            unescaped += c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c == '0' ? '\0' : c;
          } else {
            unescaped += d[k];
          }
        }
        if (unescaped.empty()) r.error(s["delimiter"], where + ".delimiter must not be empty");
        o.delimiter = unescaped;
      }
      o.max_line_bytes = static_cast<std::size_t>(r.integer(s["max_line"], where + ".max_line", 4096, 16, 1 << 20));
      o.stream = r.str(s["stream"], where + ".stream");
      if (o.stream.empty()) r.error(s, where + " needs a stream");
      else stream_known(s["stream"], o.stream);
      p->serial_sources.push_back(std::move(o));
    } else {
      r.error(s["type"] ? s["type"] : s, where + ".type must be mqtt or serial");
    }
  }
}

void read_central(Reader& r, const YAML::Node& c, Plan* p) {
  if (!c) return;
  r.known_keys(c, "central", {"brokers", "security_protocol", "sasl", "tls", "compression", "gap_topic",
                              "cursor_topic", "properties", "mirrors"});
  auto& cs = p->sync.central;
  cs.brokers = r.str(c["brokers"], "central.brokers");
  if (cs.brokers.empty()) r.error(c, "central needs brokers (host:port,...)");
  cs.security_protocol = r.str(c["security_protocol"], "central.security_protocol", cs.security_protocol);
  if (c["sasl"]) {
    r.known_keys(c["sasl"], "central.sasl", {"mechanism", "username", "password", "password_env", "password_file"});
    cs.sasl_mechanism = r.str(c["sasl"]["mechanism"], "central.sasl.mechanism");
    cs.sasl_username = r.str(c["sasl"]["username"], "central.sasl.username");
    cs.sasl_password = r.secret(c["sasl"], "central.sasl");
  }
  if (c["tls"]) {
    r.known_keys(c["tls"], "central.tls", {"ca_file", "cert_file", "key_file"});
    cs.tls_ca_file = r.str(c["tls"]["ca_file"], "central.tls.ca_file");
    cs.tls_cert_file = r.str(c["tls"]["cert_file"], "central.tls.cert_file");
    cs.tls_key_file = r.str(c["tls"]["key_file"], "central.tls.key_file");
    r.readable(c["tls"]["ca_file"], "central.tls.ca_file", cs.tls_ca_file);
    r.readable(c["tls"]["cert_file"], "central.tls.cert_file", cs.tls_cert_file);
    r.readable(c["tls"]["key_file"], "central.tls.key_file", cs.tls_key_file);
  }
  cs.compression = r.str(c["compression"], "central.compression", cs.compression);
  cs.gap_topic = r.str(c["gap_topic"], "central.gap_topic", cs.gap_topic);
  cs.cursor_topic = r.str(c["cursor_topic"], "central.cursor_topic", cs.cursor_topic);
  if (c["properties"]) {
    if (!c["properties"].IsMap()) r.error(c["properties"], "central.properties must be a map of librdkafka properties");
    else for (const auto& kv : c["properties"]) cs.properties[kv.first.as<std::string>()] = r.str(kv.second, "central.properties");
  }
  const YAML::Node mirrors = c["mirrors"];
  if (mirrors && !mirrors.IsSequence()) r.error(mirrors, "central.mirrors must be a list");
  std::set<std::string> names;
  for (std::size_t i = 0; mirrors && mirrors.IsSequence() && i < mirrors.size(); ++i) {
    const YAML::Node m = mirrors[i];
    const std::string where = "central.mirrors[" + std::to_string(i) + "]";
    r.known_keys(m, where, {"name", "stream", "topic", "key", "priority", "max_rate", "delivery"});
    sync::MirrorSettings ms;
    ms.stream = r.str(m["stream"], where + ".stream");
    ms.name = r.str(m["name"], where + ".name", ms.stream);
    ms.topic = r.str(m["topic"], where + ".topic", ms.stream);
    if (ms.stream.empty()) r.error(m, where + " needs a stream");
    if (!ms.name.empty() && !names.insert(ms.name).second) r.error(m, "mirror '" + ms.name + "' is declared twice");
    std::string key = r.str(m["key"], where + ".key", "record");
    if (key == "none") ms.key = sync::KeyMode::kNone;
    else if (key != "record") r.error(m["key"], where + ".key must be record (the stream's key) or none");
    ms.priority = static_cast<int>(r.integer(m["priority"], where + ".priority", 0, -1000, 1000));
    if (m["max_rate"]) {
      std::string rate = r.str(m["max_rate"], where + ".max_rate");
      auto slash = rate.find("/s");
      if (slash == std::string::npos || slash + 2 != rate.size()) {
        r.error(m["max_rate"], where + ".max_rate: '" + rate + "' is not a rate; write e.g. 500/s or 1MiB/s");
      } else {
        YAML::Node num(rate.substr(0, slash));
        std::string n = rate.substr(0, slash);
        if (!n.empty() && n.find_first_not_of("0123456789") == std::string::npos) ms.max_records_per_s = std::stod(n);
        else ms.max_bytes_per_s = static_cast<double>(r.size_bytes(m["max_rate"], where + ".max_rate", 0));
      }
    }
    std::string delivery = r.str(m["delivery"], where + ".delivery", "at_least_once");
    if (delivery == "exactly_once") ms.delivery = sync::Delivery::kExactlyOnce;
    else if (delivery != "at_least_once") r.error(m["delivery"], where + ".delivery must be at_least_once or exactly_once");
    p->sync.mirrors.push_back(std::move(ms));
  }
  p->sync_enabled = !p->sync.mirrors.empty();
}

}  // namespace

Result<Plan> load_plan(const std::string& config_path) {
  Reader r(config_path);
  YAML::Node root;
  try {
    root = YAML::LoadFile(config_path);
  } catch (const YAML::BadFile&) {
    return Status::invalid_argument(config_path + ": cannot read the config file");
  } catch (const YAML::ParserException& e) {
    return Status::invalid_argument(config_path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                    std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Plan p;
  try {
    if (!root.IsMap()) {
      r.error_top("the config must be a map with agent, storage, sources, streams, queries, central");
    } else {
      r.known_keys(root, "the config", {"agent", "storage", "sources", "streams", "queries", "central", "health"});
      read_agent(r, root["agent"], &p);
      read_storage(r, root["storage"], &p);
      read_streams(r, root["streams"], &p);
      read_sources(r, root["sources"], &p);
      read_central(r, root["central"], &p);
      if (root["central"]) p.sync.agent = p.agent_id;
      for (std::size_t i = 0; i < p.sync.mirrors.size(); ++i) {
        const auto& m = p.sync.mirrors[i];
        bool known = false;
        for (const auto& s : p.streams) known |= s.name == m.stream || s.dead_letter_stream == m.stream;
        if (!known) {
          r.error(root["central"]["mirrors"][i]["stream"],
                  "mirror '" + m.name + "': stream '" + m.stream + "' is not declared under streams (nor a dead-letter stream)");
        }
      }
      if (root["queries"] && root["queries"].IsSequence() && root["queries"].size() > 0) {
        r.error(root["queries"], "queries: continuous queries are not available in this build yet");
      }
      if (root["health"]) {
        r.known_keys(root["health"], "health", {"source_silence", "sync_offline"});
        p.health.source_silence_ms = r.duration_ms(root["health"]["source_silence"], "health.source_silence", 0);
        p.health.sync_offline_ms = r.duration_ms(root["health"]["sync_offline"], "health.sync_offline", p.health.sync_offline_ms);
      }
    }
  } catch (const YAML::Exception& e) {
    r.error_top(std::string("unexpected config structure: ") + e.what());
  }
  if (!r.errors().empty()) {
    std::string all;
    for (const auto& e : r.errors()) all += (all.empty() ? "" : "\n") + e;
    return Status::invalid_argument(all);
  }
  return p;
}

}  // namespace outpost::runtime
