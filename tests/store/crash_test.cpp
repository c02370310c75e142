// Crash and corruption: (a) the newest segment cut at every byte offset of its last two
// blocks, (b) thousands of random byte flips in random segments. Readers must return every
// intact record, never a damaged one, never crash; verify() must report the damage.
#include <doctest/doctest.h>

#include <random>

#include "store/env.h"
#include "store/format.h"
#include "store/segment.h"
#include "tests/store/test_util.h"

using namespace outpost;
using namespace outpost::store;
using namespace outpost::store::test;

namespace {

// Appends records 1..n (payload sensor_line(seq - 1), event time 1000 * seq), committing every
// `commit_every` so blocks of different sizes exist.
void fill(Log& log, StreamId id, std::uint64_t n, std::uint64_t commit_every) {
  for (std::uint64_t seq = 1; seq <= n; ++seq) {
    std::string p = sensor_line(seq - 1);
    AppendRecord r;
    r.payload = p;
    r.event_time_ms = static_cast<std::int64_t>(seq) * 1000;
    if (seq % 5 == 0) r.key = "key";
    REQUIRE(log.append(id, r).is_ok());
    if (seq % commit_every == 0) REQUIRE(log.flush().is_ok());
  }
  REQUIRE(log.flush().is_ok());
}

void check_intact(const Rec& r) {
  const bool ok = r.seq >= 1 && r.payload == sensor_line(r.seq - 1) &&
                  r.event == static_cast<std::int64_t>(r.seq) * 1000 && r.has_key == (r.seq % 5 == 0);
  if (!ok) FAIL("damaged record returned: seq " << r.seq << " payload '" << r.payload << "'");
}

std::vector<BlockEntry> blocks_of(const std::filesystem::path& seg) {
  auto f = Env::posix()->open_readable(seg);
  REQUIRE(f.is_ok());
  ScanOptions o;
  format::SegmentHeader h;
  REQUIRE(read_segment_header(**f, &h).empty());
  o.expected_seq = h.first_seq;
  o.limit = *(*f)->size();
  o.verify_payloads = true;
  ScanResult r;
  REQUIRE(scan_segment(**f, o, &r).is_ok());
  REQUIRE_FALSE(r.has_tail);
  return r.entries;
}

}  // namespace

TEST_CASE("a newest segment cut at every byte of its last two blocks recovers every whole block and nothing else") {
  TempDir dir;
  auto o = small_options(dir.path());
  o.segment_bytes = 1 << 20;
  o.block_bytes = 2048;
  {
    auto log = must_open(o);
    auto id = log->open_stream("s");
    REQUIRE(id.is_ok());
    fill(*log, *id, 600, 37);
  }
  auto files = segment_files(dir.path(), "s");
  REQUIRE(files.size() == 1);
  const auto seg = files.back();
  const std::string pristine = read_file(seg);
  auto blocks = blocks_of(seg);
  REQUIRE(blocks.size() >= 3);
  const BlockEntry& b1 = blocks[blocks.size() - 2];
  const BlockEntry& b2 = blocks.back();
  REQUIRE(b2.offset + b2.length == pristine.size());
  const std::uint64_t from = b1.offset;
  INFO("cutting at offsets " << from << ".." << pristine.size());
  for (std::uint64_t cut = from; cut <= pristine.size(); ++cut) {
    CAPTURE(cut);
    write_file(seg, pristine.substr(0, cut));
    // The records that must survive: those of blocks wholly before the cut.
    std::uint64_t expect_last = b1.first_seq - 1;
    if (cut >= b1.offset + b1.length) expect_last = b1.last_seq;
    if (cut == pristine.size()) expect_last = b2.last_seq;
    RecoveryReport report;
    auto log = must_open(o, &report);
    auto id = *log->find_stream("s");
    const bool on_boundary = cut == b1.offset || cut == b1.offset + b1.length || cut == pristine.size();
    CHECK(report.truncated_tails.size() == (on_boundary ? 0u : 1u));
    CHECK(report.corrupt_blocks.empty());
    CHECK(log->last_seq(id) == expect_last);
    auto all = read_all(*log, id);
    REQUIRE(all.damage.empty());
    REQUIRE(all.records.size() == expect_last);
    for (std::size_t i = 0; i < all.records.size(); ++i) {
      if (all.records[i].seq != i + 1) FAIL("sequence gap at " << i + 1);
      check_intact(all.records[i]);
    }
    // Appends continue densely after the cut.
    std::string p = "after";
    auto seq = log->append(id, AppendRecord{std::nullopt, std::nullopt, p});
    REQUIRE(seq.is_ok());
    CHECK(*seq == expect_last + 1);
    REQUIRE(log->flush().is_ok());
    auto again = read_all(*log, id, ReadOptions{expect_last + 1});
    REQUIRE(again.records.size() == 1);
    CHECK(again.records[0].payload == "after");
  }
}

TEST_CASE("random byte flips in random segments are reported by verify and never yield a damaged record") {
  TempDir dir;
  auto o = small_options(dir.path());
  o.segment_bytes = 8 << 10;
  o.block_bytes = 2048;
  const std::uint64_t n = 2500;
  {
    auto log = must_open(o);
    auto id = log->open_stream("s");
    REQUIRE(id.is_ok());
    fill(*log, *id, n, 113);
  }
  auto files = segment_files(dir.path(), "s");
  REQUIRE(files.size() >= 4);
  std::vector<std::string> pristine;
  for (auto& f : files) pristine.push_back(read_file(f));
  Options ro = o;
  ro.read_only = true;
  std::mt19937_64 rng(20240601);
  int trials = 0, rw_trials = 0;
  std::uint64_t damaged_reports = 0;
  for (int t = 0; t < 2000; ++t) {
    CAPTURE(t);
    // Sealed segments only for read-only trials: there a bad last block of the newest
    // segment is indistinguishable from a write in progress and is (rightly) not reported.
    const bool rw = t % 25 == 0;
    std::size_t fi = rw ? files.size() - 1 - rng() % 2 : rng() % (files.size() - 1);
    if (pristine[fi].size() <= format::kSegmentHeaderBytes) continue;
    std::string bytes = pristine[fi];
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      std::size_t pos = rng() % bytes.size();
      bytes[pos] = static_cast<char>(bytes[pos] ^ static_cast<char>(1 + rng() % 255));
    }
    if (bytes == pristine[fi]) continue;
    write_file(files[fi], bytes);
    ++trials;
    if (!rw) {
      auto log = must_open(ro);
      auto id = *log->find_stream("s");
      auto v = log->verify();
      REQUIRE(v.is_ok());
      CHECK_FALSE(v->empty());
      for (auto& d : *v) {
        CHECK_FALSE(d.message.empty());
        CHECK(d.segment == files[fi]);
      }
      auto all = read_all(*log, id);
      damaged_reports += all.damage.size();
      std::uint64_t prev = 0;
      for (auto& r : all.records) {
        check_intact(r);
        if (r.seq <= prev) FAIL("sequence went back at " << r.seq);
        prev = r.seq;
      }
      // Damage is confined: every record outside the damaged ranges is still returned.
      std::uint64_t lost = 0;
      for (auto& d : all.damage) {
        CHECK(d.segment == files[fi]);
        if (d.first_seq != kNoSeq && d.last_seq >= d.first_seq) lost += d.last_seq - d.first_seq + 1;
      }
      CHECK(all.records.size() + lost >= n);
      // A time-range read over damage behaves too.
      if (t % 4 != 1) {
        write_file(files[fi], pristine[fi]);
        continue;
      }
      ReadOptions tr;
      tr.since_ms = 1000 * 1000;
      tr.until_ms = 3000 * 1000;
      for (auto& r : read_all(*log, id, tr).records) {
        check_intact(r);
        if (r.event < tr.since_ms || r.event >= tr.until_ms) FAIL("event time outside range: " << r.event);
      }
      write_file(files[fi], pristine[fi]);
    } else {
      ++rw_trials;
      // Read-write open of a copy: recovery may cut the newest segment's tail or report
      // corrupt blocks, then appends continue.
      TempDir copy;
      std::filesystem::copy(dir.path(), copy.path(), std::filesystem::copy_options::recursive);
      std::filesystem::remove(copy.path() / "LOCK");
      write_file(files[fi], pristine[fi]);
      Options wo = o;
      wo.data_dir = copy.path();
      RecoveryReport report;
      auto log = must_open(wo, &report);
      auto id = *log->find_stream("s");
      auto v = log->verify();
      REQUIRE(v.is_ok());
      CHECK((!report.truncated_tails.empty() || !report.corrupt_blocks.empty() || !v->empty()));
      auto all = read_all(*log, id);
      for (auto& r : all.records) check_intact(r);
      const std::uint64_t last = log->last_seq(id);
      std::string p = "after";
      auto seq = log->append(id, AppendRecord{std::nullopt, std::nullopt, p});
      REQUIRE(seq.is_ok());
      CHECK(*seq == last + 1);
      REQUIRE(log->flush().is_ok());
    }
  }
  CHECK(trials > 1800);
  CHECK(rw_trials > 40);
  CHECK(damaged_reports > 0);
}

TEST_CASE("garbage appended after the last block is cut at open and reported") {
  TempDir dir;
  auto o = small_options(dir.path());
  {
    auto log = must_open(o);
    auto id = log->open_stream("s");
    fill(*log, *id, 100, 1000);
  }
  auto seg = segment_files(dir.path(), "s").back();
  std::string bytes = read_file(seg);
  const auto good = bytes.size();
  std::mt19937 rng(3);
  for (int i = 0; i < 5000; ++i) bytes.push_back(static_cast<char>(rng()));
  write_file(seg, bytes);
  RecoveryReport report;
  auto log = must_open(o, &report);
  REQUIRE(report.truncated_tails.size() == 1);
  CHECK(report.truncated_tails[0].offset == good);
  CHECK(std::filesystem::file_size(seg) == good);
  auto id = *log->find_stream("s");
  CHECK(read_all(*log, id).records.size() == 100);
}

TEST_CASE("zero-filled preallocated space after the last block is the end of data, not damage") {
  TempDir dir;
  auto o = small_options(dir.path());
  {
    auto log = must_open(o);
    auto id = log->open_stream("s");
    fill(*log, *id, 100, 1000);
  }
  auto seg = segment_files(dir.path(), "s").back();
  std::string bytes = read_file(seg);
  bytes.append(8192, '\0');
  write_file(seg, bytes);
  RecoveryReport report;
  auto log = must_open(o, &report);
  CHECK(report.truncated_tails.empty());
  CHECK(report.corrupt_blocks.empty());
  auto id = *log->find_stream("s");
  CHECK(read_all(*log, id).records.size() == 100);
  std::string p = "x";
  CHECK(*log->append(id, AppendRecord{std::nullopt, std::nullopt, p}) == 101);
}

TEST_CASE("a segment with a damaged header is reported and does not block start-up") {
  TempDir dir;
  auto o = small_options(dir.path());
  o.segment_bytes = 4 << 10;
  {
    auto log = must_open(o);
    auto id = log->open_stream("s");
    fill(*log, *id, 3000, 500);
  }
  auto files = segment_files(dir.path(), "s");
  REQUIRE(files.size() >= 3);
  std::string bytes = read_file(files[0]);
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = 'Z';
  write_file(files[0], bytes);
  std::filesystem::remove(dir.path() / "catalog.db");  // force a rescan at open
  std::filesystem::remove(dir.path() / "catalog.db-wal");
  RecoveryReport report;
  auto log = must_open(o, &report);
  bool header_reported = false;
  for (auto& d : report.corrupt_blocks) header_reported = header_reported || (d.segment == files[0] && d.offset == 0);
  CHECK(header_reported);
  auto v = log->verify();
  REQUIRE(v.is_ok());
  CHECK_FALSE(v->empty());
  auto id = *log->find_stream("s");
  auto all = read_all(*log, id);
  for (auto& r : all.records) check_intact(r);
  CHECK(log->last_seq(id) == 3000);
}

TEST_CASE("segments of random garbage behind a valid header never crash open, readers or verify") {
  std::mt19937_64 rng(99);
  for (int t = 0; t < 150; ++t) {
    CAPTURE(t);
    TempDir dir;
    auto o = small_options(dir.path());
    {
      auto log = must_open(o);
      auto id = log->open_stream("s");
      fill(*log, *id, 200, 50);
    }
    auto files = segment_files(dir.path(), "s");
    std::string bytes = read_file(files.back());
    // Keep a prefix (maybe cutting into a block) and append garbage, some of it shaped like
    // block headers with absurd lengths.
    bytes.resize(format::kSegmentHeaderBytes + rng() % (bytes.size() - format::kSegmentHeaderBytes + 1));
    const std::size_t extra = rng() % 20000;
    for (std::size_t i = 0; i < extra; ++i) {
      if (rng() % 500 == 0) {
        char h[format::kBlockHeaderBytes] = {};
        h[0] = static_cast<char>(1 + rng() % 2);
        format::put_u32(h + 4, static_cast<std::uint32_t>(rng()));
        format::put_u32(h + 8, static_cast<std::uint32_t>(rng()));
        format::put_u32(h + 12, static_cast<std::uint32_t>(rng()));
        format::put_u64(h + 16, rng() % 400);
        if (rng() % 2) format::put_u32(h + 60, format::masked_checksum(h, 60));  // a "valid" header
        bytes.append(h, sizeof h);
      } else {
        bytes.push_back(static_cast<char>(rng()));
      }
    }
    write_file(files.back(), bytes);
    for (bool read_only : {true, false}) {
      Options oo = o;
      oo.read_only = read_only;
      RecoveryReport report;
      auto log = Log::open(oo, &report);
      REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
      auto id = *(*log)->find_stream("s");
      auto all = read_all(**log, id);
      for (auto& r : all.records) check_intact(r);
      auto v = (*log)->verify();
      REQUIRE(v.is_ok());
      if (!read_only) {
        const std::uint64_t last = (*log)->last_seq(id);
        std::string p = "after";
        auto seq = (*log)->append(id, AppendRecord{std::nullopt, std::nullopt, p});
        REQUIRE(seq.is_ok());
        CHECK(*seq == last + 1);
      }
    }
  }
}
