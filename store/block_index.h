// A segment's in-memory block index, packed. Internal to store/.
//
// Why not std::vector<BlockEntry>: group commits seal small blocks (one per stream per commit),
// so the active segment of a stream gains up to five entries a second and holds up to
// kMaxBlocksPerSegment of them until it rolls. At BlockEntry's 88 bytes that was up to 0.35 MiB
// per stream, and the slow streams (late rows, results) took most of an hour to get there: the
// daemon's RSS crept for the whole soak. A packed entry is 40 bytes. It keeps what a reader
// needs (where the block is, which sequences, the event-time range to skip it by); ingest times
// are only needed for segment stats, which are taken before an entry is packed.
//
// Entries that do not fit the packed form (damaged ranges, offsets past 4 GiB, event-time spans
// over 49 days) keep their full BlockEntry in a side table; they are rare by nature.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "store/segment.h"

namespace outpost::store::internal {

class BlockIndex {
 public:
  void reserve(std::size_t n) { packed_.reserve(n); }
  // Frees the memory (a sealed segment's index released while idle).
  void release();

  // Entries must arrive in first_seq order (as blocks are written and scanned).
  void push_back(const BlockEntry& e);

  std::size_t size() const { return packed_.size(); }
  bool empty() const { return packed_.empty(); }
  std::uint64_t first_seq(std::size_t i) const { return packed_[i].first_seq; }
  // Entry i as a reader sees it. Ingest times are not kept: they read as zero.
  BlockEntry at(std::size_t i) const;
  // The first entry whose first_seq is greater than seq (size() if none).
  std::size_t upper_bound(std::uint64_t seq) const;

 private:
  struct Packed {
    std::uint64_t first_seq = 0;
    std::int64_t min_event_ms = 0;
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
    std::uint32_t count = 0;
    std::uint32_t raw_len = 0;
    std::uint32_t event_span_ms = 0;  // max_event_ms - min_event_ms
    std::uint32_t wide = 0;           // 0, or 1 + the entry's place in wide_
  };
  static_assert(sizeof(Packed) == 40);

  std::vector<Packed> packed_;
  std::vector<BlockEntry> wide_;
};

}  // namespace outpost::store::internal
