// kill -9 of the ingesting process loses no message that was acknowledged to the broker
// (docs/SEMANTICS.md 0). A message acknowledged but not stored would never come back: the broker
// forgets it. So after a SIGKILL mid-stream and a restart on the same persistent session,
// every published message must be in the store.
#include <doctest/doctest.h>

#include <regex>
#include <set>

#include "ingest_test_util.h"

using namespace ingest_test;

namespace {

std::size_t last_delivered(const fs::path& out) {
  const std::string text = read_file(out);
  auto pos = text.rfind("delivered ");
  if (pos == std::string::npos) return 0;
  return std::strtoull(text.c_str() + pos + 10, nullptr, 10);
}

bool output_has(const fs::path& out, const std::string& s) { return read_file(out).find(s) != std::string::npos; }

void crash_and_recover(int qos, const std::string& ack, int total, int kill_after) {
  // A broker inflight window above the backlog (mosquitto 2.0.11 stalls queued QoS 2 beyond it).
  Mosquitto broker("max_inflight_messages 1000\n");
  TempDir dir;
  const fs::path data = dir.path() / "data";
  const fs::path persist = dir.path() / "paho";
  const std::string client_id = "outpost-crash-q" + std::to_string(qos);
  auto args = [&] {
    return std::vector<std::string>{CRASH_DRIVER, broker.uri(), client_id, data.string(), "plant/#",
                                    std::to_string(qos), ack, std::to_string(total), persist.string()};
  };
  const fs::path out1 = dir.path() / "run1.out";
  {
    Child driver(args(), out1);
    REQUIRE(wait_until([&] { return output_has(out1, "state connected"); }, 15s));
    Publisher pub(broker.uri(), "outpost-crash-pub");
    std::thread publisher([&] { pub.publish_many("plant/line", "p", 0, total, qos); });
    const bool reached = wait_until([&] { return last_delivered(out1) >= static_cast<std::size_t>(kill_after); }, 30s);
    driver.kill(SIGKILL);
    publisher.join();
    REQUIRE(reached);
    CHECK(WIFSIGNALED(driver.exit_status()));
  }
  const std::size_t before_restart = last_delivered(out1);
  MESSAGE("qos " << qos << " ack " << ack << ": killed after " << before_restart << " of " << total);
  const fs::path out2 = dir.path() / "run2.out";
  {
    Child driver(args(), out2);
    const bool complete = wait_until([&] { return output_has(out2, "complete"); }, 60s);
    if (!complete) MESSAGE("driver output: " << read_file(out2));
    REQUIRE(complete);
    driver.kill(SIGTERM);
    CHECK(WIFEXITED(driver.exit_status()));
  }
  // Check independently of the driver.
  outpost::store::Options o;
  o.data_dir = data;
  auto log = outpost::store::Log::open(o);
  REQUIRE(log.is_ok());
  const auto recs = read_stream(log.value().get(), "raw");
  std::set<std::string> got;
  for (const auto& r : recs) got.insert(r.payload);
  std::set<std::string> want;
  for (int i = 0; i < total; ++i) want.insert("p" + std::to_string(i));
  CHECK(got == want);
  MESSAGE("stored " << recs.size() << " records for " << total << " messages ("
                    << recs.size() - got.size() << " duplicates)");
  // QoS 2 is exactly once except for the one message whose callback had stored it when the
  // process died, before Paho recorded the flow as complete (agent/ingest/README.md, QoS 2): the
  // broker completes that flow again after the restart. Paho runs one callback at a time, so a
  // crash can add at most one copy.
  if (qos == 2) CHECK(recs.size() - got.size() <= 1);
}

}  // namespace

TEST_CASE("KillDashNineLosesNoAcknowledgedQos1Message" * doctest::timeout(120)) {
  crash_and_recover(1, "written", 3000, 800);
}

TEST_CASE("KillDashNineLosesNoAcknowledgedQos2Message" * doctest::timeout(120)) {
  crash_and_recover(2, "written", 800, 200);
}

TEST_CASE("KillDashNineWithDurableAckLosesNothing" * doctest::timeout(120)) {
  crash_and_recover(1, "durable", 400, 100);
}
