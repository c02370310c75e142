// The log on a real, tiny file system that fills up (a tmpfs this test mounts; needs root, else
// every case says it was skipped). Unlike FaultInjectionEnv's ENOSPC, this one also hits the
// SQLite catalog (its WAL), segment creation at a roll and directory syncs, wherever the last
// free page happens to go. Whatever fails, nothing durable is lost or corrupted, the log keeps
// its in-memory state consistent with the files, and once space returns it carries on.
#include <doctest/doctest.h>

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <random>

#include "tests/store/test_util.h"

namespace outpost::store {
namespace {

using test::Rec;
using test::TempDir;

// Mounts a tmpfs of `bytes` on `dir` for the object's lifetime.
class Tmpfs {
 public:
  Tmpfs(const std::filesystem::path& dir, std::uint64_t bytes) : dir_(dir) {
    const std::string opts = "size=" + std::to_string(bytes);
    mounted_ = ::geteuid() == 0 && ::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
};

// Fills the file system with `path` until ENOSPC, then gives `leave` bytes back.
void fill(const std::filesystem::path& path, std::uint64_t leave) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  std::setvbuf(f, nullptr, _IONBF, 0);
  std::string chunk(65536, '\0');
  std::uint64_t n = 0;
  while (!chunk.empty()) {
    std::size_t w = std::fwrite(chunk.data(), 1, chunk.size(), f);
    n += w;
    if (w < chunk.size()) {
      std::clearerr(f);
      chunk.resize(chunk.size() / 2);
    }
  }
  std::fclose(f);
  std::filesystem::resize_file(path, n > leave ? n - leave : 0);
}

std::string random_payload(std::mt19937_64& rng, std::uint64_t i) {
  std::string p = "{\"n\":" + std::to_string(i) + ",\"pad\":\"";
  for (int k = 0; k < 24; ++k) {
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(rng()));
    p += b;
  }
  return p + "\"}";
}

TEST_CASE("a real file system filling up at any point: no loss, no damage, carries on when space returns") {
  // 0..15 pages left free after filling: the failure lands in a block write, the segment
  // header at a roll, the catalog's WAL or a journal, depending on the round.
  for (std::uint64_t pages = 0; pages < 16; ++pages) {
    CAPTURE(pages);
    TempDir dir;
    Tmpfs fs(dir.path(), 2 << 20);
    if (!fs.mounted()) {
      MESSAGE("skipped: cannot mount a tmpfs (needs root)");
      return;
    }
    Options o;
    o.data_dir = dir.path() / "data";
    o.segment_bytes = 12 << 10;  // rolls every few blocks
    o.block_bytes = 4096;
    o.flush_interval_ms = 3'600'000;  // commits only when the test flushes
    std::mt19937_64 rng(pages);
    std::vector<std::string> appended;
    int failures = 0;
    {
      auto opened = Log::open(o);
      REQUIRE(opened.is_ok());
      auto log = std::move(opened).value();
      auto id = log->open_stream("s");
      REQUIRE(id.is_ok());
      for (int i = 0; i < 20; ++i) {  // a few segments before the disk fills
        std::string p = random_payload(rng, appended.size());
        REQUIRE(log->append(*id, AppendRecord{std::nullopt, std::nullopt, p}).is_ok());
        appended.push_back(p);
      }
      REQUIRE(log->flush().is_ok());
      fill(dir.path() / "filler", pages * 4096);
      // Keep appending (buffered and journaled) and committing until several commits failed.
      for (int round = 0; round < 400 && failures < 6; ++round) {
        for (int k = 0; k < 4; ++k) {
          std::string p = random_payload(rng, appended.size());
          auto d = k % 2 ? AppendDurability::kWritten : AppendDurability::kBuffered;
          auto r = log->append(*id, AppendRecord{std::nullopt, std::nullopt, p}, d);
          if (r.is_ok()) {
            REQUIRE(*r == appended.size() + 1);  // dense: a refused append takes no sequence
            appended.push_back(p);
          } else {
            CHECK(r.status().code() == Status::Code::kFull);
          }
        }
        Status st = log->flush();
        if (!st.is_ok()) ++failures;
        // Whatever failed, what is durable reads back whole and in order.
        auto during = test::read_all(*log, *id);
        if (!during.damage.empty()) {
          const Damage& d = during.damage.front();
          FAIL_CHECK(d.segment.string() << " at " << d.offset << ": " << d.message << " (flush: " << st.to_string()
                                        << ")");
        }
        REQUIRE(during.damage.empty());
        REQUIRE(during.records.size() == log->durable_seq(*id));
        for (std::size_t i = 0; i < during.records.size(); ++i) REQUIRE(during.records[i].payload == appended[i]);
      }
      CHECK(failures > 0);
      std::filesystem::remove(dir.path() / "filler");
      Status st = log->flush();
      REQUIRE_MESSAGE(st.is_ok(), st.to_string());
      CHECK(log->durable_seq(*id) == appended.size());
      for (int i = 0; i < 20; ++i) {  // and carries on
        std::string p = random_payload(rng, appended.size());
        REQUIRE(log->append(*id, AppendRecord{std::nullopt, std::nullopt, p}).is_ok());
        appended.push_back(p);
      }
      REQUIRE(log->flush().is_ok());
      auto all = test::read_all(*log, *id);
      CHECK(all.damage.empty());
      REQUIRE(all.records.size() == appended.size());
      for (std::size_t i = 0; i < appended.size(); ++i) {
        REQUIRE(all.records[i].seq == i + 1);
        REQUIRE(all.records[i].payload == appended[i]);
      }
      auto v = log->verify();
      REQUIRE(v.is_ok());
      CHECK(v->empty());
    }
    // Reopened: everything there, nothing cut or damaged.
    RecoveryReport report;
    auto reopened = Log::open(o, &report);
    REQUIRE(reopened.is_ok());
    CHECK(report.truncated_tails.empty());
    CHECK(report.corrupt_blocks.empty());
    auto id = (*reopened)->find_stream("s");
    REQUIRE(id.is_ok());
    auto all = test::read_all(**reopened, *id);
    CHECK(all.damage.empty());
    REQUIRE(all.records.size() == appended.size());
    for (std::size_t i = 0; i < appended.size(); ++i) REQUIRE(all.records[i].payload == appended[i]);
  }
}

}  // namespace
}  // namespace outpost::store
