// Internal state of a Log shared by LogImpl, its flusher and its readers. Not a public header.
//
// Lock order (never take an earlier one while holding a later one):
//   LogImpl::io_mu_  ->  Core::mu  ->  Stream::seg_mu  ->  Segment::mu  ->  Core::durable_mu
// io_mu_ serialises everything that writes segment files: group commits, rolls, retention.
// Core::mu is the one mutex of the append hot path (sequence, ingest time, open blocks).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/block.h"
#include "store/block_index.h"
#include "store/clock.h"
#include "store/env.h"
#include "store/log.h"
#include "store/segment.h"

namespace outpost::store::internal {

// One segment file. first_seq and path never change; the rest is guarded by mu.
struct Segment {
  Segment(std::filesystem::path p, std::uint64_t first) : path(std::move(p)), first_seq(first) {}
  const std::filesystem::path path;
  const std::uint64_t first_seq;

  mutable std::mutex mu;
  // Block index. Complete for the active segment in read-write mode (the flusher appends to
  // it); built lazily for sealed segments; extended by polling in read-only mode.
  BlockIndex index;
  bool index_complete = false;
  std::uint64_t indexed_end = format::kSegmentHeaderBytes;
  std::uint64_t index_next_seq = 0;  // sequence after the last indexed block
  std::string header_error;          // non-empty: the segment header is damaged
  // Core::clock steady_ms() of the last reader locate() into it (or of its roll): the flusher releases
  // the index of a sealed segment no reader has used for a while (LogImpl::release_idle_indexes).
  std::int64_t index_used_ms = 0;

  // Stats (from the catalog row, a scan, or the flusher).
  std::uint64_t last_seq = 0;  // first_seq - 1 when empty
  std::uint64_t records = 0;
  std::uint64_t raw_bytes = 0;
  std::uint64_t stored_bytes = 0;  // file size covered by whole blocks
  std::int64_t min_event_ms = 0, max_event_ms = 0, min_ingest_ms = 0, max_ingest_ms = 0;
  bool have_times = false;
  bool sealed = false;
  std::int64_t sealed_clock_ms = 0;

  void add_block_stats(const BlockEntry& e);
};

struct PendingBlock {
  Buffer raw;
  BlockMeta meta;
};

struct RetiredJournal {
  std::filesystem::path path;
  std::uint64_t last_seq = 0;
};

struct Stream {
  StreamId id = 0;
  std::string name;
  std::filesystem::path dir;

  // Guarded by Core::mu.
  StreamOptions options;
  std::uint64_t next_seq = 1;
  std::int64_t last_ingest_ms = kMinTime;
  Buffer open_raw;
  BlockMeta open_meta;
  std::deque<PendingBlock> sealed_blocks;
  std::unique_ptr<WritableFile> journal;
  std::filesystem::path journal_path;
  std::uint64_t journal_last_seq = 0;  // 0 = no record in the current journal
  std::vector<RetiredJournal> retired_journals;

  std::atomic<std::uint64_t> durable_seq{0};

  // Guarded by seg_mu. Oldest first; the last one is the active segment.
  mutable std::mutex seg_mu;
  std::vector<std::shared_ptr<Segment>> segments;

  // Flusher only (under LogImpl::io_mu_): the active segment opened for appending.
  std::unique_ptr<WritableFile> active;
};

// Shared by the Log and every Reader, so a Reader outliving its Log fails softly.
struct Core {
  Env* env = nullptr;
  Clock* clock = nullptr;  // Options::clock or the system clocks; never null once open
  bool read_only = false;
  std::filesystem::path data_dir;

  std::mutex mu;  // the append mutex (see lock order)

  std::mutex durable_mu;
  std::condition_variable durable_cv;  // notified after each group commit and at close
  std::atomic<bool> closing{false};
};

}  // namespace outpost::store::internal
