// The packed block index: every entry reads back as it was written, the ones that cannot be
// packed (damage, huge offsets, wide event-time spans) included, and lookup by sequence finds
// the right block.
#include <doctest/doctest.h>

#include <limits>

#include "store/block_index.h"

using namespace outpost::store;
using namespace outpost::store::internal;

namespace {

BlockEntry block(std::uint64_t offset, std::uint64_t first, std::uint32_t count, std::int64_t min_ev, std::int64_t max_ev) {
  BlockEntry e;
  e.offset = offset;
  e.length = 100 + count;
  e.first_seq = first;
  e.last_seq = first + count - 1;
  e.count = count;
  e.raw_len = 1000 + count;
  e.min_event_ms = min_ev;
  e.max_event_ms = max_ev;
  return e;
}

void check_same(const BlockEntry& got, const BlockEntry& want) {
  CHECK(got.offset == want.offset);
  CHECK(got.length == want.length);
  CHECK(got.first_seq == want.first_seq);
  CHECK(got.last_seq == want.last_seq);
  CHECK(got.count == want.count);
  CHECK(got.raw_len == want.raw_len);
  CHECK(got.min_event_ms == want.min_event_ms);
  CHECK(got.max_event_ms == want.max_event_ms);
  CHECK(got.damaged == want.damaged);
  CHECK(static_cast<std::string>(got.message) == static_cast<std::string>(want.message));
}

}  // namespace

TEST_CASE("a packed block index reads back every entry, packed or not, and finds blocks by sequence") {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::vector<BlockEntry> written = {
      block(64, 1, 10, 1'700'000'000'000, 1'700'000'009'000),      // ordinary
      block(200, 11, 1, -5, -5),                                   // one record, negative time
      block(300, 12, 5, 1'700'000'000'000, 1'700'000'000'000 + 4'294'967'295),  // widest packed span
      block(400, 17, 5, 0, 4'294'967'296),                         // span one past: kept wide
      block(500, 22, 3, kMin, kMax),                               // the whole range: kept wide
      block(5'000'000'000, 25, 2, 7, 8),                           // offset past 4 GiB: kept wide
  };
  BlockEntry damage;
  damage.offset = 600;
  damage.length = 77;
  damage.first_seq = 27;
  damage.last_seq = 0;  // unknown end
  damage.damaged = true;
  damage.message = "block checksum mismatch";
  written.push_back(damage);
  written.push_back(block(700, 40, 4, 1, 2));  // after the damaged range

  BlockIndex index;
  CHECK(index.empty());
  for (const auto& e : written) index.push_back(e);
  REQUIRE(index.size() == written.size());
  for (std::size_t i = 0; i < written.size(); ++i) {
    CAPTURE(i);
    check_same(index.at(i), written[i]);
    CHECK(index.first_seq(i) == written[i].first_seq);
  }

  CHECK(index.upper_bound(0) == 0);    // before the first block
  CHECK(index.upper_bound(1) == 1);    // in block 0
  CHECK(index.upper_bound(10) == 1);
  CHECK(index.upper_bound(11) == 2);
  CHECK(index.upper_bound(30) == 7);   // inside the damaged range
  CHECK(index.upper_bound(43) == 8);   // in the last block
  CHECK(index.upper_bound(1000) == 8);

  index.release();
  CHECK(index.empty());
  index.push_back(written[1]);
  REQUIRE(index.size() == 1);
  check_same(index.at(0), written[1]);
}
