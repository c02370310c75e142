// Test driver for kill -9 durability: an MqttSource appending raw payloads to a store, in its
// own process so the test can SIGKILL it mid-stream.
//
// usage: ingest_mqtt_crash_driver BROKER CLIENT_ID DATA_DIR TOPIC QOS ACK(written|durable)
//                                 EXPECT PERSIST_DIR
// Prints "state <name>" on state changes, "delivered <distinct payloads in the store>" as it
// grows (counting what an earlier run stored too) and "complete" once EXPECT distinct payloads
// are stored. Exits 0 on SIGTERM after stopping the source.
#include <csignal>
#include <cstdio>
#include <set>
#include <string>
#include <thread>

#include "agent/ingest/log_sink.h"
#include "agent/ingest/mqtt_source.h"
#include "store/log.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

class TrackingSink final : public outpost::ingest::MessageSink {
 public:
  explicit TrackingSink(outpost::store::Log* log) : inner_(log) {}
  outpost::Status deliver(const outpost::ingest::SourceMessage& m) override {
    outpost::Status st = inner_.deliver(m);
    if (st.is_ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.insert(std::string(m.payload));
    }
    return st;
  }
  outpost::Status make_durable() override { return inner_.make_durable(); }
  void add(std::string p) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.insert(std::move(p));
  }
  std::size_t distinct() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.size();
  }

 private:
  outpost::ingest::LogSink inner_;
  std::mutex mu_;
  std::set<std::string> seen_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 9) {
    std::fprintf(stderr, "usage: %s BROKER CLIENT_ID DATA_DIR TOPIC QOS ACK EXPECT PERSIST_DIR\n", argv[0]);
    return 2;
  }
  std::signal(SIGTERM, on_term);
  outpost::store::Options so;
  so.data_dir = argv[3];
  so.flush_interval_ms = 50;
  auto log = outpost::store::Log::open(so);
  if (!log.is_ok()) {
    std::fprintf(stderr, "store: %s\n", log.status().to_string().c_str());
    return 3;
  }
  TrackingSink sink(log.value().get());
  // What earlier runs stored counts too.
  if (auto id = log.value()->find_stream("raw"); id.is_ok()) {
    auto reader = log.value()->read(id.value(), {});
    outpost::store::RecordView rv;
    while (reader.is_ok() && reader.value()->next(&rv) == outpost::store::Reader::Next::kRecord)
      sink.add(std::string(rv.payload));
  }
  outpost::ingest::MqttSourceOptions o;
  o.name = "crash";
  o.broker = argv[1];
  o.client_id = argv[2];
  o.keepalive_s = 5;
  o.reconnect = {50, 500};
  o.ack = std::string(argv[6]) == "durable" ? outpost::ingest::AckMode::kDurable
                                             : outpost::ingest::AckMode::kWritten;
  o.persistence_dir = argv[8];
  o.subscriptions = {{argv[4], std::atoi(argv[5]), "raw"}};
  const std::size_t expect = std::strtoull(argv[7], nullptr, 10);
  outpost::ingest::MqttSource source(o, &sink);
  if (auto st = source.start(); !st.is_ok()) {
    std::fprintf(stderr, "start: %s\n", st.to_string().c_str());
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string last_state;
  std::size_t last_count = static_cast<std::size_t>(-1);
  bool complete = false;
  while (!g_stop) {
    const auto m = source.metrics();
    const std::string state = outpost::ingest::source_state_name(m.state);
    if (state != last_state) std::printf("state %s\n", state.c_str());
    last_state = state;
    const std::size_t n = sink.distinct();
    if (n != last_count) std::printf("delivered %zu\n", n);
    last_count = n;
    if (!complete && n >= expect) {
      std::printf("complete\n");
      complete = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  source.stop();
  return 0;
}
