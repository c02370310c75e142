// MQTT source against a real mosquitto on a loopback port picked by the test.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "agent/ingest/mqtt_source.h"
#include "ingest_test_util.h"

using namespace ingest_test;
using namespace outpost::ingest;
using outpost::Status;

namespace {

struct Logs {
  std::mutex mu;
  std::vector<std::string> lines;
  SourceLogger logger() { return quiet_logger(&lines, &mu); }
  bool contains(const std::string& s) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& l : lines)
      if (l.find(s) != std::string::npos) return true;
    return false;
  }
};

MqttSourceOptions base_options(const std::string& uri, const std::string& client_id) {
  MqttSourceOptions o;
  o.name = "plant";
  o.broker = uri;
  o.client_id = client_id;
  o.keepalive_s = 5;
  o.connect_timeout_s = 2;
  o.reconnect = {50, 500};
  return o;
}

bool connected(const Source& s) { return s.metrics().state == SourceState::kConnected; }

std::set<std::string> distinct(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

std::set<std::string> numbered(const std::string& prefix, int from, int to) {
  std::set<std::string> out;
  for (int i = from; i < to; ++i) out.insert(prefix + std::to_string(i));
  return out;
}

}  // namespace

TEST_CASE("TopicFilterMatchingFollowsMqttRules") {
  CHECK(mqtt_topic_matches("a/b", "a/b"));
  CHECK_FALSE(mqtt_topic_matches("a/b", "a/c"));
  CHECK(mqtt_topic_matches("a/+/c", "a/x/c"));
  CHECK_FALSE(mqtt_topic_matches("a/+/c", "a/x/y/c"));
  CHECK(mqtt_topic_matches("a/+", "a/"));  // an empty level is a level
  CHECK(mqtt_topic_matches("a/#", "a"));   // '#' includes the parent
  CHECK(mqtt_topic_matches("a/#", "a/b/c"));
  CHECK(mqtt_topic_matches("#", "x/y"));
  CHECK_FALSE(mqtt_topic_matches("#", "$SYS/broker/uptime"));
  CHECK_FALSE(mqtt_topic_matches("+/broker/uptime", "$SYS/broker/uptime"));
  CHECK(mqtt_topic_matches("$SYS/#", "$SYS/broker/uptime"));
  CHECK(mqtt_topic_matches("$share/g1/sensors/+", "sensors/t1"));
  CHECK_FALSE(mqtt_topic_matches("a/b", "a/b/c"));
  CHECK_FALSE(mqtt_topic_matches("a/b/c", "a/b"));
}

TEST_CASE("InvalidOptionsAreRejectedWithTheSourceNamed") {
  MqttSourceOptions o = base_options("tcp://127.0.0.1:1", "c1");
  o.subscriptions = {{"a/#/b", 1, "s"}};
  Status st = validate_mqtt_options(o);
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CHECK(st.message().find("plant") != std::string::npos);
  CHECK(st.message().find("'#' must be the last level") != std::string::npos);
  o.subscriptions = {{"a/b+", 1, "s"}};
  CHECK(validate_mqtt_options(o).message().find("'+' must fill a whole level") != std::string::npos);
  o.subscriptions = {{"a/b", 3, "s"}};
  CHECK(validate_mqtt_options(o).message().find("qos 3") != std::string::npos);
  o.subscriptions = {{"a/b", 1, "s"}};
  o.broker = "http://x";
  CHECK_FALSE(validate_mqtt_options(o).is_ok());
  o.broker = "mqtts://127.0.0.1:8883";
  o.tls.ca_file = "/nonexistent/ca.pem";
  CHECK(validate_mqtt_options(o).message().find("/nonexistent/ca.pem") != std::string::npos);
}

TEST_CASE("MessagesOfEveryQosAndWildcardReachTheirStreams" * doctest::timeout(60)) {
  Mosquitto broker;
  TestLog store;
  LogSink sink(store.log.get());
  Logs logs;
  MqttSourceOptions o = base_options(broker.uri(), "outpost-qos");
  o.subscriptions = {
      {"sensors/+/temp", 1, "temps"},
      {"sensors/#", 2, "all_sensors"},
      {"fast/#", 0, "fast"},
  };
  MqttSource source(o, &sink, logs.logger());
  REQUIRE(source.start().is_ok());
  REQUIRE(wait_until([&] { return connected(source); }, 10s));

  Publisher pub(broker.uri());
  pub.publish("sensors/t1/temp", "q1-a", 1);
  pub.publish("sensors/t2/temp", "q0-b", 0);
  pub.publish("sensors/t1/hum", "q2-c", 2);
  pub.publish("sensors/t1/deep/er", "q2-d", 2);
  pub.publish("fast/x", "q0-e", 0);
  pub.publish("other/topic", "not-subscribed", 1);
  pub.publish("sensors/t3/temp", std::string("bin\0\xff\xfe", 6), 1);

  REQUIRE(wait_until([&] { return source.metrics().delivered >= 6; }, 10s));
  // The first matching filter (in configured order) picks the stream.
  auto temps = read_stream(store.log.get(), "temps");
  CHECK(payloads(temps) == std::vector<std::string>{"q1-a", "q0-b", std::string("bin\0\xff\xfe", 6)});
  CHECK(temps[0].key == "sensors/t1/temp");
  CHECK(payloads(read_stream(store.log.get(), "all_sensors")) == std::vector<std::string>{"q2-c", "q2-d"});
  CHECK(payloads(read_stream(store.log.get(), "fast")) == std::vector<std::string>{"q0-e"});
  const SourceMetrics m = source.metrics();
  CHECK(m.received == 6);
  CHECK(m.delivered == 6);
  CHECK(m.healthy);
  CHECK(m.last_message_time_ms > 0);
  CHECK(m.kind == "mqtt");
  source.stop();
  CHECK(source.metrics().state == SourceState::kStopped);
}

TEST_CASE("BrokerRestartLosesNoQos1MessageAndDownIsVisible" * doctest::timeout(90)) {
  Mosquitto broker;
  TestLog store;
  LogSink sink(store.log.get());
  Logs logs;
  MqttSourceOptions o = base_options(broker.uri(), "outpost-restart");
  o.subscriptions = {{"plant/#", 1, "raw"}};
  MqttSource source(o, &sink, logs.logger());
  REQUIRE(source.start().is_ok());
  REQUIRE(wait_until([&] { return connected(source); }, 10s));

  constexpr int kBefore = 300, kAfter = 300;
  {
    Publisher pub(broker.uri());
    pub.publish_many("plant/line1", "m", 0, kBefore, 1);
  }
  // Stop the broker while messages may still be in flight to us.
  broker.stop();
  REQUIRE(wait_until([&] { return source.metrics().state == SourceState::kDisconnected; }, 10s));
  SourceMetrics down = source.metrics();
  CHECK_FALSE(down.healthy);
  CHECK(down.detail.find("mqtt broker down") != std::string::npos);
  CHECK(down.detail.find("plant") != std::string::npos);

  broker.start();
  REQUIRE(wait_until([&] { return connected(source); }, 15s));
  CHECK(source.metrics().reconnects >= 1);
  {
    Publisher pub(broker.uri());
    pub.publish_many("plant/line1", "m", kBefore, kBefore + kAfter, 1);
    REQUIRE(wait_until([&] {
      return distinct(payloads(read_stream(store.log.get(), "raw"))).size() == kBefore + kAfter;
    }, 20s));
  }
  const auto got = payloads(read_stream(store.log.get(), "raw"));
  CHECK(distinct(got) == numbered("m", 0, kBefore + kAfter));
  // Every extra copy stored is one the broker flagged as a possible duplicate.
  const SourceMetrics m = source.metrics();
  CHECK(got.size() - distinct(got).size() <= m.duplicates);
  CHECK(logs.contains("lost connection to broker plant"));
}

TEST_CASE("PersistentSessionKeepsQos1WhileOutpostIsDown" * doctest::timeout(90)) {
  for (MqttVersion version : {MqttVersion::kV311, MqttVersion::kV5}) {
    CAPTURE(static_cast<int>(version));
    // mosquitto 2.0.11 does not release queued QoS 2 messages beyond its inflight window
    // (default 20) after a reconnect (seen here: 20 of 50 sent, then nothing). Not ours to
    // fix; a window larger than the backlog keeps the test about Outpost.
    Mosquitto broker("max_inflight_messages 100\n");
    TestLog store;
    LogSink sink(store.log.get());
    Logs logs;
    MqttSourceOptions o = base_options(broker.uri(), "outpost-persist");
    o.version = version;
    o.subscriptions = {{"plant/+/temp", 1, "raw"}, {"plant/+/q2", 2, "raw2"}};
    {
      MqttSource first(o, &sink, logs.logger());
      REQUIRE(first.start().is_ok());
      REQUIRE(wait_until([&] { return connected(first); }, 10s));
      first.stop();
    }
    constexpr int kN = 400;
    {
      Publisher pub(broker.uri());
      pub.publish_many("plant/a/temp", "d", 0, kN, 1);
      pub.publish_many("plant/a/q2", "e", 0, 50, 2);
      pub.publish("plant/a/temp", "sync", 1);  // in order after the others
    }
    MqttSource second(o, &sink, logs.logger());
    REQUIRE(second.start().is_ok());
    const bool all_arrived = wait_until([&] {
      return distinct(payloads(read_stream(store.log.get(), "raw"))).size() == kN + 1 &&
             distinct(payloads(read_stream(store.log.get(), "raw2"))).size() == 50;
    }, 20s);
    if (!all_arrived) {
      std::lock_guard<std::mutex> lock(logs.mu);
      for (const auto& l : logs.lines) MESSAGE(l);
      MESSAGE("raw=" << distinct(payloads(read_stream(store.log.get(), "raw"))).size()
                     << " raw2=" << distinct(payloads(read_stream(store.log.get(), "raw2"))).size()
                     << " received=" << second.metrics().received);
    }
    REQUIRE(all_arrived);
    auto want = numbered("d", 0, kN);
    want.insert("sync");
    CHECK(distinct(payloads(read_stream(store.log.get(), "raw"))) == want);
    CHECK(distinct(payloads(read_stream(store.log.get(), "raw2"))) == numbered("e", 0, 50));
    CHECK(payloads(read_stream(store.log.get(), "raw2")).size() == 50);  // QoS 2: exactly once
    CHECK(wait_until([&] { return logs.contains("session present: yes"); }, 10s));
  }
}

TEST_CASE("RefusingSinkStallsWithoutAckAndLosesNothing" * doctest::timeout(90)) {
  Mosquitto broker;
  TestLog store;
  SwitchableSink sink(store.log.get());
  Logs logs;
  MqttSourceOptions o = base_options(broker.uri(), "outpost-full");
  o.subscriptions = {{"plant/#", 1, "raw"}};
  MqttSource source(o, &sink, logs.logger());
  REQUIRE(source.start().is_ok());
  REQUIRE(wait_until([&] { return connected(source); }, 10s));

  sink.refuse_ = true;
  REQUIRE(cli_publish(broker.port(), "plant/x", "f", 0, 30, 1));
  REQUIRE(wait_until([&] { return source.metrics().state == SourceState::kStalled; }, 10s));
  REQUIRE(wait_until([&] { return sink.delivers_.load() >= 3; }, 10s));  // retried
  SourceMetrics m = source.metrics();
  CHECK_FALSE(m.healthy);
  CHECK(m.sink_errors >= 2);
  CHECK(m.detail.find("full") != std::string::npos);
  CHECK(m.delivered == 0);
  CHECK(logs.contains("not acknowledged"));

  sink.refuse_ = false;
  REQUIRE(wait_until([&] {
    return distinct(payloads(read_stream(store.log.get(), "raw"))).size() == 30;
  }, 20s));
  CHECK(distinct(payloads(read_stream(store.log.get(), "raw"))) == numbered("f", 0, 30));
  REQUIRE(wait_until([&] { return connected(source); }, 10s));
}

TEST_CASE("DurableAckModeMakesEachMessageDurableBeforeAck" * doctest::timeout(60)) {
  Mosquitto broker;
  TestLog store;
  SwitchableSink sink(store.log.get());
  MqttSourceOptions o = base_options(broker.uri(), "outpost-durable");
  o.ack = AckMode::kDurable;
  o.subscriptions = {{"plant/#", 1, "raw"}};
  Logs logs;
  MqttSource source(o, &sink, logs.logger());
  REQUIRE(source.start().is_ok());
  REQUIRE(wait_until([&] { return connected(source); }, 10s));
  Publisher pub(broker.uri());
  for (int i = 0; i < 20; ++i) pub.publish("plant/x", "g" + std::to_string(i), 1);
  REQUIRE(wait_until([&] { return source.metrics().delivered == 20; }, 10s));
  CHECK(sink.durables_.load() == 20);
  auto id = store.log->find_stream("raw");
  REQUIRE(id.is_ok());
  CHECK(store.log->durable_seq(id.value()) == 20);
}

// ---------------------------------------------------------------------------------------------
// TLS

namespace {

bool run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

struct Pki {
  TempDir dir;
  fs::path p(const std::string& name) const { return dir.path() / name; }
  Pki() {
    const std::string d = dir.path().string();
    auto ca = [&](const std::string& name) {
      REQUIRE(run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name + " -keyout " + d +
                  "/" + name + ".key -out " + d + "/" + name + ".crt"));
    };
    ca("test-ca");
    ca("other-ca");
    auto leaf = [&](const std::string& name, const std::string& ext) {
      REQUIRE(run("openssl req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " + d + "/" + name +
                  ".key -out " + d + "/" + name + ".csr"));
      std::ofstream(d + "/" + name + ".ext") << ext;
      REQUIRE(run("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/test-ca.crt -CAkey " + d +
                  "/test-ca.key -CAcreateserial -days 2 -extfile " + d + "/" + name + ".ext -out " + d + "/" +
                  name + ".crt"));
    };
    leaf("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    leaf("client", "extendedKeyUsage=clientAuth\n");
  }
};

}  // namespace

TEST_CASE("MutualTlsConnectsAndWrongCaFailsWithClearError" * doctest::timeout(90)) {
  Pki pki;
  const int tls_port = free_port();
  Mosquitto broker("listener " + std::to_string(tls_port) + " 127.0.0.1\n" +
                   "cafile " + pki.p("test-ca.crt").string() + "\n" +
                   "certfile " + pki.p("server.crt").string() + "\n" +
                   "keyfile " + pki.p("server.key").string() + "\n" +
                   "require_certificate true\n");
  REQUIRE(wait_until([&] { return port_accepts(tls_port); }, 10s));
  const std::string tls_uri = "mqtts://127.0.0.1:" + std::to_string(tls_port);
  TestLog store;
  LogSink sink(store.log.get());

  SUBCASE("client certificate from the same CA") {
    Logs logs;
    MqttSourceOptions o = base_options(tls_uri, "outpost-tls");
    o.tls.ca_file = pki.p("test-ca.crt").string();
    o.tls.cert_file = pki.p("client.crt").string();
    o.tls.key_file = pki.p("client.key").string();
    o.subscriptions = {{"secure/#", 1, "secure"}};
    MqttSource source(o, &sink, logs.logger());
    REQUIRE(source.start().is_ok());
    REQUIRE(wait_until([&] { return connected(source); }, 15s));
    Publisher pub(broker.uri());  // plain listener of the same broker
    pub.publish("secure/a", "over-tls", 1);
    REQUIRE(wait_until([&] { return source.metrics().delivered == 1; }, 10s));
    CHECK(payloads(read_stream(store.log.get(), "secure")) == std::vector<std::string>{"over-tls"});
  }
  SUBCASE("broker certificate from an unknown CA") {
    Logs logs;
    MqttSourceOptions o = base_options(tls_uri, "outpost-tls-bad");
    o.tls.ca_file = pki.p("other-ca.crt").string();
    o.tls.cert_file = pki.p("client.crt").string();
    o.tls.key_file = pki.p("client.key").string();
    o.subscriptions = {{"secure/#", 1, "secure"}};
    MqttSource source(o, &sink, logs.logger());
    REQUIRE(source.start().is_ok());
    REQUIRE(wait_until([&] { return source.metrics().connect_failures >= 2; }, 15s));
    const SourceMetrics m = source.metrics();
    CHECK(m.state == SourceState::kDisconnected);
    CHECK_FALSE(m.healthy);
    MESSAGE("TLS failure reads: " << m.last_error);
    CHECK(m.last_error.find("plant") != std::string::npos);
    CHECK(m.last_error.find(tls_uri) != std::string::npos);
    CHECK(m.last_error.find("certificate verify failed") != std::string::npos);
  }
  SUBCASE("no client certificate while the broker requires one") {
    Logs logs;
    MqttSourceOptions o = base_options(tls_uri, "outpost-tls-nocert");
    o.tls.ca_file = pki.p("test-ca.crt").string();
    o.subscriptions = {{"secure/#", 1, "secure"}};
    MqttSource source(o, &sink, logs.logger());
    REQUIRE(source.start().is_ok());
    REQUIRE(wait_until([&] { return source.metrics().connect_failures >= 1; }, 15s));
    CHECK(source.metrics().state == SourceState::kDisconnected);
    MESSAGE("no-cert failure reads: " << source.metrics().last_error);
    CHECK(source.metrics().last_error.find("cannot connect to broker plant") != std::string::npos);
    CHECK(source.metrics().last_error.find("client certificate") != std::string::npos);
  }
}
