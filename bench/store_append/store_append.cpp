// bench/store_append: appends a generated sensor JSON feed (~100-byte records, a few thousand
// device ids) to the local log single-threaded with default settings, then, in the same run,
// compresses the same raw bytes with the `zstd -3 -T1` CLI. Prints one JSON line.
//
//   store_append [--records N] [--devices D] [--dir /tmp/x] [--keys 0|1]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/log.h"

// Under `valgrind --tool=callgrind --instr-atstart=no` (bench/run-all), only the append loop
// is instrumented, so the instruction count is the store's, not the feed generator's.
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

namespace {

double cpu_seconds(int who = RUSAGE_SELF) {
  rusage ru{};
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

std::uint64_t dir_bytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".seg") total += e.file_size();
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t records = 1'000'000;
  int devices = 3000;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("outpost-bench-append-" + std::to_string(getpid()));
  bool with_keys = false;  // --keys: also store the device id as the record key (extra bytes zstd's input lacks)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records") records = std::stoull(argv[i + 1]);
    else if (a == "--devices") devices = std::stoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--keys") with_keys = std::string(argv[i + 1]) == "1";
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  // The feed: realistic readings, deterministic. Generated before timing starts.
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> dev(0, devices - 1);
  std::normal_distribution<double> temp(21.0, 4.0);
  std::uniform_real_distribution<double> hum(20.0, 80.0);
  static const char* kSites[] = {"north", "south", "east", "west"};
  std::string raw;
  raw.reserve(records * 110);
  std::vector<std::size_t> ends;
  ends.reserve(records);
  std::vector<std::int64_t> times;
  times.reserve(records);
  std::vector<int> keys;
  keys.reserve(records);
  std::int64_t ts = 1'700'000'000'000;
  char buf[256];
  for (std::size_t i = 0; i < records; ++i) {
    int d = dev(rng);
    ts += 1 + static_cast<std::int64_t>(rng() % 20);
    int n = std::snprintf(buf, sizeof buf,
                          "{\"device\":\"dev-%05d\",\"site\":\"%s\",\"ts\":%lld,\"temp\":%.2f,\"hum\":%.1f,\"status\":\"ok\"}",
                          d, kSites[d % 4], static_cast<long long>(ts), temp(rng), hum(rng));
    raw.append(buf, static_cast<std::size_t>(n));
    ends.push_back(raw.size());
    raw.push_back('\n');
    times.push_back(ts);
    keys.push_back(d);
  }
  std::vector<std::string> key_text(static_cast<std::size_t>(devices));
  for (int d = 0; d < devices; ++d) {
    std::snprintf(buf, sizeof buf, "dev-%05d", d);
    key_text[static_cast<std::size_t>(d)] = buf;
  }

  double cpu0 = cpu_seconds();
  auto t0 = std::chrono::steady_clock::now();
  CALLGRIND_START_INSTRUMENTATION;
  {
    outpost::store::Options o;
    o.data_dir = dir / "data";
    auto log = outpost::store::Log::open(o);
    if (!log.is_ok()) {
      std::fprintf(stderr, "store_append: %s\n", log.status().to_string().c_str());
      return 1;
    }
    auto sid = log.value()->open_stream("readings");
    if (!sid.is_ok()) return 1;
    std::size_t start = 0;
    for (std::size_t i = 0; i < records; ++i) {
      outpost::store::AppendRecord r;
      r.payload = std::string_view(raw.data() + start, ends[i] - start);
      if (with_keys) r.key = std::string_view(key_text[static_cast<std::size_t>(keys[i])]);
      r.event_time_ms = times[i];
      auto seq = log.value()->append(sid.value(), r);
      if (!seq.is_ok()) {
        std::fprintf(stderr, "store_append: %s\n", seq.status().to_string().c_str());
        return 1;
      }
      start = ends[i] + 1;
    }
    if (!log.value()->flush().is_ok()) return 1;
  }
  CALLGRIND_STOP_INSTRUMENTATION;
  double append_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double append_cpu = cpu_seconds() - cpu0;
  std::uint64_t stored = dir_bytes(dir / "data");
  std::uint64_t payload_bytes = raw.size() - records;  // without the newlines

  // The reference: the zstd CLI on the same bytes (payloads, newline separated), level 3, one thread.
  std::filesystem::path feed = dir / "feed.jsonl";
  {
    FILE* f = std::fopen(feed.c_str(), "wb");
    std::fwrite(raw.data(), 1, raw.size(), f);
    std::fclose(f);
  }
  std::string zst = (dir / "feed.jsonl.zst").string();
  std::string cmd = "zstd -q -f -3 -T1 '" + feed.string() + "' -o '" + zst + "'";
  double zcpu0 = cpu_seconds(RUSAGE_CHILDREN);
  auto z0 = std::chrono::steady_clock::now();
  int rc = std::system(cmd.c_str());
  double zstd_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - z0).count();
  double zstd_cpu = cpu_seconds(RUSAGE_CHILDREN) - zcpu0;  // the shell and zstd (user+sys)
  if (rc != 0) {
    std::fprintf(stderr, "store_append: the zstd CLI failed (%d)\n", rc);
    return 1;
  }
  std::uint64_t zstd_bytes = std::filesystem::file_size(zst);

  std::printf(
      "{\"bench\":\"store_append\",\"keys\":%s,\"records\":%zu,\"raw_bytes\":%llu,\"stored_bytes\":%llu,\"zstd_bytes\":%llu,"
      "\"size_vs_zstd\":%.3f,\"append_s\":%.3f,\"zstd_s\":%.3f,\"time_vs_zstd\":%.3f,\"records_per_s\":%.0f,"
      "\"cpu_us_per_event\":%.3f,\"append_cpu_s\":%.3f,\"zstd_cpu_s\":%.3f,\"cpu_vs_zstd\":%.3f,\"peak_rss_kib\":%ld,"
      "\"targets\":{\"records_per_s\":1000000,\"size_vs_zstd\":1.10,\"time_vs_zstd\":1.5}}\n",
      with_keys ? "true" : "false", records, static_cast<unsigned long long>(payload_bytes), static_cast<unsigned long long>(stored),
      static_cast<unsigned long long>(zstd_bytes), static_cast<double>(stored) / static_cast<double>(zstd_bytes),
      append_s, zstd_s, append_s / zstd_s, static_cast<double>(records) / append_s,
      append_cpu * 1e6 / static_cast<double>(records), append_cpu, zstd_cpu, zstd_cpu > 0 ? append_cpu / zstd_cpu : 0.0,
      peak_rss_kib());
  std::filesystem::remove_all(dir);
  return 0;
}
