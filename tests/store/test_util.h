// Helpers shared by the store tests.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "store/log.h"

namespace outpost::store::test {

// A fresh directory under TMPDIR, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> n{0};
    const char* base = std::getenv("TMPDIR");
    path_ = std::filesystem::path(base ? base : "/tmp") /
            ("outpost-store-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Rec {
  std::uint64_t seq = 0;
  std::int64_t ingest = 0, event = 0;
  bool has_key = false;
  std::string key, payload;
  bool operator==(const Rec&) const = default;
};

inline std::string sensor_line(std::uint64_t i) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "{\"ts\":%llu,\"sensor\":\"s-%04llu\",\"temp\":%.2f,\"hum\":%.1f,\"ok\":true}",
                1700000000000ull + i * 10, static_cast<unsigned long long>(i % 500),
                20.0 + static_cast<double>(i % 1000) / 100.0, 40.0 + static_cast<double>(i % 300) / 10.0);
  return buf;
}

struct ReadAll {
  std::vector<Rec> records;
  std::vector<Damage> damage;
};

inline ReadAll read_all(Log& log, StreamId id, ReadOptions o = {}) {
  ReadAll out;
  auto r = log.read(id, o);
  REQUIRE(r.is_ok());
  RecordView v;
  for (int guard = 0; guard < 10'000'000; ++guard) {
    auto n = (*r)->next(&v);
    if (n == Reader::Next::kEnd) break;
    if (n == Reader::Next::kCorruption) {
      out.damage.push_back((*r)->damage());
      continue;
    }
    out.records.push_back(Rec{v.seq, v.ingest_time_ms, v.event_time_ms, v.has_key, std::string(v.key),
                              std::string(v.payload)});
  }
  return out;
}

// Opens the log or fails the test with the reason.
inline std::unique_ptr<Log> must_open(const Options& o, RecoveryReport* report = nullptr) {
  auto log = Log::open(o, report);
  REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
  return std::move(*log);
}

inline Options small_options(const std::filesystem::path& dir) {
  Options o;
  o.data_dir = dir;
  o.segment_bytes = 64 << 10;
  o.block_bytes = 4096;
  o.flush_interval_ms = 20;
  return o;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void write_file(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::vector<std::filesystem::path> segment_files(const std::filesystem::path& dir, const std::string& stream) {
  std::vector<std::filesystem::path> out;
  for (auto& e : std::filesystem::directory_iterator(dir / "streams" / stream)) {
    if (e.path().extension() == ".seg") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace outpost::store::test
