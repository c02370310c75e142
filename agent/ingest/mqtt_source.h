// MQTT source: subscribes to topic filters on one broker (Eclipse Paho MQTT C++) and delivers
// every message to a MessageSink before it is acknowledged.
//
// Threads (README.md has the details):
//  - Paho's receive thread calls the message callback; the callback calls sink.deliver()
//    synchronously. Paho sends PUBACK (QoS 1) / PUBCOMP (QoS 2) only after the callback
//    returns, so an acknowledged message has been written to the OS (or fdatasync'd with
//    AckMode::kDurable). While the sink refuses (disk full), the callback retries with backoff
//    and never returns "done" for an unstored message: nothing is acknowledged, the broker
//    keeps it.
//  - One control thread owned by the source connects, subscribes (when the broker has no
//    session for us), and reconnects with backoff after a loss. Paho's own automatic
//    reconnect is not used, so every attempt is counted, logged and visible in metrics().
//  - metrics() from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agent/ingest/source.h"

namespace outpost::ingest {

struct MqttSubscription {
  std::string filter;  // topic filter; + and # wildcards, $share/<group>/<filter> allowed
  int qos = 1;         // 0, 1 or 2: the maximum QoS the broker uses for this subscription
  std::string stream;  // target stream for messages matching this filter
};

struct MqttTlsOptions {
  bool enabled = false;   // also implied by an ssl://, mqtts:// or tls:// broker URI
  std::string ca_file;    // PEM CA bundle to verify the broker; empty = system default paths
  std::string cert_file;  // client certificate (PEM) for mutual TLS
  std::string key_file;   // client private key (PEM)
  std::string key_password;
  bool verify = true;     // verify the broker's certificate chain and host name
};

enum class MqttVersion : std::uint8_t { kV311, kV5 };

struct MqttSourceOptions {
  std::string name;       // used in logs, metrics and SourceMessage::source
  std::string broker;     // tcp://host:1883, mqtt://, ssl://host:8883, mqtts://, tls://, ws://
  std::string client_id;  // must be stable across restarts for a persistent session
  MqttVersion version = MqttVersion::kV311;

  // Persistent session: the broker keeps our subscriptions and queues QoS 1/2 messages while
  // Outpost is down. false = clean_session=false (3.1.1) / clean_start=false (5).
  bool clean_session = false;
  // MQTT 5 only: how long the broker keeps the session after we disconnect. 3.1.1 brokers
  // keep a persistent session until it is cleaned (or their own expiry setting).
  std::uint32_t session_expiry_s = 7 * 24 * 3600;

  std::int64_t keepalive_s = 30;
  std::int64_t connect_timeout_s = 10;
  std::string username;  // empty = none
  std::string password;
  MqttTlsOptions tls;
  BackoffOptions reconnect{500, 30000};

  // Bound on QoS 1/2 messages in flight. Outbound: Paho's max_inflight. Inbound: MQTT 5
  // Receive Maximum (the broker sends at most this many unacknowledged messages); a 3.1.1
  // broker applies its own limit (mosquitto max_inflight_messages, default 20). Our callback
  // handles one message at a time, so inflight messages wait in the socket, not in our memory.
  int max_inflight = 100;

  AckMode ack = AckMode::kWritten;

  // Paho's client persistence (the inbound QoS 2 state between PUBREC and PUBREL). Empty =
  // in memory. Set it (e.g. <data_dir>/mqtt/<name>) for QoS 2 crash safety; README.md.
  std::filesystem::path persistence_dir;

  std::vector<MqttSubscription> subscriptions;

  // How long stop() waits for a message callback that is retrying a failing sink.
  std::int64_t stop_timeout_ms = 5000;
};

// Checks options without connecting: URI scheme, client id, QoS values, filters (wildcard
// placement), non-empty stream names, TLS files readable. Messages name the source.
Status validate_mqtt_options(const MqttSourceOptions& options);

// True if `topic` matches `filter` by MQTT rules (+ one level, # the rest, $-topics do not
// match a leading wildcard, $share/<group>/ prefix ignored).
bool mqtt_topic_matches(std::string_view filter, std::string_view topic);

class MqttSource final : public Source {
 public:
  // sink must outlive the source. logger may be empty (stderr).
  MqttSource(MqttSourceOptions options, MessageSink* sink, SourceLogger logger = {});
  ~MqttSource() override;

  MqttSource(const MqttSource&) = delete;
  MqttSource& operator=(const MqttSource&) = delete;

  Status start() override;
  void stop() override;
  SourceMetrics metrics() const override;
  const std::string& name() const override;

  struct Core;  // shared with Paho callbacks; outlives the source if a callback is stuck

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace outpost::ingest
