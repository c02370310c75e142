// Scanning segment files: the block index (offset, seqs, event times per block) is built by
// reading block headers only and skipping payloads by their stored length, so opening a large
// log is fast. Damage is located, bounded and described; nothing here trusts a length it has
// not bounds-checked. Internal to store/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/env.h"
#include "store/format.h"

namespace outpost::store {

// Why an index entry is damaged, held behind a pointer: nearly every entry is a valid block
// with no message, and the active segment's index holds one entry per group commit, so an
// inline std::string (32 bytes) would be over a quarter of each entry's memory.
class DamageMessage {
 public:
  DamageMessage() = default;
  DamageMessage(std::string text)  // NOLINT(google-explicit-constructor): assigned like a string
      : text_(text.empty() ? nullptr : std::make_unique<std::string>(std::move(text))) {}
  DamageMessage(const char* text) : DamageMessage(std::string(text)) {}  // NOLINT: as above
  DamageMessage(const DamageMessage& o) : text_(o.text_ ? std::make_unique<std::string>(*o.text_) : nullptr) {}
  DamageMessage(DamageMessage&&) noexcept = default;
  DamageMessage& operator=(const DamageMessage& o) {
    if (this != &o) text_ = o.text_ ? std::make_unique<std::string>(*o.text_) : nullptr;
    return *this;
  }
  DamageMessage& operator=(DamageMessage&&) noexcept = default;
  operator std::string() const { return text_ ? *text_ : std::string(); }  // NOLINT: reads like a string
  bool empty() const { return !text_; }

 private:
  std::unique_ptr<std::string> text_;
};

// One entry of a segment's block index: a valid block, or a damaged byte range.
struct BlockEntry {
  std::uint64_t offset = 0;      // of the block header (or of the damaged bytes)
  std::uint64_t length = 0;      // header + stored bytes (or damaged bytes)
  std::uint64_t first_seq = 0;   // for damage: first sequence lost
  std::uint64_t last_seq = 0;    // for damage: last sequence lost (0 = unknown, up to the next block)
  std::uint32_t count = 0;
  std::uint32_t raw_len = 0;
  std::int64_t min_event_ms = 0, max_event_ms = 0;
  std::int64_t min_ingest_ms = 0, max_ingest_ms = 0;
  bool damaged = false;
  DamageMessage message;  // why it is damaged
};

struct ScanOptions {
  std::uint64_t start_offset = format::kSegmentHeaderBytes;
  std::uint64_t expected_seq = 1;   // first sequence of the block at start_offset
  std::uint64_t limit = 0;          // scan bytes [start_offset, limit)
  bool verify_payloads = false;     // also check payload checksums (and records if deep)
  bool deep = false;                // decompress and check every record (verify())
};

struct ScanResult {
  std::vector<BlockEntry> entries;  // valid blocks and damage followed by a valid block
  std::uint64_t valid_end = 0;      // offset after the last valid block
  std::uint64_t next_seq = 0;       // sequence after the last valid block
  // The tail: bytes [valid_end, limit) that do not form whole valid blocks. Either a torn
  // write (a writer died, or is still writing) or damage; the caller decides.
  bool has_tail = false;
  bool tail_zero_fill = false;      // the tail is all zero bytes (preallocated space)
  std::uint64_t tail_last_seq = 0;  // largest sequence a header in the tail claimed (0 = none)
  std::string tail_message;
  // Totals over the valid blocks found.
  std::uint64_t records = 0, raw_bytes = 0;
  std::int64_t min_event_ms = 0, max_event_ms = 0, min_ingest_ms = 0, max_ingest_ms = 0;
  bool have_times = false;
};

// Reads and checks the segment header. Empty string if valid, else what is wrong.
std::string read_segment_header(const RandomAccessFile& f, format::SegmentHeader* h);

// Scans blocks of f per options. I/O errors are returned; damage is described in *out.
Status scan_segment(const RandomAccessFile& f, const ScanOptions& options, ScanResult* out);

}  // namespace outpost::store
