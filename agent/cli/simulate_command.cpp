// `outpost simulate`: a sensor fleet publishing JSON readings to an MQTT broker.
//
// Used by the README demo, the benchmarks and the fault tests. It is deterministic for a given
// --seed (which device sends what, which readings are late or garbled), so a run can be
// compared with an independent computation over the same events.
//
// Each device alternates between running (a reading every --period-ms of event time) and
// pausing (longer than a typical session gap), like a pump that starts and stops: a session
// query sees one session per run. A fraction of readings is sent late (its event time held back
// by up to --late-ms) and, with --garbage-fraction, some payloads are malformed on purpose so
// the dead-letter path shows up.
#include <CLI/CLI.hpp>
#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/cli/cli.h"

namespace outpost::cli {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

struct SimulateOptions {
  std::string broker = "tcp://127.0.0.1:1883";
  std::string topic_prefix = "sensors";
  std::string client_id = "outpost-simulate";
  int devices = 20;
  double rate = 50.0;           // messages per second, all devices together; 0 = as fast as possible
  std::uint64_t count = 0;      // stop after this many messages; 0 = until SIGINT/SIGTERM
  int qos = 1;
  std::int64_t period_ms = 1000;   // event-time spacing of one device's readings while running
  int run_length = 30;             // readings per run before the device pauses
  std::int64_t pause_ms = 60000;   // event-time pause between runs (a new session each run)
  double late_fraction = 0.0;      // share of readings sent with event time held back
  std::int64_t late_ms = 5000;     // how far back a late reading is
  double garbage_fraction = 0.0;   // share of malformed payloads
  std::int64_t start_ms = 0;       // event time of the first reading; 0 = now
  std::uint64_t seed = 42;
  std::size_t max_inflight = 1000;  // bounded: Paho message ids run out otherwise
  bool quiet = false;
};

struct Device {
  std::string id;
  std::string site;
  std::int64_t next_ts = 0;
  int left_in_run = 0;
  double temp = 20.0;
  double hum = 45.0;
};

int run_simulation(const SimulateOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> step(0.0, 0.3);

  const std::int64_t start = o.start_ms != 0
      ? o.start_ms
      : std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch()).count();
  static const char* kSites[] = {"north", "south", "east", "west"};
  std::vector<Device> devices(static_cast<std::size_t>(o.devices));
  for (std::size_t i = 0; i < devices.size(); ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "dev-%04zu", i);
    devices[i].id = id;
    devices[i].site = kSites[i % 4];
    // Stagger the devices so their sessions do not all start at once.
    devices[i].next_ts = start + static_cast<std::int64_t>(unit(rng) * static_cast<double>(o.period_ms));
    devices[i].left_in_run = o.run_length;
    devices[i].temp = 15.0 + 10.0 * unit(rng);
    devices[i].hum = 30.0 + 30.0 * unit(rng);
  }

  // Paho queues each publish for its sending thread and refuses one more (MQTT error -12, "No
  // more messages can be buffered") past its buffer limit, 100 by default: a busy machine that
  // delays that thread made a steady --rate 640 run die after a minute. The in-flight window
  // below is the real bound, so the buffer gets the same size (this also lets a publish wait
  // out a broker reconnect instead of failing).
  mqtt::async_client client(o.broker, o.client_id, static_cast<int>(o.max_inflight), nullptr);
  auto conn = mqtt::connect_options_builder().clean_session(true).automatic_reconnect(true).finalize();
  try {
    client.connect(conn)->wait();
  } catch (const mqtt::exception& e) {
    std::cerr << "outpost simulate: cannot connect to " << o.broker << ": " << e.what() << "\n";
    return 3;
  }

  std::deque<mqtt::delivery_token_ptr> inflight;
  std::uint64_t sent = 0, late = 0, garbage = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t next_device = 0;
  while (!g_stop.load() && (o.count == 0 || sent < o.count)) {
    // Pick the device whose next reading is earliest in event time: readings come out in
    // event-time order apart from the ones deliberately sent late.
    std::size_t d = next_device;
    for (std::size_t i = 0; i < devices.size(); ++i) {
      if (devices[i].next_ts < devices[d].next_ts) d = i;
    }
    Device& dev = devices[d];
    next_device = (d + 1) % devices.size();

    std::int64_t ts = dev.next_ts;
    if (o.late_fraction > 0 && unit(rng) < o.late_fraction) {
      ts -= static_cast<std::int64_t>(unit(rng) * static_cast<double>(o.late_ms));
      ++late;
    }
    dev.temp += step(rng);
    dev.hum += step(rng);
    std::string payload;
    if (o.garbage_fraction > 0 && unit(rng) < o.garbage_fraction) {
      payload = "{\"device\":\"" + dev.id + "\",\"temp\":\"n/a\",\"ts\":";  // truncated on purpose
      ++garbage;
    } else {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "{\"device\":\"%s\",\"site\":\"%s\",\"ts\":%lld,\"temp\":%.2f,\"hum\":%.1f}",
                    dev.id.c_str(), dev.site.c_str(), static_cast<long long>(ts), dev.temp, dev.hum);
      payload = buf;
    }
    if (--dev.left_in_run <= 0) {
      dev.left_in_run = o.run_length;
      dev.next_ts += o.pause_ms;
    } else {
      dev.next_ts += o.period_ms;
    }

    auto msg = mqtt::make_message(o.topic_prefix + "/" + dev.site + "/" + dev.id, payload);
    msg->set_qos(o.qos);
    try {
      inflight.push_back(client.publish(msg));
      while (inflight.size() >= o.max_inflight || (!inflight.empty() && inflight.front()->is_complete())) {
        inflight.front()->wait();
        inflight.pop_front();
      }
    } catch (const mqtt::exception& e) {
      std::cerr << "outpost simulate: publish to " << o.broker << " failed: " << e.what() << "\n";
      return 3;
    }
    ++sent;
    if (o.rate > 0) {
      auto due = t0 + std::chrono::duration<double>(static_cast<double>(sent) / o.rate);
      std::this_thread::sleep_until(due);  // pacing a load generator, not a test wait
    }
  }
  try {
    for (auto& tok : inflight) tok->wait();
    client.disconnect()->wait();
  } catch (const mqtt::exception& e) {
    std::cerr << "outpost simulate: " << e.what() << "\n";
    return 3;
  }
  if (!o.quiet) {
    std::cout << "{\"sent\":" << sent << ",\"late\":" << late << ",\"garbage\":" << garbage << "}\n";
  }
  return 0;
}

}  // namespace

void add_simulate_command(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<SimulateOptions>();
  CLI::App* cmd = app.add_subcommand("simulate", "Publish simulated sensor readings to an MQTT broker");
  cmd->add_option("--broker", opts->broker, "MQTT broker URL")->capture_default_str();
  cmd->add_option("--topic-prefix", opts->topic_prefix, "Topics are PREFIX/<site>/<device>")->capture_default_str();
  cmd->add_option("--client-id", opts->client_id, "MQTT client id")->capture_default_str();
  cmd->add_option("--devices", opts->devices, "Number of devices")->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_option("--rate", opts->rate, "Messages per second (0 = unpaced)")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--count", opts->count, "Stop after N messages (0 = until SIGINT/SIGTERM)")->capture_default_str();
  cmd->add_option("--qos", opts->qos, "QoS 0, 1 or 2")->check(CLI::Range(0, 2))->capture_default_str();
  cmd->add_option("--period-ms", opts->period_ms, "Event-time spacing of a device's readings")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--run-length", opts->run_length, "Readings per run before a device pauses")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--pause-ms", opts->pause_ms, "Event-time pause between runs")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--late-fraction", opts->late_fraction, "Share of readings sent late")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--late-ms", opts->late_ms, "How far back a late reading is")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--garbage-fraction", opts->garbage_fraction, "Share of malformed payloads")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--start-ms", opts->start_ms, "Event time of the first reading (0 = now)")->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Random seed (same seed, same events)")->capture_default_str();
  cmd->add_option("--max-inflight", opts->max_inflight, "Unacknowledged publishes at most")->check(CLI::Range(1, 60000))->capture_default_str();
  cmd->add_flag("--quiet", opts->quiet, "Print no summary");
  cmd->callback([opts, exit_code] {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    *exit_code = run_simulation(*opts);
  });
}

}  // namespace outpost::cli
