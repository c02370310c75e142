// Reader: one thread at a time walks a stream's blocks by sequence, skipping blocks outside
// the event-time range, verifying every block before decoding it, and reporting damage with
// its byte range and lost sequences. Never returns a record from a block that failed a check.
#include "store/reader.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include "store/filename.h"

namespace outpost::store::internal {

using namespace format;

void Segment::add_block_stats(const BlockEntry& e) {
  records += e.count;
  raw_bytes += e.raw_len;
  last_seq = std::max(last_seq, e.last_seq);
  if (!have_times) {
    min_event_ms = e.min_event_ms;
    max_event_ms = e.max_event_ms;
    min_ingest_ms = e.min_ingest_ms;
    max_ingest_ms = e.max_ingest_ms;
    have_times = true;
  } else {
    min_event_ms = std::min(min_event_ms, e.min_event_ms);
    max_event_ms = std::max(max_event_ms, e.max_event_ms);
    min_ingest_ms = std::min(min_ingest_ms, e.min_ingest_ms);
    max_ingest_ms = std::max(max_ingest_ms, e.max_ingest_ms);
  }
}

Status extend_index(Env* env, Segment& seg, bool is_last, bool read_only) {
  // Caller holds seg.mu.
  if (seg.index_complete) return Status::ok();
  auto f = env->open_readable(seg.path);
  if (!f) return f.status();
  std::uint64_t limit = 0;
  if (read_only) {
    auto sz = (*f)->size();
    if (!sz) return sz.status();
    limit = *sz;
  } else {
    limit = std::max<std::uint64_t>(seg.stored_bytes, kSegmentHeaderBytes);
  }
  if (seg.indexed_end == kSegmentHeaderBytes && seg.index.empty()) {
    SegmentHeader h;
    std::string err = read_segment_header(**f, &h);
    if (err.empty() && h.first_seq != seg.first_seq) err = "segment header names sequence " +
        std::to_string(h.first_seq) + " but the file name says " + std::to_string(seg.first_seq);
    seg.header_error = err;
    if (seg.index_next_seq == 0) seg.index_next_seq = seg.first_seq;
  }
  if (limit <= seg.indexed_end) {
    if (!read_only || !is_last) seg.index_complete = true;
    return Status::ok();
  }
  ScanOptions o;
  o.start_offset = seg.indexed_end;
  o.expected_seq = seg.index_next_seq;
  o.limit = limit;
  ScanResult r;
  OUTPOST_RETURN_IF_ERROR(scan_segment(**f, o, &r));
  for (const auto& e : r.entries) seg.index.push_back(e);
  seg.indexed_end = r.valid_end;
  seg.index_next_seq = r.next_seq;
  if (read_only && is_last) {
    // The writer may be in the middle of a block: its tail is the end for now.
    if (!seg.index.empty()) seg.last_seq = std::max(seg.last_seq, r.next_seq - 1);
    return Status::ok();
  }
  if (r.has_tail && !r.tail_zero_fill) {
    BlockEntry d;
    d.offset = r.valid_end;
    d.length = limit - r.valid_end;
    d.first_seq = r.next_seq;
    d.last_seq = std::max(r.tail_last_seq, seg.last_seq);
    if (d.last_seq < d.first_seq) d.last_seq = 0;
    d.damaged = true;
    d.message = r.tail_message;
    seg.index.push_back(d);
  }
  seg.indexed_end = limit;
  seg.index_complete = true;
  return Status::ok();
}

ReaderImpl::ReaderImpl(std::shared_ptr<Core> core, std::shared_ptr<Stream> stream, const ReadOptions& o)
    : core_(std::move(core)), stream_(std::move(stream)), opts_(o) {
  next_seq_ = std::max<std::uint64_t>(o.from_seq, 1);
}

std::uint64_t ReaderImpl::limit_seq() {
  if (!core_->read_only) return stream_->durable_seq.load(std::memory_order_acquire);
  std::shared_ptr<Segment> last;
  {
    std::lock_guard lock(stream_->seg_mu);
    if (stream_->segments.empty()) return 0;
    last = stream_->segments.back();
  }
  std::lock_guard lock(last->mu);
  if (last->index_next_seq == 0 && !last->index_complete) {
    (void)extend_index(core_->env, *last, true, true);
  }
  return last->index_next_seq == 0 ? last->first_seq - 1 : last->index_next_seq - 1;
}

void ReaderImpl::refresh_read_only() {
  // Pick up new segments the writer created and growth of the last one.
  auto names = core_->env->list_dir(stream_->dir);
  if (!names) return;
  std::vector<std::uint64_t> firsts;
  for (const auto& n : *names) {
    auto p = parse_file_name(n);
    if (p && p->kind == FileKind::kSegment) firsts.push_back(p->first_seq);
  }
  std::sort(firsts.begin(), firsts.end());
  std::vector<std::shared_ptr<Segment>> segs;
  {
    std::lock_guard lock(stream_->seg_mu);
    for (std::uint64_t f : firsts) {
      bool known = false;
      for (auto& s : stream_->segments) known = known || s->first_seq == f;
      if (!known && (stream_->segments.empty() || f > stream_->segments.back()->first_seq)) {
        auto s = std::make_shared<Segment>(stream_->dir / segment_file_name(f), f);
        s->last_seq = f - 1;
        stream_->segments.push_back(s);
      }
    }
    segs = stream_->segments;
  }
  for (std::size_t i = 0; i < segs.size(); ++i) {
    std::lock_guard lock(segs[i]->mu);
    if (!segs[i]->index_complete) (void)extend_index(core_->env, *segs[i], i + 1 == segs.size(), true);
  }
}

ReaderImpl::Locate ReaderImpl::locate(std::uint64_t seq, BlockEntry* entry, std::shared_ptr<Segment>* seg,
                                      std::uint64_t* jump_to) {
  std::vector<std::shared_ptr<Segment>> segs;
  {
    std::lock_guard lock(stream_->seg_mu);
    segs = stream_->segments;
  }
  if (segs.empty()) return Locate::kEnd;
  if (seq < segs.front()->first_seq) {
    *jump_to = segs.front()->first_seq;  // retention removed what was asked for
    return Locate::kJump;
  }
  std::size_t i = segs.size() - 1;
  while (i > 0 && segs[i]->first_seq > seq) --i;
  Segment& s = *segs[i];
  const bool is_last = i + 1 == segs.size();
  std::lock_guard lock(s.mu);
  Status st = extend_index(core_->env, s, is_last, core_->read_only);
  if (!st.is_ok()) {
    if (st.code() == Status::Code::kNotFound) {  // deleted by retention meanwhile
      if (!is_last) {
        *jump_to = segs[i + 1]->first_seq;
        return Locate::kJump;
      }
      return Locate::kEnd;
    }
    entry->offset = 0;
    entry->length = 0;
    entry->first_seq = seq;
    entry->last_seq = is_last ? 0 : segs[i + 1]->first_seq - 1;
    entry->damaged = true;
    entry->message = st.message();
    *seg = segs[i];
    return Locate::kBlock;
  }
  s.index_used_ms = core_->clock->steady_ms();
  const std::size_t after = s.index.upper_bound(seq);
  const bool have_after = after < s.index.size();
  if (after > 0) {
    BlockEntry e = s.index.at(after - 1);
    std::uint64_t last = e.last_seq;
    if (e.damaged && last == 0) {
      last = have_after ? s.index.first_seq(after) - 1 : (is_last ? 0 : segs[i + 1]->first_seq - 1);
    }
    if (last == 0 || seq <= last) {
      *entry = std::move(e);
      entry->last_seq = last;
      *seg = segs[i];
      return Locate::kBlock;
    }
  } else if (have_after && s.index.first_seq(after) > seq) {
    *jump_to = s.index.first_seq(after);
    return Locate::kJump;
  }
  if (!is_last) {
    *jump_to = segs[i + 1]->first_seq;
    return Locate::kJump;
  }
  return Locate::kEnd;
}

Reader::Next ReaderImpl::corruption(const Segment& seg, const BlockEntry& e, std::string message) {
  damage_ = Damage{};
  damage_.stream = stream_->name;
  damage_.segment = seg.path;
  damage_.offset = e.offset;
  damage_.length = e.length;
  damage_.first_seq = e.first_seq;
  damage_.last_seq = e.last_seq;
  damage_.message = std::move(message);
  dec_ = RecordDecoder();
  if (e.last_seq != 0 && e.last_seq >= next_seq_) {
    next_seq_ = e.last_seq + 1;
  } else {
    stuck_ = true;  // the end of the damage is unknown: nothing after it can be placed
  }
  return Next::kCorruption;
}

Reader::Next ReaderImpl::next(RecordView* out) {
  for (;;) {
    if (dec_.left() > 0) {
      RecordView r;
      std::string err = dec_.next(&r);
      if (!err.empty()) {
        BlockEntry e = block_;
        e.first_seq = dec_.next_seq();
        return corruption(*segment_, e, err);
      }
      if (r.seq > opts_.to_seq) {
        dec_ = RecordDecoder();
        next_seq_ = r.seq;
        return Next::kEnd;
      }
      if (r.seq < next_seq_) continue;
      next_seq_ = r.seq + 1;
      if (r.event_time_ms < opts_.since_ms || r.event_time_ms >= opts_.until_ms) continue;
      *out = r;
      return Next::kRecord;
    }
    if (stuck_ || next_seq_ > opts_.to_seq) return Next::kEnd;
    if (next_seq_ > limit_seq()) return Next::kEnd;
    BlockEntry e;
    std::shared_ptr<Segment> seg;
    std::uint64_t jump = 0;
    Locate where = locate(next_seq_, &e, &seg, &jump);
    if (where == Locate::kEnd) return Next::kEnd;
    if (where == Locate::kJump) {
      if (jump <= next_seq_) return Next::kEnd;
      next_seq_ = jump;
      continue;
    }
    if (e.damaged) {
      if (e.last_seq != 0 && e.last_seq < next_seq_) continue;
      return corruption(*seg, e, e.message);
    }
    if (e.max_event_ms < opts_.since_ms || e.min_event_ms >= opts_.until_ms) {
      next_seq_ = e.last_seq + 1;
      continue;
    }
    // Read, verify and decompress the block.
    if (segment_ != seg || file_ == nullptr) {
      auto f = core_->env->open_readable(seg->path);
      if (!f) {
        if (f.status().code() == Status::Code::kNotFound) {
          next_seq_ = e.last_seq + 1;  // deleted by retention meanwhile
          continue;
        }
        segment_ = seg;
        return corruption(*seg, e, f.status().message());
      }
      file_ = std::move(*f);
      segment_ = seg;
    }
    block_ = e;
    stored_.clear_for(e.length);
    raw_.clear_for(e.raw_len);  // the records handed out so far pointed into it; the next block replaces them
    char* dst = stored_.tail(e.length);
    std::size_t got = 0;
    Status st = file_->read(e.offset, e.length, dst, &got);
    if (!st.is_ok()) return corruption(*seg, e, st.message());
    if (got != e.length) return corruption(*seg, e, "block truncated");
    BlockHeader h;
    std::string err = decode_block_header(dst, &h);
    if (err.empty() && (h.first_seq != e.first_seq || h.record_count != e.count ||
                        kBlockHeaderBytes + h.stored_len != e.length)) {
      err = "block header changed since it was indexed";
    }
    if (err.empty()) err = decompressor_.decode(h, std::string_view(dst + kBlockHeaderBytes, h.stored_len), &raw_);
    if (!err.empty()) return corruption(*seg, e, err);
    dec_ = RecordDecoder(raw_.data(), raw_.data() + raw_.size(), h.first_seq, h.record_count, h.min_ingest_ms);
    bound_after_block_ = bound_after(seg, e);
  }
}

std::int64_t ReaderImpl::pending_min_event_ms() {
  if (segment_ == nullptr) return kMinTime;  // no block read yet
  std::int64_t m = bound_after_block_;
  if (dec_.left() > 0) m = std::min(m, block_.min_event_ms);
  return m;
}

std::int64_t ReaderImpl::bound_after(const std::shared_ptr<Segment>& seg, const BlockEntry& e) {
  if (opts_.follow || opts_.to_seq == std::numeric_limits<std::uint64_t>::max()) return kMinTime;
  if (seg != bound_segment_) rebuild_bound(seg);
  std::int64_t m = bound_later_;
  auto it = std::upper_bound(bound_suffix_.begin(), bound_suffix_.end(), e.first_seq,
                             [](std::uint64_t seq, const auto& b) { return seq < b.first; });
  if (it != bound_suffix_.end()) m = std::min(m, it->second);
  return m;
}

void ReaderImpl::rebuild_bound(const std::shared_ptr<Segment>& seg) {
  bound_segment_ = seg;
  bound_suffix_.clear();
  bound_later_ = kMinTime;
  std::vector<std::shared_ptr<Segment>> segs;
  {
    std::lock_guard lock(stream_->seg_mu);
    segs = stream_->segments;
  }
  std::size_t i = 0;
  while (i < segs.size() && segs[i] != seg) ++i;
  if (i == segs.size()) return;  // removed by retention meanwhile: no bound
  // Damaged entries are left out: next() never returns a record of theirs. Every block of a
  // sequence <= to_seq is indexed by now (to_seq was durable when the reader was made).
  auto fold_index = [&](const Segment& s, std::int64_t* running, bool keep_suffix) {
    for (std::size_t k = s.index.size(); k-- > 0;) {
      const BlockEntry b = s.index.at(k);
      if (!b.damaged && b.first_seq <= opts_.to_seq && b.count > 0) *running = std::min(*running, b.min_event_ms);
      if (keep_suffix) bound_suffix_.emplace_back(b.first_seq, *running);
    }
  };
  std::int64_t later = kMaxTime;
  for (std::size_t j = i + 1; j < segs.size() && segs[j]->first_seq <= opts_.to_seq; ++j) {
    Segment& s = *segs[j];
    std::lock_guard lock(s.mu);
    if (s.sealed) {
      // A sealed segment's stats cover all of its blocks and no longer change.
      if (s.have_times) later = std::min(later, s.min_event_ms);
      continue;
    }
    if (!extend_index(core_->env, s, j + 1 == segs.size(), core_->read_only).is_ok()) return;
    fold_index(s, &later, false);
  }
  std::int64_t running = kMaxTime;
  {
    std::lock_guard lock(seg->mu);
    bound_suffix_.reserve(seg->index.size());
    fold_index(*seg, &running, true);
  }
  std::reverse(bound_suffix_.begin(), bound_suffix_.end());
  bound_later_ = later;
}

bool ReaderImpl::wait(std::int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(timeout_ms, 0));
  if (core_->read_only) {
    for (;;) {
      refresh_read_only();
      if (limit_seq() >= next_seq_) return true;
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      auto step = std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(100));
      std::this_thread::sleep_for(step);
    }
  }
  std::unique_lock lock(core_->durable_mu);
  core_->durable_cv.wait_until(lock, deadline, [&] {
    return core_->closing.load() || stream_->durable_seq.load() >= next_seq_;
  });
  return !core_->closing.load() && stream_->durable_seq.load() >= next_seq_;
}

}  // namespace outpost::store::internal
