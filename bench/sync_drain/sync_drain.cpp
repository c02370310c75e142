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
//   sync_drain [--records N] [--compression zstd] [--keep DIR]
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
std::string start_central(pid_t* child, int* keepalive_fd) {
  int boot[2], keep[2];
  if (pipe(boot) != 0 || pipe(keep) != 0) std::exit(3);
  pid_t pid = fork();
  if (pid == 0) {
    close(boot[0]);
    close(keep[1]);
    auto dc = sync::DevCentral::start(1);
    if (!dc) _exit(3);
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
                sync::Delivery delivery, const std::string& topic, std::uint64_t n) {
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

void print(const char* mode, std::uint64_t n, const RunResult& r, double kcat_rate) {
  double rate = static_cast<double>(n) / r.seconds;
  std::printf("{\"bench\":\"sync_drain\",\"mode\":\"%s\",\"records\":%llu,\"seconds\":%.3f,"
              "\"records_per_s\":%.0f,\"cpu_us_per_record\":%.3f,\"peak_rss_kb\":%ld,\"vs_kcat\":%.3f}\n",
              mode, static_cast<unsigned long long>(n), r.seconds, rate,
              r.cpu * 1e6 / static_cast<double>(n), r.rss_kb, kcat_rate > 0 ? rate / kcat_rate : 0.0);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 1000000;
  std::string compression = "zstd";
  std::string keep;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records") n = std::stoull(argv[i + 1]);
    else if (a == "--compression") compression = argv[i + 1];
    else if (a == "--keep") keep = argv[i + 1];
  }
  pid_t child = 0;
  int keepalive = -1;
  std::string bootstrap = start_central(&child, &keepalive);  // before any thread exists

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

  // kcat -P: the same records, keys and (constant) headers, idempotent, same codec.
  std::string cmd = "kcat -b " + bootstrap + " -P -t bench.kcat -K '\t' -z " + compression +
                    " -X enable.idempotence=true -X linger.ms=10 -H outpost-agent=bench -H outpost-stream=raw"
                    " -H outpost-seq=0 -H outpost-event-time=0 -l " + (dir / "records.tsv").string();
  double k0 = now_s();
  int rc = std::system(cmd.c_str());
  double kcat_s = now_s() - k0;
  double kcat_rate = rc == 0 ? static_cast<double>(n) / kcat_s : 0;
  std::printf("{\"bench\":\"sync_drain\",\"mode\":\"kcat\",\"records\":%llu,\"seconds\":%.3f,\"records_per_s\":%.0f,\"rc\":%d}\n",
              static_cast<unsigned long long>(n), kcat_s, kcat_rate, rc);
  std::fflush(stdout);

  print("at_least_once", n, drain(log->get(), bootstrap, compression, sync::Delivery::kAtLeastOnce, "bench.alo", n), kcat_rate);
  print("exactly_once", n, drain(log->get(), bootstrap, compression, sync::Delivery::kExactlyOnce, "bench.eos", n), kcat_rate);

  log->reset();
  close(keepalive);
  waitpid(child, nullptr, 0);
  if (keep.empty()) fs::remove_all(dir);
  return 0;
}
