// Per-group aggregate state, laid out in one flat block per group (no per-aggregate heap
// objects beyond what ExactSum and the sketches need), so a window with 1 M groups stays small.
//
// Block layout: GroupHeader, then one slot per AggSpec at a fixed offset (8-byte aligned).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/query/query_internal.h"
#include "agent/query/sketches.h"

namespace outpost::query::internal {

struct GroupHeader {
  std::uint32_t revision = 0;  // emissions so far (the next row's _revision)
  std::uint8_t dirty = 0;      // changed since it was last emitted
};

class AggLayout {
 public:
  explicit AggLayout(const std::vector<AggSpec>& specs);
  std::size_t block_bytes() const { return block_bytes_; }

  // Allocates and constructs a block; free() destroys and releases it.
  std::byte* make() const;
  void free(std::byte* block) const;

  static GroupHeader& header(std::byte* b) { return *reinterpret_cast<GroupHeader*>(b); }
  static const GroupHeader& header(const std::byte* b) { return *reinterpret_cast<const GroupHeader*>(b); }

  // args[spec.arg_slot] is the value of an aggregate's argument for this record.
  void update(std::byte* b, const std::vector<Value>& args, std::int64_t time_ms, std::uint64_t seq) const;
  void merge(std::byte* dst, const std::byte* src) const;
  void results(const std::byte* b, std::vector<Value>* out) const;
  void encode(const std::byte* b, std::string* out) const;
  bool decode(std::byte* b, std::string_view* in) const;  // b freshly made
  std::size_t memory_bytes(const std::byte* b) const;
  // What a group with a few values typically holds, block included (for counters).
  std::size_t typical_bytes() const { return typical_bytes_; }

 private:
  struct Slot {
    AggKind kind;
    double q;
    std::size_t offset;
    int arg;  // index into update()'s args, -1 for count()
  };
  std::vector<Slot> slots_;
  std::size_t block_bytes_ = 0;
  std::size_t typical_bytes_ = 0;
};

}  // namespace outpost::query::internal
