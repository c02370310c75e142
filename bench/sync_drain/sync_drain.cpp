// bench/sync_drain: how fast a backlog drains to central Kafka, and at what CPU cost.
//
// Fills a fresh log with N ~100-byte JSON records (8 keys), then in the same run and against
// the same mock cluster (a forked child process hosting `DevCentral`, so its CPU is not ours):
//   1. kcat -P producing the same records (idempotent, same compression and headers),
//   2. an at_least_once mirror draining the backlog,
//   3. an exactly_once mirror draining it.
// Prints one JSON line per run: records/s, CPU time per record (user+sys of this process
// during the drain), peak RSS during the drain; and the ratio to kcat.
//
//   sync_drain [--records N] [--compression zstd] [--keep DIR] [--modes kcat,at_least_once,exactly_once]
//              [--max-in-flight N] [--rtt-ms MS]
//
// --max-in-flight: the at_least_once mirror's window (MirrorSettings::max_in_flight; default its
// default). --rtt-ms: the mock brokers answer this much later, like a real uplink (default 0).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "store/log.h"
#include "sync/dev_central.h"
#include "sync/sync.h"

using namespace outpost;
namespace fs = std::filesystem;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
// Resets the peak-RSS mark (Linux >= 4.0), so each phase reports its own peak.
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}
long peak_rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::string key_of(std::uint64_t i) { return "dev-" + std::to_string(i % 8); }
std::string payload_of(std::uint64_t i) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "{\"device\":\"%s\",\"i\":%llu,\"temp\":%.2f,\"hum\":%.1f,\"site\":\"north-field-7\",\"ok\":true}",
                key_of(i).c_str(), static_cast<unsigned long long>(i), 20.0 + static_cast<double>(i % 100) / 10.0,
                40.0 + static_cast<double>(i % 50) / 2.0);
  return buf;
}

// Forks a child hosting the mock cluster; returns its bootstrap. The child exits when the
// parent closes `*keepalive_fd` (or dies).
std::string start_central(int rtt_ms, pid_t* child, int* keepalive_fd) {
  int boot[2], keep[2];
  if (pipe(boot) != 0 || pipe(keep) != 0) std::exit(3);
  pid_t pid = fork();
  if (pid == 0) {
    close(boot[0]);
    close(keep[1]);
    auto dc = sync::DevCentral::start(1);
    if (!dc) _exit(3);
    if (rtt_ms > 0 && !(*dc)->set_broker_rtt(-1, rtt_ms)) _exit(3);
    std::string b = (*dc)->bootstrap() + "\n";
    if (write(boot[1], b.data(), b.size()) < 0) _exit(3);
    close(boot[1]);
    char c;
    while (read(keep[0], &c, 1) > 0) {
    }
    _exit(0);
  }
  close(boot[1]);
  close(keep[0]);
  std::string b;
  char c;
  while (read(boot[0], &c, 1) == 1 && c != '\n') b.push_back(c);
  close(boot[0]);
  *child = pid;
  *keepalive_fd = keep[1];
  return b;
}

struct RunResult {
  double seconds = 0, cpu = 0;
  long rss_kb = 0;
};

RunResult drain(store::Log* log, const std::string& bootstrap, const std::string& compression,
                sync::Delivery delivery, const std::string& topic, std::uint64_t n,
                std::size_t max_in_flight) {
  sync::SyncSettings s;
  s.agent = "bench";
  s.central.brokers = bootstrap;
  s.central.compression = compression;
  s.central.cursor_topic = "bench.cursors";
  sync::MirrorSettings m;
  m.name = topic;
  m.stream = "raw";
  m.topic = topic;
  m.delivery = delivery;
  if (max_in_flight > 0) m.max_in_flight = max_in_flight;
  s.mirrors.push_back(m);
  auto sy = sync::Sync::create(log, s);
  if (!sy) {
    std::cerr << sy.status().message() << "\n";
    std::exit(3);
  }
  reset_peak_rss();
  double c0 = cpu_s(), t0 = now_s();
  (void)(*sy)->start();
  while ((*sy)->metrics()[0].cursor < n) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  RunResult r;
  r.seconds = now_s() - t0;
  r.cpu = cpu_s() - c0;
  r.rss_kb = peak_rss_kb();
  (*sy)->stop(5000);
  return r;
}

// `extra`: further JSON members, each starting with a comma (the settings that differ from the
// defaults), so runs with other settings are told apart in the results.
void print(const char* mode, std::uint64_t n, const RunResult& r, double kcat_rate, const std::string& extra) {
  double rate = static_cast<double>(n) / r.seconds;
  std::printf("{\"bench\":\"sync_drain\",\"mode\":\"%s\",\"records\":%llu,\"seconds\":%.3f,"
              "\"records_per_s\":%.0f,\"cpu_us_per_record\":%.3f,\"peak_rss_kb\":%ld,\"vs_kcat\":%.3f%s}\n",
              mode, static_cast<unsigned long long>(n), r.seconds, rate,
              r.cpu * 1e6 / static_cast<double>(n), r.rss_kb, kcat_rate > 0 ? rate / kcat_rate : 0.0,
              extra.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 1000000;
  std::string compression = "zstd";
  std::string keep;
  std::string modes = "kcat,at_least_once,exactly_once";
  std::size_t max_in_flight = 0;  // 0: MirrorSettings' default
  int rtt_ms = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records") n = std::stoull(argv[i + 1]);
    else if (a == "--compression") compression = argv[i + 1];
    else if (a == "--keep") keep = argv[i + 1];
    else if (a == "--modes") modes = argv[i + 1];
    else if (a == "--max-in-flight") max_in_flight = std::stoull(argv[i + 1]);
    else if (a == "--rtt-ms") rtt_ms = std::stoi(argv[i + 1]);
    else {
      std::cerr << "sync_drain: unknown option " << a << "\n";
      return 2;
    }
  }
  auto wanted = [&](const std::string& mode) { return ("," + modes + ",").find("," + mode + ",") != std::string::npos; };
  std::string extra;
  if (rtt_ms > 0) extra += ",\"rtt_ms\":" + std::to_string(rtt_ms);
  std::string alo_extra = extra;
  if (max_in_flight > 0) alo_extra += ",\"max_in_flight\":" + std::to_string(max_in_flight);
  pid_t child = 0;
  int keepalive = -1;
  std::string bootstrap = start_central(rtt_ms, &child, &keepalive);  // before any thread exists

  fs::path dir = keep.empty() ? fs::temp_directory_path() / ("outpost-bench-sync-" + std::to_string(getpid())) : fs::path(keep);
  fs::remove_all(dir);
  store::Options opt;
  opt.data_dir = dir / "data";
  opt.fsync = store::FsyncMode::kNever;
  auto log = store::Log::open(opt);
  if (!log) {
    std::cerr << "open log: " << log.status().message() << "\n";
    return 3;
  }
  auto id = (*log)->open_stream("raw");
  std::ofstream kin(dir / "records.tsv");
  double t0 = now_s();
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string k = key_of(i), p = payload_of(i);
    if (!(*log)->append(*id, store::AppendRecord{std::nullopt, k, p})) return 3;
    kin << k << '\t' << p << '\n';
  }
  kin.close();
  if (!(*log)->flush()) return 3;
  std::fprintf(stderr, "filled %llu records in %.2fs; cluster %s\n", static_cast<unsigned long long>(n),
               now_s() - t0, bootstrap.c_str());

  double kcat_rate = 0;
  if (wanted("kcat")) {
    // kcat -P: the same records, keys and (constant) headers, idempotent, same codec.
    std::string cmd = "kcat -b " + bootstrap + " -P -t bench.kcat -K '\t' -z " + compression +
                      " -X enable.idempotence=true -X linger.ms=10 -H outpost-agent=bench -H outpost-stream=raw"
                      " -H outpost-seq=0 -H outpost-event-time=0 -l " + (dir / "records.tsv").string();
    double k0 = now_s();
    int rc = std::system(cmd.c_str());
    double kcat_s = now_s() - k0;
    kcat_rate = rc == 0 ? static_cast<double>(n) / kcat_s : 0;
    std::printf("{\"bench\":\"sync_drain\",\"mode\":\"kcat\",\"records\":%llu,\"seconds\":%.3f,\"records_per_s\":%.0f,\"rc\":%d%s}\n",
                static_cast<unsigned long long>(n), kcat_s, kcat_rate, rc, extra.c_str());
    std::fflush(stdout);
  }

  if (wanted("at_least_once")) {
    print("at_least_once", n,
          drain(log->get(), bootstrap, compression, sync::Delivery::kAtLeastOnce, "bench.alo", n, max_in_flight),
          kcat_rate, alo_extra);
  }
  if (wanted("exactly_once")) {
    print("exactly_once", n, drain(log->get(), bootstrap, compression, sync::Delivery::kExactlyOnce, "bench.eos", n, 0),
          kcat_rate, extra);
  }

  log->reset();
  close(keepalive);
  waitpid(child, nullptr, 0);
  if (keep.empty()) fs::remove_all(dir);
  return 0;
}
