// libFuzzer target for the local log's on-disk reader (store/segment.h, store/block.h): a
// segment file and an intake journal are bytes on an SD card that a power cut, a bad sector or
// another program can damage. Whatever the bytes, scanning never crashes, never allocates from
// an unchecked length, and describes what it found consistently: valid blocks lie inside the
// valid prefix in file order, damage is named, and the totals match the blocks.
// The same bytes are also read as an intake journal (store/format.h), record after record.
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string_view>

#include "store/block.h"
#include "store/format.h"
#include "store/segment.h"

using namespace outpost::store;
using outpost::Result;
using outpost::Status;

namespace {

class MemoryFile final : public RandomAccessFile {
 public:
  explicit MemoryFile(std::string_view bytes) : bytes_(bytes) {}
  Status read(std::uint64_t offset, std::size_t n, char* dst, std::size_t* got) const override {
    *got = 0;
    if (offset >= bytes_.size()) return Status::ok();
    *got = std::min<std::size_t>(n, bytes_.size() - offset);
    std::memcpy(dst, bytes_.data() + offset, *got);
    return Status::ok();
  }
  Result<std::uint64_t> size() const override { return std::uint64_t{bytes_.size()}; }

 private:
  std::string_view bytes_;
};

void check_scan(const MemoryFile& f, std::uint64_t size, bool deep) {
  ScanOptions options;
  options.limit = size;
  options.verify_payloads = deep;
  options.deep = deep;
  ScanResult r;
  if (!scan_segment(f, options, &r).is_ok()) return;  // an I/O error, not damage
  if (r.valid_end > size) std::abort();
  std::uint64_t records = 0, end = options.start_offset;
  for (const BlockEntry& e : r.entries) {
    if (e.offset < end || e.offset + e.length > size) std::abort();  // out of order or outside
    end = e.offset + e.length;
    if (e.damaged) {
      if (e.message.empty()) std::abort();  // damage is always described
    } else {
      if (e.offset + e.length > r.valid_end) std::abort();
      records += e.count;
    }
  }
  if (records != r.records) std::abort();
  if (r.has_tail && r.tail_message.empty() && !r.tail_zero_fill) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (1u << 20)) return 0;  // a few blocks are enough; keeps each run fast
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  MemoryFile f(bytes);
  format::SegmentHeader header;
  (void)read_segment_header(f, &header);
  // Blocks start after the segment header; the log never scans a file shorter than that.
  if (size >= format::kSegmentHeaderBytes) {
    check_scan(f, size, /*deep=*/false);
    check_scan(f, size, /*deep=*/true);
  }

  // The same bytes as an intake journal: records after the file header until one is torn.
  const char* p = bytes.data() + std::min(size, format::kJournalHeaderBytes);
  const char* end = bytes.data() + size;
  while (p < end) {
    JournalRecord rec;
    std::size_t used = decode_journal_record(p, end, &rec);
    if (used == 0) break;
    if (used > static_cast<std::size_t>(end - p)) std::abort();
    if (rec.payload.data() < p || rec.payload.data() + rec.payload.size() > p + used) std::abort();
    p += used;
  }
  return 0;
}
