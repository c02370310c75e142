// The Reader implementation and the lazy block index. Internal to store/.
#pragma once

#include "store/log_internal.h"

namespace outpost::store::internal {

// Extends seg's block index up to its durable size (read-write) or current file size
// (read-only). In read-only mode the last segment's torn tail is the end for now; otherwise
// bytes after the last valid block become a damaged index entry. Caller holds seg.mu.
Status extend_index(Env* env, Segment& seg, bool is_last, bool read_only);

class ReaderImpl final : public Reader {
 public:
  ReaderImpl(std::shared_ptr<Core> core, std::shared_ptr<Stream> stream, const ReadOptions& o);
  Next next(RecordView* out) override;
  const Damage& damage() const override { return damage_; }
  bool wait(std::int64_t timeout_ms) override;
  std::int64_t pending_min_event_ms() override;

 private:
  enum class Locate { kBlock, kJump, kEnd };
  std::uint64_t limit_seq();
  void refresh_read_only();
  Locate locate(std::uint64_t seq, BlockEntry* entry, std::shared_ptr<Segment>* seg, std::uint64_t* jump_to);
  Next corruption(const Segment& seg, const BlockEntry& e, std::string message);
  // The oldest event time of the blocks after `e` (in seg and the segments after it) through
  // opts_.to_seq; kMinTime when it cannot be known.
  std::int64_t bound_after(const std::shared_ptr<Segment>& seg, const BlockEntry& e);
  void rebuild_bound(const std::shared_ptr<Segment>& seg);

  std::shared_ptr<Core> core_;
  std::shared_ptr<Stream> stream_;
  ReadOptions opts_;
  std::uint64_t next_seq_ = 1;
  bool stuck_ = false;
  Damage damage_;
  std::shared_ptr<Segment> segment_;
  std::unique_ptr<RandomAccessFile> file_;
  BlockEntry block_;
  Buffer stored_;
  Buffer raw_;
  BlockDecompressor decompressor_;
  RecordDecoder dec_;
  // pending_min_event_ms(): per block of bound_segment_ (first_seq order), the oldest event time
  // from that block to the segment's end; bound_later_ covers the segments after it.
  std::shared_ptr<Segment> bound_segment_;
  std::vector<std::pair<std::uint64_t, std::int64_t>> bound_suffix_;
  std::int64_t bound_later_ = kMinTime;
  std::int64_t bound_after_block_ = kMinTime;  // for block_
};

}  // namespace outpost::store::internal
