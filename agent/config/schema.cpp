// The table: every key of outpost.yaml, declared once. Parsing (loader.cpp), validation,
// `outpost check` and docs/CONFIG.md (reference.cpp) all read it.
#include "agent/config/schema.h"

#include <map>

namespace outpost::config::schema {
namespace {

using T = Type;
constexpr std::int64_t kMs = 1;
constexpr std::int64_t kSec = 1000 * kMs;
constexpr std::int64_t kMin = 60 * kSec;
constexpr std::int64_t kHour = 60 * kMin;
constexpr std::int64_t kDay = 24 * kHour;
constexpr std::int64_t kKiB = 1024;
constexpr std::int64_t kMiB = 1024 * kKiB;
constexpr std::int64_t kGiB = 1024 * kMiB;

const std::vector<Key> kTable = {
    // ---- agent
    {.path = "agent", .type = T::kSection, .doc = "This gateway."},
    {.path = "agent.id", .type = T::kString, .def = "<host name>",
     .doc = "Names this gateway centrally (Kafka headers, cursor keys, transactional ids). Keep it stable: "
            "a new id starts new cursors."},
    {.path = "agent.data_dir", .type = T::kString, .def = "/var/lib/outpost",
     .doc = "The local log: segments, catalog, MQTT session state. systemd: StateDirectory=outpost."},
    {.path = "agent.http", .type = T::kSection, .doc = "The HTTP API: /metrics, /healthz, /v1/..."},
    {.path = "agent.http.listen", .type = T::kString, .def = "127.0.0.1:8470",
     .doc = "host:port to listen on; loopback only by default; port 0 picks a free port; empty = no HTTP "
            "server."},
    {.path = "agent.log_level", .type = T::kChoice, .def = "info", .choices = "debug|info|warning|error",
     .doc = "Least severe message logged (to the journal via stderr)."},

    // ---- storage
    {.path = "storage", .type = T::kSection, .doc = "The local log (store::Options)."},
    {.path = "storage.segment_size", .type = T::kSize, .def = "64MiB", .min = kMiB, .max = 16 * kGiB,
     .doc = "A segment file is closed and a new one started at this size. Retention removes whole segments."},
    {.path = "storage.block_size", .type = T::kSize, .def = "1MiB", .min = 4 * kKiB, .max = 16 * kMiB,
     .doc = "Raw bytes packed into one zstd block. Larger compresses better; a reader decompresses a whole block."},
    {.path = "storage.flush", .type = T::kSection, .doc = "Group commit."},
    {.path = "storage.flush.interval", .type = T::kDuration, .def = "200ms", .min = 1 * kMs, .max = 1 * kHour,
     .doc = "Records are made durable (written, fdatasync'd) at least this often: a power cut loses at most "
            "this much."},
    {.path = "storage.flush.bytes", .type = T::kSize, .def = "4MiB", .min = 4 * kKiB, .max = 1 * kGiB,
     .doc = "Or earlier, once this much is pending."},
    {.path = "storage.fsync", .type = T::kChoice, .def = "always", .choices = "always|never",
     .doc = "always: fdatasync each group commit. never: write() only (survives a crash, not a power cut)."},
    {.path = "storage.zstd_level", .type = T::kInt, .def = "3", .min = 1, .max = 19,
     .doc = "zstd compression level of blocks."},
    {.path = "storage.quota", .type = T::kSize, .def = "0",
     .doc = "Disk space for all streams together; 0 = no quota (the file system is the limit)."},
    {.path = "storage.on_full", .type = T::kChoice, .def = "drop_oldest", .choices = "drop_oldest|reject_new",
     .doc = "At the quota: drop the oldest segments (recorded and reported centrally as gaps) or refuse new "
            "records (sources stop acknowledging; brokers keep the messages)."},

    // ---- sources
    {.path = "sources", .type = T::kList, .doc = "Where data comes from: MQTT brokers and serial ports."},
    {.path = "sources[].name", .type = T::kString, .required = "a name",
     .doc = "Unique; names the source in logs, metrics and the MQTT session directory."},
    {.path = "sources[].type", .type = T::kChoice, .choices = "mqtt|serial", .required = "a type (mqtt or serial)",
     .doc = "Which kind of source; decides the keys below."},

    {.path = "sources[mqtt].broker", .type = T::kString, .required = "a broker (e.g. tcp://127.0.0.1:1883)",
     .doc = "scheme://host:port; scheme tcp or mqtt (plain), ssl, mqtts or tls (TLS), ws or wss (WebSocket)."},
    {.path = "sources[mqtt].client_id", .type = T::kString, .def = "<outpost-AGENT_ID-NAME>",
     .doc = "MQTT client id; must be stable across restarts for the persistent session to resume."},
    {.path = "sources[mqtt].protocol", .type = T::kChoice, .def = "3.1.1", .choices = "3.1.1|5",
     .doc = "MQTT protocol version."},
    {.path = "sources[mqtt].clean_session", .type = T::kBool, .def = "false",
     .doc = "false: persistent session, the broker queues QoS 1/2 messages while Outpost is down. true loses "
            "them."},
    {.path = "sources[mqtt].session_expiry", .type = T::kDuration, .def = "7d", .min = 0, .max = 49710 * kDay,
     .doc = "MQTT 5: how long the broker keeps the session after a disconnect."},
    {.path = "sources[mqtt].keepalive", .type = T::kDuration, .def = "30s", .min = 1 * kSec, .max = 65535 * kSec,
     .doc = "MQTT keepalive; a silent connection is declared dead after 1.5 times this."},
    {.path = "sources[mqtt].connect_timeout", .type = T::kDuration, .def = "10s", .min = 1 * kSec,
     .max = 10 * kMin, .doc = "Give up one connection attempt after this long."},
    {.path = "sources[mqtt].username", .type = T::kString, .doc = "MQTT user name; none by default."},
    {.path = "sources[mqtt].password", .type = T::kForbidden,
     .doc = "Not allowed: a password is never written in the config. Use password_env or password_file."},
    {.path = "sources[mqtt].password_env", .type = T::kEnvName,
     .doc = "Name of an environment variable holding the MQTT password."},
    {.path = "sources[mqtt].password_file", .type = T::kSecretFile,
     .doc = "File holding the MQTT password (trailing newline removed), e.g. "
            "${CREDENTIALS_DIRECTORY}/mqtt-password with systemd LoadCredential=."},
    {.path = "sources[mqtt].tls", .type = T::kSection,
     .doc = "TLS settings; used with an ssl://, mqtts://, tls:// or wss:// broker."},
    {.path = "sources[mqtt].tls.ca_file", .type = T::kPath, .doc = "PEM CA bundle; default: the system CAs."},
    {.path = "sources[mqtt].tls.cert_file", .type = T::kPath,
     .doc = "Client certificate (PEM) for mutual TLS; needs key_file."},
    {.path = "sources[mqtt].tls.key_file", .type = T::kPath, .doc = "Client private key (PEM)."},
    {.path = "sources[mqtt].tls.verify", .type = T::kBool, .def = "true",
     .doc = "Verify the broker's certificate chain and host name."},
    {.path = "sources[mqtt].reconnect", .type = T::kSection, .doc = "Reconnect backoff (doubles, with jitter)."},
    {.path = "sources[mqtt].reconnect.min", .type = T::kDuration, .def = "500ms", .min = 10 * kMs,
     .max = 1 * kHour, .doc = "First wait after a lost connection."},
    {.path = "sources[mqtt].reconnect.max", .type = T::kDuration, .def = "30s", .min = 10 * kMs,
     .max = 1 * kHour, .doc = "Longest wait between attempts."},
    {.path = "sources[mqtt].max_inflight", .type = T::kInt, .def = "100", .min = 1, .max = 65535,
     .doc = "QoS 1/2 messages in flight (MQTT 5 Receive Maximum)."},
    {.path = "sources[mqtt].ack", .type = T::kChoice, .def = "written", .choices = "written|durable",
     .doc = "Acknowledge a QoS 1/2 message once written to the OS (survives kill -9) or once fdatasync'd "
            "(survives a power cut, at most flush.interval slower)."},
    {.path = "sources[mqtt].subscriptions", .type = T::kList,
     .required = "a list of subscriptions ({topic, qos, stream})", .doc = "Topic filters and where they go."},
    {.path = "sources[mqtt].subscriptions[].topic", .type = T::kString, .required = "a topic",
     .doc = "Topic filter: '+' is one whole level, '#' the last whole level; $share/<group>/<filter> for "
            "shared subscriptions."},
    {.path = "sources[mqtt].subscriptions[].qos", .type = T::kInt, .def = "1", .min = 0, .max = 2,
     .doc = "Maximum QoS for this subscription. 0 may lose messages."},
    {.path = "sources[mqtt].subscriptions[].stream", .type = T::kString, .required = "a stream",
     .doc = "A stream declared under streams."},

    {.path = "sources[serial].device", .type = T::kString, .required = "a device (e.g. /dev/ttyUSB0)",
     .doc = "The tty; /dev/serial/by-id/... names survive replugging."},
    {.path = "sources[serial].baud", .type = T::kInt, .def = "9600", .min = 50, .max = 4000000,
     .doc = "A standard rate: 50 ... 9600, 19200, 38400, 57600, 115200, 230400 ... 4000000."},
    {.path = "sources[serial].data_bits", .type = T::kInt, .def = "8", .min = 5, .max = 8, .doc = "5 to 8."},
    {.path = "sources[serial].parity", .type = T::kChoice, .def = "none", .choices = "none|even|odd", .doc = ""},
    {.path = "sources[serial].stop_bits", .type = T::kInt, .def = "1", .min = 1, .max = 2, .doc = "1 or 2."},
    {.path = "sources[serial].flow_control", .type = T::kChoice, .def = "none", .choices = "none|rtscts",
     .doc = "Hardware flow control; without it the device's bytes are lost in the kernel while the disk is full."},
    {.path = "sources[serial].framing", .type = T::kChoice, .def = "line", .choices = "line|fixed",
     .doc = "line: messages end with the delimiter. fixed: every message is frame_bytes long."},
    {.path = "sources[serial].delimiter", .type = T::kBytes, .def = "\\n",
     .doc = "Line framing: the bytes ending a line; escapes \\n \\r \\t \\0 \\\\ \\xHH."},
    {.path = "sources[serial].strip_cr", .type = T::kBool, .def = "true",
     .doc = "Drop one '\\r' before the delimiter (\"\\r\\n\" lines)."},
    {.path = "sources[serial].max_line", .type = T::kSize, .def = "4096", .min = 16, .max = kMiB,
     .doc = "A longer line is cut, its first max_line bytes dead-lettered."},
    {.path = "sources[serial].frame_bytes", .type = T::kSize, .min = 1, .max = kMiB,
     .doc = "Fixed framing: bytes per message (required with framing fixed)."},
    {.path = "sources[serial].reopen", .type = T::kSection,
     .doc = "Backoff for reopening a vanished or failing device."},
    {.path = "sources[serial].reopen.min", .type = T::kDuration, .def = "250ms", .min = 10 * kMs,
     .max = 1 * kHour, .doc = "First wait."},
    {.path = "sources[serial].reopen.max", .type = T::kDuration, .def = "10s", .min = 10 * kMs,
     .max = 1 * kHour, .doc = "Longest wait."},
    {.path = "sources[serial].ack", .type = T::kChoice, .def = "written", .choices = "written|durable",
     .doc = "Consume the device's bytes once the record is written to the OS, or once fdatasync'd."},
    {.path = "sources[serial].stream", .type = T::kString, .required = "a stream",
     .doc = "A stream declared under streams."},

    // ---- streams
    {.path = "streams", .type = T::kList, .doc = "Named sequences of records in the local log."},
    {.path = "streams[].name", .type = T::kString, .required = "a name",
     .doc = "1 to 200 of A-Z a-z 0-9 _ . -; unique."},
    {.path = "streams[].format", .type = T::kChoice, .def = "json", .choices = "json|csv|kv|raw",
     .doc = "Payload format. json is stored as received (validated); csv and kv are stored as JSON objects; "
            "raw is any bytes, without fields."},
    {.path = "streams[].fields", .type = T::kList,
     .doc = "Declared fields, checked at ingest; a record failing them is dead-lettered with the reason."},
    {.path = "streams[].fields[].name", .type = T::kString, .required = "a name",
     .doc = "json: dotted path into the object (\"meta.site\"); csv: a column; kv: a key."},
    {.path = "streams[].fields[].type", .type = T::kChoice, .def = "string",
     .choices = "double|int|string|bool|timestamp", .doc = ""},
    {.path = "streams[].fields[].required", .type = T::kBool, .def = "false",
     .doc = "A record without this field is dead-lettered."},
    {.path = "streams[].csv", .type = T::kSection, .doc = "format csv: one line of delimited columns."},
    {.path = "streams[].csv.columns", .type = T::kStringList,
     .doc = "Column names, in order (required for csv); a line with another count is dead-lettered."},
    {.path = "streams[].csv.delimiter", .type = T::kBytes, .def = ",",
     .doc = "One character; \\t for tab. Cells may be quoted RFC 4180 style."},
    {.path = "streams[].kv", .type = T::kSection, .doc = "format kv: key=value pairs."},
    {.path = "streams[].kv.separators", .type = T::kBytes, .def = " ,;\\t",
     .doc = "Characters separating key=value pairs (any of them); values may be quoted."},
    {.path = "streams[].kv.assign", .type = T::kBytes, .def = "=", .doc = "One character between key and value."},
    {.path = "streams[].key_field", .type = T::kString,
     .doc = "Field whose value is the record key (and the Kafka key); none by default."},
    {.path = "streams[].time", .type = T::kSection, .doc = "Event time; default: ingest time."},
    {.path = "streams[].time.field", .type = T::kString, .doc = "Field holding the event time."},
    {.path = "streams[].time.format", .type = T::kChoice, .def = "auto",
     .choices = "auto|unix_s|unix_ms|unix_us|unix_ns|rfc3339",
     .doc = "auto: RFC 3339 text, or a number whose magnitude says s/ms/us/ns."},
    {.path = "streams[].retention", .type = T::kSection,
     .doc = "How much to keep (never past a mirror's cursor unless the quota forces it)."},
    {.path = "streams[].retention.age", .type = T::kDuration, .def = "0s",
     .doc = "Keep records this long, in agent running time (not wall clock: boards without an RTC); "
            "0 = forever."},
    {.path = "streams[].retention.size", .type = T::kSize, .def = "0", .doc = "Keep at most this much; 0 = no limit."},
    {.path = "streams[].dead_letter", .type = T::kString, .def = "<NAME.dead>",
     .doc = "Stream receiving payloads that fail to decode, as {reason, class, source, stream, offset, bytes, encoding, payload} (agent/decode/dead_letter.h)."},
    {.path = "streams[].max_payload", .type = T::kSize, .def = "1MiB", .min = 16, .max = 16 * kMiB,
     .doc = "Larger payloads are dead-lettered (truncated, with the reason)."},

    // ---- queries
    {.path = "queries", .type = T::kList, .doc = "Continuous SQL queries; each writes a result stream."},
    {.path = "queries[].name", .type = T::kString, .required = "a name", .doc = "Unique; names its checkpoint."},
    {.path = "queries[].sql", .type = T::kString, .required = "sql (the query text)",
     .doc = "The query, e.g. SELECT window_start, device, avg(temp) FROM tumble(readings, ts, 1m) GROUP BY "
            "window_start, device."},
    {.path = "queries[].result_stream", .type = T::kString, .def = "<NAME>",
     .doc = "Stream the result rows are appended to; may be mirrored."},
    {.path = "queries[].late_policy", .type = T::kChoice, .def = "drop", .choices = "drop|update",
     .doc = "Late events (all their windows closed): drop (counted, kept in late_stream) or update (re-emit "
            "the window with a higher revision, within allowed_lateness)."},
    {.path = "queries[].late_stream", .type = T::kString, .def = "<NAME.late>",
     .doc = "Where dropped late events are kept."},
    {.path = "queries[].allowed_lateness", .type = T::kDuration, .def = "0s",
     .doc = "update policy: how long after closing a window may still be revised."},
    {.path = "queries[].idle_timeout", .type = T::kDuration, .def = "0s",
     .doc = "No input for this long (elapsed time, so wall-clock jumps do not fire it) moves the watermark past the "
            "end of every open window, so all of them close and are emitted (later events for them are late); 0 = never."},
    {.path = "queries[].start", .type = T::kChoice, .def = "latest", .choices = "latest|earliest",
     .doc = "First run without a checkpoint: new records only, or all stored history first."},
    {.path = "queries[].checkpoint_interval", .type = T::kDuration, .def = "5s", .min = 100 * kMs,
     .max = 1 * kHour, .doc = "How often state, input and output positions are saved together."},

    // ---- central
    {.path = "central", .type = T::kSection, .doc = "The central Kafka cluster and what is mirrored to it."},
    {.path = "central.brokers", .type = T::kString, .required = "brokers (host:port,...)",
     .doc = "Bootstrap servers, host:port,host:port."},
    {.path = "central.security_protocol", .type = T::kChoice, .def = "plaintext",
     .choices = "plaintext|ssl|sasl_plaintext|sasl_ssl", .doc = "librdkafka security.protocol."},
    {.path = "central.sasl", .type = T::kSection, .doc = "With sasl_plaintext or sasl_ssl."},
    {.path = "central.sasl.mechanism", .type = T::kChoice, .choices = "PLAIN|SCRAM-SHA-256|SCRAM-SHA-512",
     .required = "a mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", .doc = ""},
    {.path = "central.sasl.username", .type = T::kString, .required = "a username", .doc = ""},
    {.path = "central.sasl.password", .type = T::kForbidden,
     .doc = "Not allowed: use password_env or password_file."},
    {.path = "central.sasl.password_env", .type = T::kEnvName,
     .doc = "Environment variable holding the SASL password."},
    {.path = "central.sasl.password_file", .type = T::kSecretFile,
     .doc = "File holding the SASL password, e.g. ${CREDENTIALS_DIRECTORY}/kafka-password."},
    {.path = "central.tls", .type = T::kSection, .doc = "With ssl or sasl_ssl."},
    {.path = "central.tls.ca_file", .type = T::kPath, .doc = "PEM CA bundle; default: the system CAs."},
    {.path = "central.tls.cert_file", .type = T::kPath, .doc = "Client certificate (PEM); needs key_file."},
    {.path = "central.tls.key_file", .type = T::kPath, .doc = "Client private key (PEM)."},
    {.path = "central.compression", .type = T::kChoice, .def = "zstd", .choices = "none|gzip|snappy|lz4|zstd",
     .doc = "Producer compression."},
    {.path = "central.gap_topic", .type = T::kString, .def = "outpost.gaps",
     .doc = "Where ranges lost locally (quota, corruption) are reported."},
    {.path = "central.cursor_topic", .type = T::kString, .def = "outpost.cursors",
     .doc = "Exactly-once cursors; should be a compacted topic."},
    {.path = "central.properties", .type = T::kStringMap,
     .doc = "Further librdkafka producer properties, passed through (e.g. message.timeout.ms). Keys "
            "Outpost sets itself (brokers, security, SASL, TLS, compression, idempotence, gapless guarantee, transactions) are "
            "refused here."},
    {.path = "central.mirrors", .type = T::kList, .doc = "Streams sent to central topics."},
    {.path = "central.mirrors[].name", .type = T::kString, .def = "<STREAM>",
     .doc = "Unique; part of the cursor name and the transactional id. Keep it stable."},
    {.path = "central.mirrors[].stream", .type = T::kString, .required = "a stream",
     .doc = "A declared stream, a dead-letter stream, or a query's result or late stream."},
    {.path = "central.mirrors[].topic", .type = T::kString, .def = "<STREAM>", .doc = "Kafka topic."},
    {.path = "central.mirrors[].key", .type = T::kChoice, .def = "record", .choices = "record|none",
     .doc = "record: the record's key is the Kafka key (order per key kept); none: no key."},
    {.path = "central.mirrors[].priority", .type = T::kInt, .def = "0", .min = -1000, .max = 1000,
     .doc = "Higher drains first while several mirrors have a backlog."},
    {.path = "central.mirrors[].max_rate", .type = T::kRate,
     .doc = "Send at most this fast: 500/s (records) or 1MiB/s (bytes); unlimited by default."},
    {.path = "central.mirrors[].delivery", .type = T::kChoice, .def = "at_least_once",
     .choices = "at_least_once|exactly_once",
     .doc = "exactly_once: Kafka transactions with the cursor in cursor_topic; read with read_committed."},
    {.path = "central.mirrors[].max_in_flight", .type = T::kInt, .def = "20000", .min = 1, .max = 1000000,
     .doc = "at_least_once: records sent that the saved cursor does not cover yet, at most. A crash re-sends at "
            "most this many (duplicates with the same outpost-seq). Lower: fewer duplicates, but a backlog drains "
            "more slowly over a link with a long round trip. exactly_once ignores it."},

    // ---- health
    {.path = "health", .type = T::kSection, .doc = "When /healthz says 503 (and the watchdog stops)."},
    {.path = "health.source_silence", .type = T::kDuration, .def = "0s",
     .doc = "A source without a message this long is stalled; 0 = never."},
    {.path = "health.sync_offline", .type = T::kDuration, .def = "15m",
     .doc = "Central unreachable, with a backlog, this long; 0 = never."},
    {.path = "health.query_lag", .type = T::kDuration, .def = "0s",
     .doc = "A query whose watermark is this far behind its newest input; 0 = never."},
};

}  // namespace

const std::vector<Key>& table() { return kTable; }

const Key* find(std::string_view path) {
  static const std::map<std::string, const Key*, std::less<>> index = [] {
    std::map<std::string, const Key*, std::less<>> m;
    for (const Key& k : kTable) m.emplace(k.path, &k);
    return m;
  }();
  auto it = index.find(path);
  return it == index.end() ? nullptr : it->second;
}

std::string_view leaf(std::string_view path) {
  std::size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

std::vector<const Key*> children(std::string_view parent) {
  std::vector<const Key*> out;
  for (const Key& k : kTable) {
    std::string_view p = k.path;
    if (parent.empty()) {
      if (p.find('.') == std::string_view::npos) out.push_back(&k);
    } else if (p.size() > parent.size() + 1 && p.substr(0, parent.size()) == parent && p[parent.size()] == '.' &&
               p.substr(parent.size() + 1).find('.') == std::string_view::npos) {
      out.push_back(&k);
    }
  }
  return out;
}

const char* type_name(Type type) {
  switch (type) {
    case Type::kSection: return "section";
    case Type::kList: return "list";
    case Type::kString: return "string";
    case Type::kBytes: return "string (escapes)";
    case Type::kInt: return "integer";
    case Type::kBool: return "bool";
    case Type::kDuration: return "duration";
    case Type::kSize: return "size";
    case Type::kRate: return "rate";
    case Type::kChoice: return "choice";
    case Type::kStringList: return "list of strings";
    case Type::kStringMap: return "map";
    case Type::kPath: return "file";
    case Type::kEnvName: return "env var name";
    case Type::kSecretFile: return "file (secret)";
    case Type::kForbidden: return "forbidden";
  }
  return "?";
}

std::vector<std::string> split_choices(const char* choices) {
  std::vector<std::string> out;
  if (!choices) return out;
  std::string_view s = choices;
  while (true) {
    std::size_t bar = s.find('|');
    out.emplace_back(s.substr(0, bar));
    if (bar == std::string_view::npos) break;
    s.remove_prefix(bar + 1);
  }
  return out;
}

}  // namespace outpost::config::schema
