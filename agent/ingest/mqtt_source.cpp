#include "agent/ingest/mqtt_source.h"

#include <MQTTAsync.h>
#include <mqtt/async_client.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "agent/ingest/source_internal.h"

namespace outpost::ingest {
namespace {

constexpr int kLogError = 3;
constexpr int kLogWarning = 4;
constexpr int kLogInfo = 6;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

// Paho understands tcp://, ssl://, ws://, wss:// (and mqtt://, mqtts:// only in newer C
// releases); accept the common spellings and hand Paho its own.
std::string paho_uri(const std::string& uri) {
  if (starts_with(uri, "mqtt://")) return "tcp://" + uri.substr(7);
  if (starts_with(uri, "mqtts://")) return "ssl://" + uri.substr(8);
  if (starts_with(uri, "tls://")) return "ssl://" + uri.substr(6);
  return uri;
}

bool uri_wants_tls(const std::string& uri) {
  return starts_with(uri, "ssl://") || starts_with(uri, "mqtts://") ||
         starts_with(uri, "tls://") || starts_with(uri, "wss://");
}

Status validate_filter(const std::string& where, std::string_view filter) {
  if (filter.empty()) return Status::invalid_argument(where + ": empty topic filter");
  std::string_view f = filter;
  if (starts_with(f, "$share/")) {
    std::string_view rest = f.substr(7);
    auto slash = rest.find('/');
    if (slash == 0 || slash == std::string_view::npos || slash + 1 >= rest.size())
      return Status::invalid_argument(where + ": shared subscription '" + std::string(filter) +
                                      "' must look like $share/<group>/<filter>");
    f = rest.substr(slash + 1);
  }
  std::size_t level_start = 0;
  for (std::size_t i = 0; i <= f.size(); ++i) {
    if (i == f.size() || f[i] == '/') {
      std::string_view level = f.substr(level_start, i - level_start);
      const bool has_plus = level.find('+') != std::string_view::npos;
      const bool has_hash = level.find('#') != std::string_view::npos;
      if (has_plus && level != "+")
        return Status::invalid_argument(where + ": topic filter '" + std::string(filter) +
                                        "': '+' must fill a whole level");
      if (has_hash && (level != "#" || i != f.size()))
        return Status::invalid_argument(where + ": topic filter '" + std::string(filter) +
                                        "': '#' must be the last level");
      level_start = i + 1;
    }
  }
  return Status::ok();
}

std::string describe_exception(const std::exception& e) {
  std::string what = e.what();
  return what.empty() ? "unknown error" : what;
}

std::string seconds_text(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}


// After a failed TLS connect: one handshake of our own with the same files, to tell the user
// why (e.g. "certificate verify failed: self-signed certificate in certificate chain").
// Returns "" when the handshake succeeds or the broker cannot be reached at all.
std::string tls_probe(const MqttSourceOptions& o) {
  std::string uri = o.broker;
  auto scheme = uri.find("://");
  std::string rest = scheme == std::string::npos ? uri : uri.substr(scheme + 3);
  auto slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  std::string port = colon == std::string::npos ? "8883" : rest.substr(colon + 1);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!ctx) return {};
  SSL_CTX_set_verify(ctx.get(), o.tls.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (!o.tls.ca_file.empty() && SSL_CTX_load_verify_locations(ctx.get(), o.tls.ca_file.c_str(), nullptr) != 1) {
    return "cannot load tls.ca_file " + o.tls.ca_file;
  }
  if (o.tls.ca_file.empty()) SSL_CTX_set_default_verify_paths(ctx.get());
  if (!o.tls.cert_file.empty() && SSL_CTX_use_certificate_chain_file(ctx.get(), o.tls.cert_file.c_str()) != 1) {
    return "cannot load tls.cert_file " + o.tls.cert_file;
  }
  if (!o.tls.key_file.empty() && SSL_CTX_use_PrivateKey_file(ctx.get(), o.tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return "cannot load tls.key_file " + o.tls.key_file + " (or it does not match the certificate)";
  }
  std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new_ssl_connect(ctx.get()), BIO_free_all);
  if (!bio) return {};
  SSL* ssl = nullptr;
  BIO_get_ssl(bio.get(), &ssl);
  if (ssl == nullptr) return {};
  SSL_set_tlsext_host_name(ssl, host.c_str());
  std::string target = host + ":" + port;
  BIO_set_conn_hostname(bio.get(), target.c_str());
  if (BIO_do_connect(bio.get()) == 1 && BIO_do_handshake(bio.get()) == 1) return {};
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  unsigned long err = ERR_get_error();
  if (err == 0) return {};
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  return buf;
}

// Paho C keeps an in-memory trace ring at its lowest level by default: every function entry and
// exit inside the library copies the function's name under a global mutex, and every received
// PUBLISH is formatted into a log line, although nothing reads the ring unless
// MQTT_C_CLIENT_TRACE is set. That cost ~20% of the receive thread's CPU per message
// (bench/REPORT-notes.md, mqtt_ingest). Keep only errors, unless the user asked for Paho's trace.
// Process-wide, like Paho's receive thread.
void quiet_paho_trace() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* trace = std::getenv("MQTT_C_CLIENT_TRACE");
    if (trace == nullptr || *trace == '\0') MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
  });
}

}  // namespace

bool mqtt_topic_matches(std::string_view filter, std::string_view topic) {
  if (starts_with(filter, "$share/")) {
    std::string_view rest = filter.substr(7);
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) return false;
    filter = rest.substr(slash + 1);
  }
  // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match topics starting with '$'.
  if (!topic.empty() && topic[0] == '$' && !filter.empty() && (filter[0] == '+' || filter[0] == '#'))
    return false;
  std::size_t fi = 0, ti = 0;
  for (;;) {
    auto fend = filter.find('/', fi);
    std::string_view flevel = filter.substr(fi, fend == std::string_view::npos ? std::string_view::npos : fend - fi);
    if (flevel == "#") return true;  // matches the parent level too ("a/#" matches "a")
    if (ti > topic.size()) {
      return false;
    }
    auto tend = topic.find('/', ti);
    std::string_view tlevel = topic.substr(ti, tend == std::string_view::npos ? std::string_view::npos : tend - ti);
    if (flevel != "+" && flevel != tlevel) return false;
    const bool flast = fend == std::string_view::npos;
    const bool tlast = tend == std::string_view::npos;
    if (flast && tlast) return true;
    if (flast) return false;
    if (tlast) {
      // Topic ended; only a trailing "/#" still matches.
      return filter.substr(fend + 1) == "#";
    }
    fi = fend + 1;
    ti = tend + 1;
  }
}

Status validate_mqtt_options(const MqttSourceOptions& o) {
  const std::string where = "mqtt source '" + o.name + "'";
  if (o.name.empty()) return Status::invalid_argument("mqtt source: name is empty");
  const std::string uri = paho_uri(o.broker);
  if (!(starts_with(uri, "tcp://") || starts_with(uri, "ssl://") || starts_with(uri, "ws://") ||
        starts_with(uri, "wss://")))
    return Status::invalid_argument(where + ": broker '" + o.broker +
                                    "' must start with tcp://, mqtt://, ssl://, mqtts://, ws:// or wss://");
  if (o.client_id.empty())
    return Status::invalid_argument(where + ": client_id is empty (a persistent session needs a stable id)");
  if (o.client_id.size() > 65535) return Status::invalid_argument(where + ": client_id too long");
  if (o.subscriptions.empty()) return Status::invalid_argument(where + ": no subscriptions");
  for (std::size_t i = 0; i < o.subscriptions.size(); ++i) {
    const auto& s = o.subscriptions[i];
    const std::string sw = where + " subscription " + std::to_string(i + 1);
    OUTPOST_RETURN_IF_ERROR(validate_filter(sw, s.filter));
    if (s.qos < 0 || s.qos > 2)
      return Status::invalid_argument(sw + ": qos " + std::to_string(s.qos) + " (must be 0, 1 or 2)");
    if (s.stream.empty()) return Status::invalid_argument(sw + " ('" + s.filter + "'): stream is empty");
  }
  if (o.keepalive_s < 0 || o.keepalive_s > 65535)
    return Status::invalid_argument(where + ": keepalive must be 0..65535 s");
  if (o.connect_timeout_s <= 0) return Status::invalid_argument(where + ": connect_timeout must be > 0");
  if (o.max_inflight <= 0 || o.max_inflight > 65535)
    return Status::invalid_argument(where + ": max_inflight must be 1..65535");
  if (o.reconnect.min_ms <= 0 || o.reconnect.max_ms < o.reconnect.min_ms)
    return Status::invalid_argument(where + ": reconnect backoff needs 0 < min <= max");
  const bool tls = o.tls.enabled || uri_wants_tls(o.broker);
  if (tls) {
    for (const auto* f : {&o.tls.ca_file, &o.tls.cert_file, &o.tls.key_file}) {
      if (!f->empty() && ::access(f->c_str(), R_OK) != 0)
        return Status::invalid_argument(where + ": TLS file '" + *f + "' is not readable: " +
                                        std::generic_category().message(errno));
    }
    if (o.tls.cert_file.empty() != o.tls.key_file.empty())
      return Status::invalid_argument(where + ": TLS client cert and key must be given together");
  } else if (!o.tls.ca_file.empty() || !o.tls.cert_file.empty()) {
    return Status::invalid_argument(where + ": TLS files given but broker '" + o.broker +
                                    "' is not a TLS URI (use ssl:// or mqtts://, or tls.enabled)");
  }
  return Status::ok();
}

// State shared between the source, its control thread and Paho's callback threads. Held by
// shared_ptr from the Paho callbacks, so a callback parked at shutdown never touches freed
// memory (see stop()).
struct MqttSource::Core {
  Core(MqttSourceOptions o, MessageSink* s, SourceLogger l)
      : opts(std::move(o)),
        sink(s),
        log(l ? std::move(l) : default_source_logger()),
        component("mqtt[" + opts.name + "]"),
        uri(paho_uri(opts.broker)),
        metrics(opts.name, "mqtt", opts.broker) {}

  const MqttSourceOptions opts;
  MessageSink* const sink;
  const SourceLogger log;
  const std::string component;
  const std::string uri;
  internal::MetricsBox metrics;

  std::unique_ptr<mqtt::async_client> client;  // created in start(); owned by the control thread
  std::thread control;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;         // GUARDED_BY(mu)
  bool connection_lost = false;  // GUARDED_BY(mu)
  std::string lost_cause;        // GUARDED_BY(mu)
  bool stalled_in_callback = false;  // GUARDED_BY(mu): a callback retries a failing sink
  bool abandoned = false;        // GUARDED_BY(mu): stop() gave up on a stuck callback
  std::string tls_error;         // GUARDED_BY(mu): last OpenSSL error text from Paho

  void info(const std::string& m) { log(kLogInfo, component, m); }
  void warn(const std::string& m) { log(kLogWarning, component, m); }
  void error(const std::string& m) { log(kLogError, component, m); }

  std::string broker_label() const { return opts.name + " (" + opts.broker + ")"; }

  // Waits up to ms or until stopping; returns false when stopping.
  bool sleep_unless_stopping(std::int64_t ms) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping; });
    return !stopping;
  }

  const MqttSubscription* match(std::string_view topic) const {
    for (const auto& s : opts.subscriptions)
      if (mqtt_topic_matches(s.filter, topic)) return &s;
    return nullptr;
  }

  mqtt::connect_options connect_options() {
    mqtt::connect_options c;
    if (opts.version == MqttVersion::kV5) {
      c.set_mqtt_version(MQTTVERSION_5);
      c.set_clean_session(false);
      c.set_clean_start(opts.clean_session);
      mqtt::properties props;
      // The property is a four-byte integer; Paho's C++ wrapper takes it as int32_t.
      props.add({mqtt::property::SESSION_EXPIRY_INTERVAL,
                 static_cast<int32_t>(opts.clean_session ? 0u : opts.session_expiry_s)});
      props.add({mqtt::property::RECEIVE_MAXIMUM, static_cast<uint16_t>(opts.max_inflight)});
      c.set_properties(props);
    } else {
      c.set_mqtt_version(MQTTVERSION_3_1_1);
      c.set_clean_session(opts.clean_session);
    }
    c.set_keep_alive_interval(static_cast<int>(opts.keepalive_s));
    c.set_connect_timeout(static_cast<int>(opts.connect_timeout_s));
    c.set_max_inflight(opts.max_inflight);
    c.set_automatic_reconnect(false);  // our control thread reconnects (counted, logged)
    if (!opts.username.empty()) c.set_user_name(opts.username);
    if (!opts.password.empty()) c.set_password(opts.password);
    if (opts.tls.enabled || uri_wants_tls(opts.broker)) {
      // No Paho error handler: Paho C++ 1.2 keeps a pointer to the ssl_options object the
      // handler was set on, and moving connect_options leaves it pointing at a dead copy (a
      // stack-use-after-scope under ASan when a TLS error is reported). tls_probe() finds the
      // cause instead, after a failed connect.
      mqtt::ssl_options ssl;
      if (!opts.tls.ca_file.empty()) ssl.set_trust_store(opts.tls.ca_file);
      if (!opts.tls.cert_file.empty()) ssl.set_key_store(opts.tls.cert_file);
      if (!opts.tls.key_file.empty()) ssl.set_private_key(opts.tls.key_file);
      if (!opts.tls.key_password.empty()) ssl.set_private_key_password(opts.tls.key_password);
      ssl.set_enable_server_cert_auth(opts.tls.verify);
      ssl.set_verify(opts.tls.verify);
      c.set_ssl(ssl);
    }
    return c;
  }

  // Connects and subscribes once. On failure returns a message naming broker and cause.
  Status connect_once(bool first_connection_of_run) {
    {
      std::lock_guard<std::mutex> lock(mu);
      tls_error.clear();
      connection_lost = false;
    }
    bool session_present = false;
    const auto timeout = std::chrono::seconds(opts.connect_timeout_s + 5);
    try {
      auto tok = client->connect(connect_options());
      if (!tok->wait_for(timeout)) {
        return Status::unavailable("timed out after " + std::to_string(opts.connect_timeout_s + 5) +
                                   "s connecting");
      }
      session_present = tok->get_connect_response().is_session_present();
    } catch (const std::exception& e) {
      std::string msg = describe_exception(e);
      std::lock_guard<std::mutex> lock(mu);
      if (tls_error.empty() && (opts.tls.enabled || uri_wants_tls(opts.broker))) tls_error = tls_probe(opts);
      if (!tls_error.empty()) {
        msg += "; TLS: " + tls_error;
        if (tls_error.find("certificate verify failed") != std::string::npos)
          msg += " (is tls.ca_file the CA that signed the broker's certificate, and does the "
                 "certificate name the host in the broker URI?)";
      } else if (opts.tls.enabled || uri_wants_tls(opts.broker)) {
        msg += " (TLS: the broker closed the connection during or right after the handshake; "
               "it may require a client certificate or reject ours)";
      }
      return Status::unavailable(msg);
    }
    // Subscribe when the broker lost (or never had) our session, and on the first connection
    // of this run (the configured filters may have changed since the session was created).
    if (!session_present || first_connection_of_run || opts.clean_session) {
      for (const auto& s : opts.subscriptions) {
        try {
          mqtt::subscribe_options so;
          if (opts.version == MqttVersion::kV5)
            so = mqtt::subscribe_options(false, false,
                                         session_present ? mqtt::subscribe_options::SEND_RETAINED_ON_NEW
                                                         : mqtt::subscribe_options::SEND_RETAINED_ON_SUBSCRIBE);
          auto tok = client->subscribe(s.filter, s.qos, so);
          if (!tok->wait_for(timeout)) {
            disconnect_quietly();
            return Status::unavailable("timed out subscribing to '" + s.filter + "'");
          }
          const auto codes = tok->get_subscribe_response().get_reason_codes();
          if (!codes.empty() && static_cast<int>(codes[0]) >= 0x80) {
            disconnect_quietly();
            return Status::unavailable("broker refused subscription '" + s.filter + "' (reason code " +
                                       std::to_string(static_cast<int>(codes[0])) +
                                       "; not authorized or invalid filter?)");
          }
          if (!codes.empty() && static_cast<int>(codes[0]) < s.qos) {
            warn("broker granted qos " + std::to_string(static_cast<int>(codes[0])) + " instead of " +
                 std::to_string(s.qos) + " for '" + s.filter + "'");
          }
        } catch (const std::exception& e) {
          disconnect_quietly();
          return Status::unavailable("subscribing to '" + s.filter + "' failed: " + describe_exception(e));
        }
      }
    }
    info(std::string("connected to ") + opts.broker + " (session present: " +
         (session_present ? "yes" : "no") + ", " + std::to_string(opts.subscriptions.size()) +
         " subscriptions)");
    return Status::ok();
  }

  void disconnect_quietly() {
    try {
      auto tok = client->disconnect(0);
      tok->wait_for(std::chrono::seconds(2));
    } catch (const std::exception&) {
    }
  }

  void control_loop() {
    Backoff backoff(opts.reconnect);
    bool first = true;
    std::string last_logged;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) break;
      }
      Status st = connect_once(first);
      if (!st.is_ok()) {
        const std::int64_t delay = backoff.next_delay_ms();
        const std::string msg = "cannot connect to broker " + broker_label() + ": " + st.message();
        metrics.record_connect_failure(msg);
        metrics.set_state(SourceState::kDisconnected,
                          "mqtt broker down: " + broker_label() + ": " + st.message() + "; retry in " +
                              seconds_text(delay));
        // Log the first failure and every change of cause; repeated identical failures only
        // every 10th attempt, so a week-long outage does not fill the journal.
        if (msg != last_logged || backoff.attempts() % 10 == 0) {
          warn(msg + "; retry in " + seconds_text(delay) + " (attempt " +
               std::to_string(backoff.attempts()) + ")");
          last_logged = msg;
        }
        if (!sleep_unless_stopping(delay)) break;
        continue;
      }
      metrics.record_connected(first);
      first = false;
      backoff.reset();
      last_logged.clear();
      metrics.set_state(SourceState::kConnected, "connected to " + broker_label());
      std::string cause;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stopping || connection_lost; });
        if (stopping) break;
        cause = lost_cause.empty() ? "connection lost" : lost_cause;
      }
      const std::string msg = "lost connection to broker " + broker_label() + ": " + cause;
      metrics.record_error(msg);
      metrics.set_state(SourceState::kDisconnected, "mqtt broker down: " + broker_label() + ": " + cause);
      warn(msg);
      if (!sleep_unless_stopping(backoff.next_delay_ms())) break;
    }
    shutdown_client();
  }

  // Runs on the control thread when stopping.
  void shutdown_client() {
    std::unique_lock<std::mutex> lock(mu);
    // A callback retrying a failing sink holds Paho's internal lock; disconnecting or
    // destroying the client would block on it. Give it stop_timeout_ms to get through.
    cv.wait_for(lock, std::chrono::milliseconds(opts.stop_timeout_ms), [&] { return !stalled_in_callback; });
    if (stalled_in_callback) {
      abandoned = true;
      lock.unlock();
      cv.notify_all();
      error("stopping while the sink refuses messages: the message being delivered is NOT "
            "acknowledged; the connection is left to close at process exit and the broker "
            "will redeliver it");
      // Intentional leak: destroying a Paho client whose callback is parked would deadlock.
      (void)client.release();
      return;
    }
    lock.unlock();
    try {
      if (client->is_connected()) {
        auto tok = client->disconnect(1000);
        tok->wait_for(std::chrono::seconds(3));
      }
    } catch (const std::exception& e) {
      warn(std::string("disconnect: ") + describe_exception(e));
    }
    client.reset();
  }

  // Paho receive thread. Returning acknowledges a QoS 1/2 message (PUBACK after return for
  // QoS 1, PUBCOMP for QoS 2), so return only once the sink has stored it.
  void on_message(const mqtt::message& msg) {
    const std::string& topic = msg.get_topic();
    const auto& payload = msg.get_payload_ref();
    metrics.record_read(payload.size());
    metrics.record_received(payload.size(), msg.is_duplicate());
    const MqttSubscription* sub = match(topic);
    SourceMessage m;
    m.source = opts.name;
    m.origin = topic;
    m.payload = std::string_view(payload.data(), payload.size());
    m.receive_time_ms = wall_time_ms();
    m.qos = msg.get_qos();
    m.retained = msg.is_retained();
    m.duplicate = msg.is_duplicate();
    std::string reason;
    if (sub != nullptr) {
      m.stream = sub->stream;
    } else {
      // A persistent session can hold subscriptions no longer in the config: keep the data,
      // flagged, instead of dropping it.
      m.stream = opts.subscriptions.front().stream;
      m.malformed = true;
      reason = "topic '" + topic + "' matches no configured subscription (left in the broker session?)";
      m.malformed_reason = reason;
    }

    Backoff retry({100, 5000});
    bool logged = false;
    bool stored = false;
    while (true) {
      Status st = stored ? Status::ok() : sink->deliver(m);
      if (st.is_ok()) {
        stored = true;
        if (opts.ack == AckMode::kDurable) st = sink->make_durable();
      }
      if (st.is_ok()) break;
      const std::string what = std::string(stored ? "sink could not make message durable" : "sink refused message") +
                               " from topic '" + topic + "': " + st.to_string() + "; not acknowledged";
      metrics.record_sink_error(what);
      metrics.set_state(SourceState::kStalled, "sink refuses messages from " + broker_label() + ": " +
                                                   st.to_string() + "; nothing is acknowledged");
      if (!logged) {
        error(what + ", retrying");
        logged = true;
      }
      std::unique_lock<std::mutex> lock(mu);
      stalled_in_callback = true;
      cv.notify_all();
      cv.wait_for(lock, std::chrono::milliseconds(retry.next_delay_ms()), [&] { return abandoned; });
      if (abandoned) {
        // Returning would acknowledge an unstored message. Park this Paho thread until the
        // process exits; the kernel then closes the socket without a PUBACK.
        cv.wait(lock, [] { return false; });
      }
    }
    if (logged) {
      info("sink accepts messages again");
      std::lock_guard<std::mutex> lock(mu);
      stalled_in_callback = false;
      cv.notify_all();
    }
    if (logged && metrics.state() == SourceState::kStalled)
      metrics.set_state(SourceState::kConnected, "connected to " + broker_label());
    metrics.record_delivered(m.malformed);
  }

  void on_connection_lost(const std::string& cause) {
    std::lock_guard<std::mutex> lock(mu);
    connection_lost = true;
    lost_cause = cause.empty() ? "connection lost (broker closed it or network down)" : cause;
    cv.notify_all();
  }
};

MqttSource::MqttSource(MqttSourceOptions options, MessageSink* sink, SourceLogger logger)
    : core_(std::make_shared<Core>(std::move(options), sink, std::move(logger))) {}

MqttSource::~MqttSource() { stop(); }

Status MqttSource::start() {
  Core& c = *core_;
  OUTPOST_RETURN_IF_ERROR(validate_mqtt_options(c.opts));
  if (c.sink == nullptr) return Status::invalid_argument("mqtt source '" + c.opts.name + "': no sink");
  if (c.control.joinable()) return Status::ok();
  quiet_paho_trace();  // before the first client: Paho initialises its tracing then
  try {
    const int version = c.opts.version == MqttVersion::kV5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    mqtt::create_options create(version);
    if (!c.opts.persistence_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(c.opts.persistence_dir, ec);
      if (ec)
        return Status::io_error("mqtt source '" + c.opts.name + "': cannot create persistence dir " +
                                c.opts.persistence_dir.string() + ": " + ec.message());
      c.client = std::make_unique<mqtt::async_client>(c.uri, c.opts.client_id, create,
                                                      c.opts.persistence_dir.string());
    } else {
      c.client = std::make_unique<mqtt::async_client>(c.uri, c.opts.client_id, create, nullptr);
    }
  } catch (const std::exception& e) {
    return Status::invalid_argument("mqtt source '" + c.opts.name + "': cannot create client for " +
                                    c.opts.broker + ": " + describe_exception(e));
  }
  std::weak_ptr<Core> weak = core_;
  std::shared_ptr<Core> strong = core_;
  // The message callback holds a strong reference: if it is parked at shutdown, the Core
  // stays alive with the leaked client instead of dangling.
  c.client->set_message_callback([strong](mqtt::const_message_ptr msg) { strong->on_message(*msg); });
  c.client->set_connection_lost_handler([weak](const std::string& cause) {
    if (auto core = weak.lock()) core->on_connection_lost(cause);
  });
  c.client->set_disconnected_handler([weak](const mqtt::properties&, mqtt::ReasonCode reason) {
    if (auto core = weak.lock())
      core->on_connection_lost("broker sent DISCONNECT (reason code " + std::to_string(static_cast<int>(reason)) + ")");
  });
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.stopping = false;
  }
  c.metrics.set_state(SourceState::kConnecting, "connecting to " + c.broker_label());
  c.control = std::thread([core = core_] { core->control_loop(); });
  return Status::ok();
}

void MqttSource::stop() {
  Core& c = *core_;
  if (!c.control.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.stopping = true;
  }
  c.cv.notify_all();
  c.control.join();
  c.metrics.set_state(SourceState::kStopped, "stopped");
}

SourceMetrics MqttSource::metrics() const { return core_->metrics.snapshot(); }

const std::string& MqttSource::name() const { return core_->opts.name; }

}  // namespace outpost::ingest
