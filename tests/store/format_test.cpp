// Byte-level format: varints, masking, headers, record framing, blocks, journal records, file
// names, and the checked-in sample segment that pins format version 1.
#include <doctest/doctest.h>

#include <random>

#include "store/block.h"
#include "store/clock.h"
#include "store/filename.h"
#include "store/format.h"
#include "store/segment.h"
#include "tests/store/test_util.h"

using namespace outpost;
using namespace outpost::store;
using namespace outpost::store::format;
using namespace outpost::store::test;

TEST_CASE("varints round-trip and truncated or overlong varints are rejected") {
  std::vector<std::uint64_t> values = {0, 1, 127, 128, 255, 300, 16383, 16384, 1ull << 31, ~0u, 1ull << 35, ~0ull};
  for (auto v : values) {
    char buf[10];
    char* end = put_varint64(buf, v);
    CHECK(static_cast<std::size_t>(end - buf) == varint_length(v));
    std::uint64_t got = 0;
    CHECK(get_varint64(buf, end, &got) == end);
    CHECK(got == v);
    if (end - buf > 1) CHECK(get_varint64(buf, end - 1, &got) == nullptr);  // truncated
  }
  char big[11];
  std::memset(big, 0xff, sizeof big);
  std::uint64_t v = 0;
  CHECK(get_varint64(big, big + sizeof big, &v) == nullptr);  // never ends
  char b5[6] = {'\xff', '\xff', '\xff', '\xff', '\x7f', 0};
  std::uint32_t v32 = 0;
  CHECK(get_varint32(b5, b5 + 5, &v32) == nullptr);  // > 32 bits
}

TEST_CASE("zigzag maps small negative and positive deltas to small numbers") {
  for (std::int64_t v : std::initializer_list<std::int64_t>{0, 1, -1, 63, -64, 1LL << 40, -(1LL << 40), INT64_MAX, INT64_MIN}) {
    CHECK(unzigzag(zigzag(v)) == v);
  }
  CHECK(zigzag(-1) == 1);
  CHECK(zigzag(1) == 2);
}

TEST_CASE("masked checksums differ from the raw checksum and unmask back") {
  const char data[] = "hello";
  std::uint32_t c = xxh3_32(data, 5);
  CHECK(mask(c) != c);
  CHECK(unmask(mask(c)) == c);
  CHECK(mask(mask(c)) != mask(c));
}

TEST_CASE("segment header encodes the documented layout and rejects any flipped byte") {
  SegmentHeader h;
  h.first_seq = 42;
  h.created_wall_ms = 1234;
  char buf[kSegmentHeaderBytes];
  encode_segment_header(h, buf);
  CHECK(std::string(buf, 4) == "OPSG");
  CHECK(get_u16(buf + 4) == kFormatVersion);
  CHECK(buf[6] == kCodecZstd);
  CHECK(get_u64(buf + 8) == 42);
  SegmentHeader d;
  CHECK(decode_segment_header(buf, &d).empty());
  CHECK(d.first_seq == 42);
  CHECK(d.created_wall_ms == 1234);
  for (std::size_t i = 0; i < kSegmentHeaderBytes; ++i) {
    char copy[kSegmentHeaderBytes];
    std::memcpy(copy, buf, sizeof copy);
    copy[i] ^= 0x10;
    CHECK_FALSE(decode_segment_header(copy, &d).empty());
  }
}

TEST_CASE("block header round-trips and rejects corrupt bytes and out-of-bounds lengths") {
  BlockHeader h;
  h.type = kBlockZstd;
  h.stored_len = 100;
  h.raw_len = 400;
  h.record_count = 3;
  h.first_seq = 7;
  h.min_event_ms = -5;
  h.max_event_ms = 10;
  h.min_ingest_ms = 100;
  h.max_ingest_ms = 200;
  h.payload_checksum = 0xdeadbeef;
  char buf[kBlockHeaderBytes];
  encode_block_header(h, buf);
  CHECK(buf[0] == 1);
  CHECK(get_u32(buf + 4) == 100);
  CHECK(get_u64(buf + 16) == 7);
  BlockHeader d;
  CHECK(decode_block_header(buf, &d).empty());
  CHECK(d.last_seq() == 9);
  CHECK(d.min_event_ms == -5);
  for (std::size_t i = 0; i < kBlockHeaderBytes; ++i) {
    char copy[kBlockHeaderBytes];
    std::memcpy(copy, buf, sizeof copy);
    copy[i] ^= 0x01;
    CHECK_FALSE(decode_block_header(copy, &d).empty());
  }
  h.stored_len = kMaxBlockStoredBytes + 1;  // valid checksum, absurd length
  encode_block_header(h, buf);
  CHECK_FALSE(decode_block_header(buf, &d).empty());
  h.stored_len = 100;
  h.type = kBlockZeroFill;
  encode_block_header(h, buf);
  CHECK_FALSE(decode_block_header(buf, &d).empty());
  char zeros[kBlockHeaderBytes] = {};
  CHECK(is_zero_fill(zeros, sizeof zeros));
  CHECK_FALSE(decode_block_header(zeros, &d).empty());
}

TEST_CASE("records framed into a block decode back exactly, with and without keys") {
  Buffer raw;
  BlockMeta meta;
  std::vector<Rec> in;
  for (std::uint64_t i = 0; i < 50; ++i) {
    Rec r{100 + i, 1000 + static_cast<std::int64_t>(i / 3), 500 - static_cast<std::int64_t>(i), i % 2 == 0,
          i % 2 == 0 ? "key" + std::to_string(i) : "", std::string(i, 'x')};
    std::optional<std::string_view> key;
    if (r.has_key) key = r.key;
    encode_record(&raw, &meta, r.seq, r.ingest, r.event, key, r.payload);
    in.push_back(r);
  }
  CHECK(meta.count == 50);
  CHECK(meta.first_seq == 100);
  Buffer open = std::move(raw);
  REQUIRE(to_stored_layout(open.view(), meta.count, &raw).empty());
  BlockHeader h;
  h.first_seq = meta.first_seq;
  h.record_count = meta.count;
  h.raw_len = static_cast<std::uint32_t>(raw.size());
  h.min_event_ms = meta.min_event_ms;
  h.max_event_ms = meta.max_event_ms;
  h.min_ingest_ms = meta.min_ingest_ms;
  h.max_ingest_ms = meta.max_ingest_ms;
  CHECK(check_records(h, raw.view()).empty());
  RecordDecoder d(raw.data(), raw.data() + raw.size(), 100, 50, meta.min_ingest_ms);
  for (auto& r : in) {
    RecordView v;
    REQUIRE(d.next(&v).empty());
    CHECK(Rec{v.seq, v.ingest_time_ms, v.event_time_ms, v.has_key, std::string(v.key), std::string(v.payload)} == r);
  }
  CHECK(d.at_exact_end());
}

TEST_CASE("record decoding never reads past the block for any corruption of its bytes") {
  Buffer raw;
  BlockMeta meta;
  for (std::uint64_t i = 0; i < 20; ++i) {
    std::string k = "k" + std::to_string(i);
    encode_record(&raw, &meta, 1 + i, 10, 10, std::optional<std::string_view>(k), sensor_line(i));
  }
  Buffer stored;
  REQUIRE(to_stored_layout(raw.view(), meta.count, &stored).empty());
  std::mt19937 rng(7);
  std::string copy(stored.view());
  for (int t = 0; t < 2000; ++t) {
    std::string c = copy;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) c[rng() % c.size()] ^= static_cast<char>(1 + rng() % 255);
    std::size_t cut = c.size() - rng() % 8;
    // Decode from a heap copy of exactly the block so ASan catches any overread.
    std::unique_ptr<char[]> exact(new char[cut]);
    std::memcpy(exact.get(), c.data(), cut);
    RecordDecoder d(exact.get(), exact.get() + cut, 1, 20, 10);
    RecordView v;
    while (d.left() > 0 && d.next(&v).empty()) {
      CHECK(v.payload.data() >= exact.get());
      CHECK(v.payload.data() + v.payload.size() <= exact.get() + cut);
    }
  }
}

TEST_CASE("zstd blocks compress, verify and decompress; incompressible data is stored raw") {
  BlockCompressor c(3);
  BlockDecompressor d;
  for (bool compressible : {true, false}) {
    Buffer raw;
    BlockMeta meta;
    std::mt19937 rng(1);
    for (std::uint64_t i = 0; i < (compressible ? 200u : 1u); ++i) {
      std::string p = compressible ? sensor_line(i) : std::string(4000, '\0');
      if (!compressible) for (auto& ch : p) ch = static_cast<char>(rng());
      encode_record(&raw, &meta, 1 + i, 5, 5, std::nullopt, p);
    }
    Buffer stored;
    REQUIRE(c.compress(raw.view(), meta, &stored).is_ok());
    BlockHeader h;
    REQUIRE(decode_block_header(stored.data(), &h).empty());
    CHECK(h.type == (compressible ? kBlockZstd : kBlockRaw));
    if (compressible) CHECK(h.stored_len < h.raw_len / 3);
    Buffer out;
    CHECK(d.decode(h, std::string_view(stored.data() + kBlockHeaderBytes, h.stored_len), &out).empty());
    Buffer expected;
    REQUIRE(to_stored_layout(raw.view(), meta.count, &expected).empty());
    CHECK(out.view() == expected.view());
    std::string bad(stored.data() + kBlockHeaderBytes, h.stored_len);
    bad[bad.size() / 2] ^= 4;
    CHECK(d.decode(h, bad, &out) == "block payload checksum mismatch");
  }
}

TEST_CASE("raw bytes damaged before the payload checksum was taken are caught by the zstd content checksum") {
  // E.g. a bit flip in memory between compression and checksumming: the stored checksum
  // matches, but the frame's content checksum does not.
  Buffer raw;
  BlockMeta meta;
  for (std::uint64_t i = 0; i < 300; ++i) encode_record(&raw, &meta, 1 + i, 5, 5, std::nullopt, sensor_line(i));
  BlockCompressor c(3);
  BlockDecompressor d;
  Buffer stored;
  REQUIRE(c.compress(raw.view(), meta, &stored).is_ok());
  BlockHeader h;
  REQUIRE(decode_block_header(stored.data(), &h).empty());
  REQUIRE(h.type == kBlockZstd);
  Buffer expected;
  REQUIRE(to_stored_layout(raw.view(), meta.count, &expected).empty());
  std::mt19937 rng(11);
  int caught = 0;
  for (int t = 0; t < 200; ++t) {
    std::string payload(stored.data() + kBlockHeaderBytes, h.stored_len);
    payload[rng() % payload.size()] ^= static_cast<char>(1 + rng() % 255);
    BlockHeader h2 = h;
    h2.payload_checksum = masked_checksum(payload.data(), payload.size());
    Buffer out;
    std::string err = d.decode(h2, payload, &out);
    if (!err.empty()) ++caught;
    else CHECK(out.view() == expected.view());  // a flip zstd could tolerate must not change data
  }
  CHECK(caught >= 195);
}

TEST_CASE("journal records round-trip and a torn or flipped record is rejected") {
  Buffer b;
  encode_journal_record(&b, 77, 1000, 999, std::optional<std::string_view>("key"), "payload");
  JournalRecord r;
  CHECK(decode_journal_record(b.data(), b.data() + b.size(), &r) == b.size());
  CHECK(r.seq == 77);
  CHECK(r.ingest_ms == 1000);
  CHECK(r.event_ms == 999);
  CHECK(r.has_key);
  CHECK(r.key == "key");
  CHECK(r.payload == "payload");
  for (std::size_t cut = 0; cut < b.size(); ++cut) CHECK(decode_journal_record(b.data(), b.data() + cut, &r) == 0);
  for (std::size_t i = 0; i < b.size(); ++i) {
    std::string c(b.view());
    c[i] ^= 0x20;
    CHECK(decode_journal_record(c.data(), c.data() + c.size(), &r) == 0);
  }
}

TEST_CASE("file names sort by sequence and parse back; stream names are validated") {
  CHECK(segment_file_name(1) == "00000000000000000001.seg");
  CHECK(journal_file_name(12345) == "00000000000000012345.jnl");
  auto p = parse_file_name("00000000000000000042.seg");
  REQUIRE(p);
  CHECK(p->first_seq == 42);
  CHECK(p->kind == FileKind::kSegment);
  CHECK_FALSE(parse_file_name("0000000000000000042.seg"));
  CHECK_FALSE(parse_file_name("00000000000000000042.tmp"));
  CHECK_FALSE(parse_file_name("0000000000000000004x.seg"));
  CHECK_FALSE(parse_file_name("00000000000000000000.seg"));
  CHECK_FALSE(parse_file_name("99999999999999999999.seg"));  // overflows 64 bits
  CHECK(check_stream_name("sensors.raw-1_x").empty());
  CHECK_FALSE(check_stream_name("").empty());
  CHECK_FALSE(check_stream_name("a/b").empty());
  CHECK_FALSE(check_stream_name("..").empty());
  CHECK_FALSE(check_stream_name("caf\xc3\xa9").empty());
  CHECK(check_stream_name(std::string(200, 'a')).empty());
  CHECK_FALSE(check_stream_name(std::string(201, 'a')).empty());
}

// ---- the checked-in sample segment -----------------------------------------------------------

namespace {

// The records of tests/store/data/sample_v1: deterministic, with keys, explicit and implied
// event times, an empty payload and a binary payload.
std::vector<AppendRecord> sample_records(std::vector<std::string>* storage) {
  storage->clear();
  for (int i = 0; i < 40; ++i) {
    if (i == 5) storage->push_back("");
    else if (i == 6) storage->push_back(std::string("\0\x01\xff\n", 4));
    else storage->push_back(sensor_line(static_cast<std::uint64_t>(i)));
  }
  std::vector<AppendRecord> out;
  for (int i = 0; i < 40; ++i) {
    AppendRecord r;
    if (i % 4 != 0) r.event_time_ms = 1'700'000'000'000 + i * 1000 - (i % 3) * 1500;
    if (i % 3 == 0) r.key = (i % 2 == 0) ? std::string_view("sensor-a") : std::string_view("");
    r.payload = (*storage)[static_cast<std::size_t>(i)];
    out.push_back(r);
  }
  return out;
}

const std::filesystem::path kSampleDir = std::filesystem::path(OUTPOST_SOURCE_DIR) / "tests/store/data/sample_v1";

}  // namespace

TEST_CASE("regenerate the sample segment (only with OUTPOST_REGENERATE_SAMPLE=1)") {
  if (std::getenv("OUTPOST_REGENERATE_SAMPLE") == nullptr) return;
  std::filesystem::remove_all(kSampleDir);
  ManualClock clock(1'700'000'000'000, 1);
  Options o;
  o.data_dir = kSampleDir;
  o.block_bytes = 4096;  // several blocks
  o.clock = &clock;
  std::vector<std::string> storage;
  {
    auto log = Log::open(o);
    REQUIRE(log.is_ok());
    auto id = (*log)->open_stream("sample");
    REQUIRE(id.is_ok());
    int i = 0;
    for (auto& r : sample_records(&storage)) {
      clock.advance_ms(i++ % 2 ? 0 : 250);
      REQUIRE((*log)->append(*id, r).is_ok());
      if (i == 20) REQUIRE((*log)->flush().is_ok());  // two group commits
    }
    REQUIRE((*log)->flush().is_ok());
  }
  // Only the segment is checked in.
  for (auto& e : std::filesystem::directory_iterator(kSampleDir)) {
    if (e.path().filename() != "streams") std::filesystem::remove_all(e.path());
  }
}

TEST_CASE("the checked-in sample segment decodes to exactly its records (format v1 is pinned)") {
  auto seg = kSampleDir / "streams/sample/00000000000000000001.seg";
  REQUIRE(std::filesystem::exists(seg));
  std::string bytes = read_file(seg);
  REQUIRE(bytes.size() > kSegmentHeaderBytes + kBlockHeaderBytes);
  CHECK(bytes.substr(0, 4) == "OPSG");
  TempDir tmp;
  std::filesystem::copy(kSampleDir, tmp.path(), std::filesystem::copy_options::recursive);
  Options o;
  o.data_dir = tmp.path();
  o.read_only = true;
  auto log = Log::open(o);
  REQUIRE(log.is_ok());
  auto id = (*log)->find_stream("sample");
  REQUIRE(id.is_ok());
  auto got = read_all(**log, *id);
  CHECK(got.damage.empty());
  std::vector<std::string> storage;
  auto want = sample_records(&storage);
  REQUIRE(got.records.size() == want.size());
  std::int64_t clock = 1'700'000'000'000;
  for (std::size_t i = 0; i < want.size(); ++i) {
    clock += i % 2 ? 0 : 250;
    const Rec& r = got.records[i];
    CHECK(r.seq == i + 1);
    CHECK(r.ingest == clock);
    CHECK(r.event == want[i].event_time_ms.value_or(clock));
    CHECK(r.has_key == want[i].key.has_value());
    if (want[i].key) CHECK(r.key == *want[i].key);
    CHECK(r.payload == want[i].payload);
  }
  auto damage = (*log)->verify();
  REQUIRE(damage.is_ok());
  CHECK(damage->empty());
  // Several blocks, two group commits.
  ScanResult sr;
  ScanOptions so;
  so.limit = bytes.size();
  so.verify_payloads = true;
  so.deep = true;
  auto f = Env::posix()->open_readable(seg);
  REQUIRE(f.is_ok());
  REQUIRE(scan_segment(**f, so, &sr).is_ok());
  CHECK(sr.entries.size() >= 2);
  CHECK(sr.records == 40);
  CHECK_FALSE(sr.has_tail);
}

TEST_CASE("a reused block buffer gives back memory far larger than the next block, and keeps small buffers") {
  Buffer b;
  b.tail(3u << 20);  // a block written during a burst
  b.set_size(3u << 20);
  REQUIRE(b.capacity() >= (3u << 20));
  b.clear_for(64u << 10);  // a steady block: 48x smaller
  CHECK(b.size() == 0);
  CHECK(b.capacity() == 0);

  b.tail(200u << 10);  // a burst's block of a reader that then reads ~1 KiB blocks
  b.clear_for(1u << 10);
  CHECK(b.capacity() == 0);

  b.tail(12u << 10);
  const std::size_t small = b.capacity();
  REQUIRE(small <= Buffer::kKeptBytes);
  b.clear_for(100);  // small buffers are always kept: no allocation per block when steady
  CHECK(b.capacity() == small);

  b.tail(1u << 20);
  const std::size_t big = b.capacity();
  b.clear_for(400u << 10);  // within 4x of the next block: kept
  CHECK(b.capacity() == big);
  CHECK(b.size() == 0);
}
