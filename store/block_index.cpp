#include "store/block_index.h"

#include <algorithm>
#include <limits>

namespace outpost::store::internal {

namespace {

constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();

bool fits_packed(const BlockEntry& e) {
  if (e.damaged) return false;
  if (e.offset > kU32Max || e.length > kU32Max || e.count == 0) return false;
  if (e.last_seq != e.first_seq + e.count - 1) return false;
  if (e.max_event_ms < e.min_event_ms) return false;
  // The span as unsigned: min may be very negative and max very positive.
  const std::uint64_t span = static_cast<std::uint64_t>(e.max_event_ms) - static_cast<std::uint64_t>(e.min_event_ms);
  return span <= kU32Max;
}

}  // namespace

void BlockIndex::release() {
  std::vector<Packed>().swap(packed_);
  std::vector<BlockEntry>().swap(wide_);
}

void BlockIndex::push_back(const BlockEntry& e) {
  Packed p;
  p.first_seq = e.first_seq;
  if (fits_packed(e)) {
    p.min_event_ms = e.min_event_ms;
    p.offset = static_cast<std::uint32_t>(e.offset);
    p.length = static_cast<std::uint32_t>(e.length);
    p.count = e.count;
    p.raw_len = e.raw_len;
    p.event_span_ms = static_cast<std::uint32_t>(static_cast<std::uint64_t>(e.max_event_ms) -
                                                 static_cast<std::uint64_t>(e.min_event_ms));
  } else {
    wide_.push_back(e);
    p.wide = static_cast<std::uint32_t>(wide_.size());
  }
  packed_.push_back(p);
}

BlockEntry BlockIndex::at(std::size_t i) const {
  const Packed& p = packed_[i];
  if (p.wide != 0) return wide_[p.wide - 1];
  BlockEntry e;
  e.offset = p.offset;
  e.length = p.length;
  e.first_seq = p.first_seq;
  e.last_seq = p.first_seq + p.count - 1;
  e.count = p.count;
  e.raw_len = p.raw_len;
  e.min_event_ms = p.min_event_ms;
  e.max_event_ms = static_cast<std::int64_t>(static_cast<std::uint64_t>(p.min_event_ms) + p.event_span_ms);
  return e;
}

std::size_t BlockIndex::upper_bound(std::uint64_t seq) const {
  auto it = std::upper_bound(packed_.begin(), packed_.end(), seq,
                             [](std::uint64_t v, const Packed& p) { return v < p.first_seq; });
  return static_cast<std::size_t>(it - packed_.begin());
}

}  // namespace outpost::store::internal
