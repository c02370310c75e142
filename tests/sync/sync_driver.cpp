// outpost_sync_driver: a small process that does what `outpost run` does for sync — open a
// data dir, optionally ingest, run mirrors — so the end-to-end tests can kill -9 it, restart
// it and compare what central Kafka holds with what the local log holds.
//
//   outpost_sync_driver append --data DIR --stream S --count N [--keys K]
//   outpost_sync_driver sync --data DIR --bootstrap B --agent A
//       --mirror NAME=STREAM:TOPIC[:at_least_once|exactly_once[:PRIORITY]] ...
//       [--ingest-stream S --ingest-count N --ingest-rate R] [--until-synced]
//       [--status-file F] [--prop k=v ...] [--quota-bytes N --segment-bytes N]
//       [--max-in-flight N]
//   outpost_sync_driver cursor --data DIR --stream S --mirror NAME
//
// `sync` writes the mirrors' metrics as one JSON object to --status-file (atomically, every
// 100 ms) and exits 0 once every mirror's cursor reached the stream's durable end (with
// --until-synced, after ingest finished), or on SIGTERM/SIGINT. `cursor` prints the mirror's
// cursor as saved in the catalog (what a restart resumes after), or "none".
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "store/log.h"
#include "sync/sync.h"

using namespace outpost;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

std::string payload_for(std::uint64_t i, const std::string& key) {
  // ~100 bytes of JSON, like a sensor reading.
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "{\"device\":\"%s\",\"i\":%llu,\"temp\":%.2f,\"hum\":%.1f,\"site\":\"north-field-7\",\"ok\":true}",
                key.c_str(), static_cast<unsigned long long>(i), 20.0 + static_cast<double>(i % 100) / 10.0,
                40.0 + static_cast<double>(i % 50) / 2.0);
  return buf;
}

Status append_records(store::Log& log, const std::string& stream, std::uint64_t count, int keys,
                      double rate, const std::atomic<bool>* stop) {
  auto id = log.open_stream(stream);
  if (!id) return id.status();
  auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    if (stop && stop->load()) break;
    std::string key = "dev-" + std::to_string(i % static_cast<std::uint64_t>(keys));
    std::string p = payload_for(i, key);
    auto r = log.append(*id, store::AppendRecord{std::nullopt, key, p});
    if (!r) return r.status();
    if (rate > 0) {
      auto due = start + std::chrono::microseconds(static_cast<std::int64_t>(1e6 * static_cast<double>(i + 1) / rate));
      std::this_thread::sleep_until(due);
    }
  }
  return log.flush();
}

bool parse_mirror(const std::string& spec, sync::MirrorSettings* m) {
  auto eq = spec.find('=');
  if (eq == std::string::npos) return false;
  m->name = spec.substr(0, eq);
  std::vector<std::string> parts;
  std::string rest = spec.substr(eq + 1);
  for (std::size_t pos = 0;;) {
    auto c = rest.find(':', pos);
    parts.push_back(rest.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  if (parts.size() < 2) return false;
  m->stream = parts[0];
  m->topic = parts[1];
  if (parts.size() >= 3) {
    if (parts[2] == "exactly_once") m->delivery = sync::Delivery::kExactlyOnce;
    else if (parts[2] != "at_least_once") return false;
  }
  if (parts.size() >= 4) m->priority = std::stoi(parts[3]);
  return true;
}

std::string metrics_json(const std::vector<sync::MirrorMetrics>& ms, bool ingest_done, std::size_t dropped) {
  std::string j = "{\"ingest_done\":" + std::string(ingest_done ? "true" : "false") +
                  ",\"dropped_ranges\":" + std::to_string(dropped) + ",\"mirrors\":[";
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const auto& m = ms[i];
    if (i) j += ",";
    std::string err;
    for (char c : m.last_error) {
      if (c == '"' || c == '\\') err += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) err += c;
    }
    j += "{\"name\":\"" + m.name + "\",\"state\":\"" + sync::mirror_state_name(m.state) +
         "\",\"cursor\":" + std::to_string(m.cursor) + ",\"durable\":" + std::to_string(m.durable_seq) +
         ",\"backlog\":" + std::to_string(m.backlog_records) + ",\"sent\":" + std::to_string(m.records_sent) + ",\"in_flight\":" + std::to_string(m.in_flight) +
         ",\"redrives\":" + std::to_string(m.redrives) + ",\"commits\":" + std::to_string(m.txn_commits) +
         ",\"aborts\":" + std::to_string(m.txn_aborts) + ",\"gaps\":" + std::to_string(m.gaps_reported) +
         ",\"gap_lost\":" + std::to_string(m.gap_records_lost) + ",\"errors\":" + std::to_string(m.errors) +
         ",\"rate\":" + std::to_string(static_cast<long long>(m.records_per_s)) + ",\"last_error\":\"" + err + "\"}";
  }
  return j + "]}";
}

void write_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sync test driver"};
  app.require_subcommand(1);
  std::string data, stream, bootstrap, agent = "agent-1", status_file, ingest_stream;
  std::uint64_t count = 0, ingest_count = 0, quota = 0, segment_bytes = 0;
  int keys = 8;
  double ingest_rate = 0;
  bool until_synced = false;
  std::vector<std::string> mirrors, props;
  std::string gap_topic = "outpost.gaps", cursor_topic = "outpost.cursors";
  std::int64_t backoff_ms = 200;
  double max_rate = 0;
  std::size_t max_in_flight = 0;  // 0: MirrorSettings' default
  std::string mirror_name;

  auto* ap = app.add_subcommand("append");
  ap->add_option("--data", data)->required();
  ap->add_option("--stream", stream)->required();
  ap->add_option("--count", count)->required();
  ap->add_option("--keys", keys);

  auto* sy = app.add_subcommand("sync");
  sy->add_option("--data", data)->required();
  sy->add_option("--bootstrap", bootstrap)->required();
  sy->add_option("--agent", agent);
  sy->add_option("--mirror", mirrors)->required();
  sy->add_option("--prop", props);
  sy->add_option("--gap-topic", gap_topic);
  sy->add_option("--cursor-topic", cursor_topic);
  sy->add_option("--status-file", status_file);
  sy->add_option("--ingest-stream", ingest_stream);
  sy->add_option("--ingest-count", ingest_count);
  sy->add_option("--ingest-rate", ingest_rate);
  sy->add_option("--keys", keys);
  sy->add_option("--quota-bytes", quota);
  sy->add_option("--segment-bytes", segment_bytes);
  sy->add_option("--backoff-ms", backoff_ms);
  sy->add_flag("--until-synced", until_synced);
  sy->add_option("--max-rate", max_rate, "records/s per mirror");
  sy->add_option("--max-in-flight", max_in_flight, "at_least_once window per mirror");

  auto* cu = app.add_subcommand("cursor");
  cu->add_option("--data", data)->required();
  cu->add_option("--stream", stream)->required();
  cu->add_option("--mirror", mirror_name)->required();
  CLI11_PARSE(app, argc, argv);

  store::Options opt;
  opt.data_dir = data;
  opt.flush_interval_ms = 20;
  if (quota) opt.quota_bytes = quota;
  if (segment_bytes) opt.segment_bytes = segment_bytes;
  if (segment_bytes) opt.block_bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(opt.block_bytes, segment_bytes / 4));
  auto log = store::Log::open(opt);
  if (!log) {
    std::cerr << "driver: open " << data << ": " << log.status().message() << "\n";
    return 3;
  }
  if (ap->parsed()) {
    Status st = append_records(**log, stream, count, keys, 0, nullptr);
    if (!st) {
      std::cerr << "driver: append: " << st.message() << "\n";
      return 3;
    }
    return 0;
  }
  if (cu->parsed()) {
    auto id = (*log)->find_stream(stream);
    if (!id) {
      std::cerr << "driver: cursor: " << id.status().message() << "\n";
      return 3;
    }
    auto c = (*log)->cursor(*id, "sync:" + mirror_name);
    if (!c) {
      std::cerr << "driver: cursor: " << c.status().message() << "\n";
      return 3;
    }
    std::cout << (c->has_value() ? std::to_string(**c) : std::string("none")) << "\n";
    return 0;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  sync::SyncSettings s;
  s.agent = agent;
  s.central.brokers = bootstrap;
  s.central.gap_topic = gap_topic;
  s.central.cursor_topic = cursor_topic;
  s.central.backoff_initial_ms = backoff_ms;
  s.central.backoff_max_ms = backoff_ms * 5;
  s.central.probe_timeout_ms = 1000;
  s.central.txn_timeout_ms = 10000;
  for (const auto& p : props) {
    auto eq = p.find('=');
    if (eq == std::string::npos) return 2;
    s.central.properties[p.substr(0, eq)] = p.substr(eq + 1);
  }
  for (const auto& spec : mirrors) {
    sync::MirrorSettings m;
    if (!parse_mirror(spec, &m)) {
      std::cerr << "driver: bad --mirror " << spec << "\n";
      return 2;
    }
    m.max_records_per_s = max_rate;
    if (max_in_flight > 0) m.max_in_flight = max_in_flight;
    if (!(*log)->find_stream(m.stream)) (void)(*log)->open_stream(m.stream);
    s.mirrors.push_back(m);
  }
  auto sy_r = sync::Sync::create(log->get(), s);
  if (!sy_r) {
    std::cerr << "driver: " << sy_r.status().message() << "\n";
    return 2;
  }
  auto& sync = *sy_r;
  if (Status st = sync->start(); !st) return 3;

  std::atomic<bool> ingest_done{ingest_count == 0};
  std::thread ingest;
  if (ingest_count > 0) {
    ingest = std::thread([&] {
      Status st = append_records(**log, ingest_stream, ingest_count, keys, ingest_rate, &g_stop);
      if (!st) std::cerr << "driver: ingest: " << st.message() << "\n";
      ingest_done.store(true);
    });
  }
  int rc = 0;
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto ms = sync->metrics();
    if (!status_file.empty()) write_atomically(status_file, metrics_json(ms, ingest_done.load(), (*log)->dropped_ranges().size()));
    bool all = ingest_done.load();
    for (const auto& m : ms) {
      if (m.state == sync::MirrorState::kFenced || m.state == sync::MirrorState::kFailed) {
        std::cerr << "driver: mirror " << m.name << " " << sync::mirror_state_name(m.state) << ": "
                  << m.last_error << "\n";
        rc = 4;
        g_stop.store(true);
      }
      if (m.durable_seq == 0 || m.cursor < m.durable_seq) all = false;
    }
    if (until_synced && all) break;
  }
  g_stop.store(true);
  if (ingest.joinable()) ingest.join();
  sync->stop(3000);
  if (!status_file.empty()) write_atomically(status_file, metrics_json(sync->metrics(), ingest_done.load(), (*log)->dropped_ranges().size()));
  return rc;
}
