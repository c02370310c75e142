// The Executor: record-by-record filters, tumble/hop/session windows over event time with a
// per-event watermark, late policies, emit policies and deterministic state snapshots.
// Semantics: docs/SEMANTICS.md rules 1-17 and agent/query/README.md.
// Size: windows, sessions, emit and state snapshots operate on the same private state of
// ExecutorImpl; a split by window kind is the next step when a new window kind comes.
#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "agent/decode/event_time.h"
#include "agent/decode/json_text.h"
#include "agent/query/aggregates.h"
#include "base/byte_codec.h"
#include "agent/query/query_internal.h"

#include <xxhash.h>

namespace outpost::query {
namespace internal {
namespace {

constexpr std::int64_t kMinT = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxT = std::numeric_limits<std::int64_t>::max();
constexpr char kMagic[4] = {'O', 'P', 'Q', 'S'};
constexpr std::uint8_t kStateVersion = 1;

std::int64_t sat_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMaxT : kMinT;
  return r;
}
std::int64_t sat_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return b > 0 ? kMinT : kMaxT;
  return r;
}
// floor(a / b) for b > 0, as a multiple of b, computed without overflow.
std::int64_t align_down(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if (a % b < 0) --q;
  std::int64_t r;
  if (__builtin_mul_overflow(q, b, &r)) return kMinT;
  return r;
}

std::string time_text(std::int64_t ms) {
  if (ms == kMinT) return "-inf";
  if (ms == kMaxT) return "+inf";
  return decode::format_rfc3339_ms(ms);
}

// ---- state encoding helpers ----
void put_i64(std::string* out, std::int64_t x) { put_u64(out, static_cast<std::uint64_t>(x)); }
void put_bytes(std::string* out, std::string_view b) {
  put_u64(out, b.size());
  out->append(b);
}
bool get_i64(std::string_view* in, std::int64_t* x) {
  std::uint64_t u;
  if (!get_u64(in, &u)) return false;
  *x = static_cast<std::int64_t>(u);
  return true;
}
bool get_u8(std::string_view* in, std::uint8_t* x) {
  if (in->empty()) return false;
  *x = static_cast<std::uint8_t>((*in)[0]);
  in->remove_prefix(1);
  return true;
}
bool get_bytes(std::string_view* in, std::string* b) {
  std::uint64_t n;
  if (!get_u64(in, &n) || n > in->size()) return false;
  b->assign(in->data(), static_cast<std::size_t>(n));
  in->remove_prefix(static_cast<std::size_t>(n));
  return true;
}

// Groups of one window (or of the whole input for table() aggregations), keyed by the encoded
// GROUP BY values. An open-addressing table (linear probing over 8-byte slots: 32 bits of the
// hash and the entry's index) in front of a dense entry vector; the aggregate blocks live in
// arena chunks owned by the table, so a new group costs no allocation of its own and a closed
// window is freed a chunk at a time. Groups are never removed one by one, so no tombstones.
class GroupTable {
 public:
  explicit GroupTable(const AggLayout* layout) : layout_(layout) {}
  GroupTable(GroupTable&& o) noexcept
      : layout_(o.layout_),
        slots_(std::move(o.slots_)),
        mask_(o.mask_),
        entries_(std::move(o.entries_)),
        chunks_(std::move(o.chunks_)),
        chunk_left_(o.chunk_left_),
        chunk_next_(o.chunk_next_),
        chunk_bytes_(o.chunk_bytes_),
        long_key_bytes_(o.long_key_bytes_) {
    o.reset_fields();
  }
  GroupTable(const GroupTable&) = delete;
  GroupTable& operator=(const GroupTable&) = delete;
  GroupTable& operator=(GroupTable&&) = delete;
  ~GroupTable() { clear(); }

  std::byte* get(std::string_view key) {
    const std::uint64_t h = XXH3_64bits(key.data(), key.size());
    const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
    if (!slots_.empty()) {
      for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
        const std::uint64_t s = slots_[i];
        if (s == 0) break;
        if (static_cast<std::uint32_t>(s >> 32) == tag) {
          Entry& e = entries_[static_cast<std::uint32_t>(s) - 1];
          if (e.key == key) return e.block;
        }
      }
    }
    return insert(key, h);
  }
  bool contains(std::string_view key) const {
    if (slots_.empty()) return false;
    const std::uint64_t h = XXH3_64bits(key.data(), key.size());
    const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == 0) return false;
      if (static_cast<std::uint32_t>(s >> 32) == tag && entries_[static_cast<std::uint32_t>(s) - 1].key == key)
        return true;
    }
  }
  void clear() {
    for (auto& e : entries_) layout_->destroy(e.block);
    for (std::byte* c : chunks_) ::operator delete(c);
    std::vector<std::uint64_t>().swap(slots_);
    std::vector<Entry>().swap(entries_);
    std::vector<std::byte*>().swap(chunks_);
    reset_fields();
  }
  std::size_t size() const { return entries_.size(); }
  // Groups in key order: output and state bytes must not depend on hash-table order.
  std::vector<std::pair<const std::string*, std::byte*>> sorted() const {
    // Sorted by the keys' first 16 bytes as two big-endian words (zero padded) kept beside
    // each pointer, so most comparisons touch no key: equal prefixes of keys up to 16 bytes
    // order by length (a proper prefix first), longer ones fall back to the full comparison.
    struct Item {
      std::uint64_t hi, lo;
      const Entry* e;
    };
    std::vector<Item> items;
    items.reserve(entries_.size());
    for (const auto& e : entries_) {
      unsigned char buf[16] = {};
      std::memcpy(buf, e.key.data(), std::min<std::size_t>(16, e.key.size()));
      std::uint64_t hi = 0, lo = 0;
      for (int k = 0; k < 8; ++k) hi = (hi << 8) | buf[k];
      for (int k = 8; k < 16; ++k) lo = (lo << 8) | buf[k];
      items.push_back(Item{hi, lo, &e});
    }
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      if (a.hi != b.hi) return a.hi < b.hi;
      if (a.lo != b.lo) return a.lo < b.lo;
      const std::size_t na = a.e->key.size(), nb = b.e->key.size();
      if (na <= 16 && nb <= 16) return na < nb;
      return a.e->key < b.e->key;
    });
    std::vector<std::pair<const std::string*, std::byte*>> v;
    v.reserve(items.size());
    for (const Item& it : items) v.emplace_back(&it.e->key, it.e->block);
    return v;
  }
  // Approximate: slots, entries, keys that do not fit inline, typical group blocks.
  std::size_t memory_bytes() const {
    return slots_.capacity() * sizeof(std::uint64_t) +
           (entries_.capacity() - entries_.size()) * sizeof(Entry) +
           entries_.size() * (sizeof(Entry) + layout_->typical_bytes()) + long_key_bytes_;
  }
  void reserve(std::size_t n) {
    if (!n) return;
    entries_.reserve(n);
    std::size_t cap = 16;
    while (cap * 3 < n * 4) cap *= 2;
    if (cap > slots_.size()) rehash(cap);
  }
  void swap(GroupTable& o) {
    std::swap(slots_, o.slots_);
    std::swap(mask_, o.mask_);
    std::swap(entries_, o.entries_);
    std::swap(chunks_, o.chunks_);
    std::swap(chunk_left_, o.chunk_left_);
    std::swap(chunk_next_, o.chunk_next_);
    std::swap(chunk_bytes_, o.chunk_bytes_);
    std::swap(long_key_bytes_, o.long_key_bytes_);
  }

 private:
  struct Entry {
    std::string key;
    std::byte* block;
  };

  void reset_fields() {
    slots_.clear();
    mask_ = 0;
    entries_.clear();
    chunks_.clear();
    chunk_left_ = 0;
    chunk_next_ = nullptr;
    chunk_bytes_ = 0;
    long_key_bytes_ = 0;
  }

  std::byte* new_block() {
    const std::size_t bb = layout_->block_bytes();
    if (chunk_left_ == 0) {
      // Chunks double from 16 blocks up to ~1 MiB: small tables stay small, big ones allocate
      // rarely.
      std::size_t blocks = chunk_bytes_ ? std::min<std::size_t>(chunk_bytes_ / bb * 2, std::max<std::size_t>(16, (1u << 20) / bb)) : 16;
      chunk_bytes_ = blocks * bb;
      chunks_.reserve(chunks_.size() + 1);
      chunk_next_ = static_cast<std::byte*>(::operator new(chunk_bytes_));
      chunks_.push_back(chunk_next_);
      chunk_left_ = blocks;
    }
    std::byte* b = chunk_next_;
    chunk_next_ += bb;
    --chunk_left_;
    layout_->construct(b);
    return b;
  }

  std::byte* insert(std::string_view key, std::uint64_t h) {
    if ((entries_.size() + 1) * 4 > slots_.size() * 3) rehash(slots_.empty() ? 16 : slots_.size() * 2);
    // Grown here, before the block is made, so a failed allocation leaks nothing.
    if (entries_.size() == entries_.capacity()) entries_.reserve(std::max<std::size_t>(16, 2 * entries_.capacity()));
    std::byte* b = new_block();
    entries_.push_back(Entry{std::string(key), b});
    if (key.size() > 15) long_key_bytes_ += key.size() + 1;
    place(h, entries_.size());
    return b;
  }

  void place(std::uint64_t h, std::size_t index_plus_1) {
    std::size_t i = h & mask_;
    while (slots_[i] != 0) i = (i + 1) & mask_;
    slots_[i] = (h & 0xffffffff00000000ull) | static_cast<std::uint32_t>(index_plus_1);
  }

  void rehash(std::size_t cap) {
    slots_.assign(cap, 0);
    mask_ = cap - 1;
    for (std::size_t k = 0; k < entries_.size(); ++k) {
      const std::string& key = entries_[k].key;
      place(XXH3_64bits(key.data(), key.size()), k + 1);
    }
  }

  const AggLayout* layout_;
  std::vector<std::uint64_t> slots_;  // 0 = empty, else hash high 32 bits | (entry index + 1)
  std::size_t mask_ = 0;
  std::vector<Entry> entries_;
  std::vector<std::byte*> chunks_;
  std::size_t chunk_left_ = 0;
  std::byte* chunk_next_ = nullptr;
  std::size_t chunk_bytes_ = 0;
  std::size_t long_key_bytes_ = 0;
};

struct Window {
  Window(std::int64_t s, std::int64_t e, const AggLayout* l) : start(s), end(e), groups(l) {}
  std::int64_t start;
  std::int64_t end;
  GroupTable groups;
  bool emitted = false;  // closed and emitted (kept only under the update policy)
};

struct BlockDeleter {
  const AggLayout* layout;
  void operator()(std::byte* b) const { layout->free(b); }
};
using Block = std::unique_ptr<std::byte, BlockDeleter>;

struct Session {
  std::int64_t start = 0;
  std::int64_t last = 0;  // latest event time in it
  std::int64_t end = 0;   // min(last + gap, start + max_length), or last + 1 once sealed
  bool emitted = false;
  bool sealed = false;  // closed by the end condition: takes no more events
  Block state;
};

using IndexKey = std::tuple<std::int64_t, std::string, std::int64_t>;  // (time, key, start)

class ExecutorImpl final : public Executor {
 public:
  ExecutorImpl(std::shared_ptr<const Query> query, const ExecutorOptions& options)
      : hold_(std::move(query)),
        q_(static_cast<const CompiledQuery&>(*hold_)),
        opt_(options),
        layout_(q_.aggs),
        global_(&layout_) {
    if (opt_.allowed_lateness_ms < 0) opt_.allowed_lateness_ms = 0;
    keys_.resize(q_.keys.size());
    args_.resize(q_.agg_args.size());
    ev_.set_fields(&q_.payload_fields);
    // `{"name":` / `,"name":` of each output column, quoted once instead of once per row.
    for (std::size_t i = 0; i < q_.ast.items.size(); ++i) {
      std::string p(i == 0 ? "{" : ",");
      decode::append_json_string(&p, q_.ast.items[i].name);
      p.push_back(':');
      column_prefix_.push_back(std::move(p));
    }
  }

  ~ExecutorImpl() override { windows_.clear(); }

  void on_record(const store::RecordView& record, RowSink& sink) override {
    ++c_.records_in;
    process(record, sink);
    if (batch()) {
      note_event(record.event_time_ms);
      return;
    }
    advance(record.event_time_ms, sink);
  }

  void advance_input_bound(std::int64_t bound_ms, RowSink& sink) override {
    if (!batch() || ended_ || bound_ms <= watermark_) return;
    watermark_ = bound_ms;
    close(sink);
  }

  // A source that went quiet must not hold its last windows open until it speaks again (a pump
  // that stopped would never get its last minute's summary): the watermark moves past the end
  // of every open window, so all of them close now (docs/SEMANTICS.md 8). Events that arrive later
  // are judged against that watermark, i.e. late for the windows already emitted.
  void on_idle(RowSink& sink) override {
    if (!has_event_ || ended_ || batch()) return;
    std::int64_t wm = sat_add(max_event_, 1);
    if ((q_.ast.window == WindowKind::kTumble || q_.ast.window == WindowKind::kHop) && !windows_.empty()) {
      wm = std::max(wm, windows_.rbegin()->second.end);  // windows share one size: the last ends last
    }
    if (q_.ast.window == WindowKind::kSession && !session_close_.empty()) {
      wm = std::max(wm, std::get<0>(*session_close_.rbegin()));
    }
    if (wm > watermark_) {
      watermark_ = wm;
      close(sink);
    }
  }

  void on_periodic(RowSink& sink) override {
    if (q_.ast.emit != EmitMode::kPeriodic) return;
    for (auto& [start, w] : windows_) {
      if (w.emitted) continue;
      for (auto& [key, block] : w.groups.sorted())
        if (AggLayout::header(block).dirty) emit_group(w.start, w.end, *key, block, sink);
    }
    for (auto& [key, vec] : sessions_) {
      for (auto& s : vec)
        if (!s.emitted && AggLayout::header(s.state.get()).dirty) emit_group(s.start, s.end, key, s.state.get(), sink);
    }
  }

  void on_end(RowSink& sink) override {
    if (ended_) return;
    ended_ = true;
    watermark_ = kMaxT;
    if (q_.aggregating && q_.ast.window == WindowKind::kNone) {
      if (global_.size() == 0 && q_.keys.empty()) global_.get(std::string());
      for (auto& [key, block] : global_.sorted()) emit_group(0, 0, *key, block, sink);
      global_.clear();
      return;
    }
    close(sink);
  }

  std::int64_t watermark_ms() const override { return watermark_; }

  ExecutorCounters counters() const override {
    ExecutorCounters c = c_;
    // O(windows), not O(groups): the runner may read counters often. Sessions are counted
    // through their close/purge index entries (one per session).
    std::size_t bytes = 0, groups = 0, windows = 0;
    for (const auto& [start, w] : windows_) {
      if (!w.emitted) ++windows;
      groups += w.groups.size();
      bytes += 64 + w.groups.memory_bytes();
    }
    const std::size_t sessions = session_close_.size() + session_purge_.size();
    windows += session_close_.size();
    groups += sessions;
    bytes += sessions * (2 * 96 + layout_.typical_bytes()) + sessions_.size() * 64;
    groups += global_.size();
    bytes += global_.memory_bytes();
    c.open_windows = windows;
    c.open_groups = groups;
    c.state_bytes = bytes;
    return c;
  }

  std::string save_state() const override;
  Status load_state(std::string_view state) override;

  // One group of a state snapshot into `groups`: its aggregate state is decoded before the key
  // is checked for a duplicate (the messages name the first problem in the bytes).
  Status decode_group(GroupTable& groups, const std::string& key, std::string_view* in) const {
    auto bad = [](const char* what) { return Status::corruption(std::string("query state: ") + what); };
    if (groups.contains(key)) {
      std::byte* tmp = layout_.make();
      const bool ok = layout_.decode(tmp, in);
      layout_.free(tmp);
      return bad(ok ? "duplicate group" : "bad aggregate state");
    }
    if (!layout_.decode(groups.get(key), in)) return bad("bad aggregate state");
    return Status::ok();
  }

 private:
  bool update_policy() const { return opt_.late_policy == LatePolicy::kUpdate; }
  bool batch() const { return opt_.time_mode == TimeMode::kBatch; }

  void eval_error() { ++c_.eval_errors; }

  void process(const store::RecordView& r, RowSink& sink) {
    EvalContext ctx;
    ctx.record = &r;
    if (q_.needs_payload) {
      if (!ev_.parse(r.payload)) {
        eval_error();
        return;
      }
      ctx.doc = ev_.doc();
    }
    if (q_.ast.where) {
      const bool pass = ev_.truth(*q_.ast.where, ctx);
      if (ctx.error) {
        eval_error();
        return;
      }
      if (!pass) return;
    }
    if (!q_.aggregating) {
      project(r, ctx, sink);
      return;
    }
    key_bytes_.clear();
    for (std::size_t k = 0; k < q_.keys.size(); ++k) {
      std::string_view text;
      if (ev_.flat_text(*q_.keys[k], ctx, &text)) {  // GROUP BY device: no Value on the way
        encode_key_text(&key_bytes_, text);
        continue;
      }
      keys_[k] = ev_.eval(*q_.keys[k], ctx);
      encode_key_value(&key_bytes_, keys_[k]);
    }
    for (std::size_t k = 0; k < q_.agg_args.size(); ++k) {
      if (!ev_.flat_number(*q_.agg_args[k], ctx, &args_[k])) args_[k] = ev_.eval(*q_.agg_args[k], ctx);
    }
    bool start_ok = true, end_hit = false;
    if (q_.ast.start_cond) start_ok = ev_.truth(*q_.ast.start_cond, ctx);
    if (q_.ast.end_cond) end_hit = ev_.truth(*q_.ast.end_cond, ctx);
    if (ctx.error) {
      eval_error();
      return;
    }
    switch (q_.ast.window) {
      case WindowKind::kNone:
        layout_.update(global_.get(key_bytes_), args_, r.event_time_ms, r.seq);
        return;
      case WindowKind::kTumble:
      case WindowKind::kHop: place_fixed(r, sink); return;
      case WindowKind::kSession: place_session(r, start_ok, end_hit, sink); return;
    }
  }

  void project(const store::RecordView& r, EvalContext& ctx, RowSink& sink) {
    OutputRow row;
    if (q_.select_star) {
      std::string_view p = r.payload;
      while (!p.empty() && (p.front() == ' ' || p.front() == '\n' || p.front() == '\r' || p.front() == '\t'))
        p.remove_prefix(1);
      while (!p.empty() && (p.back() == ' ' || p.back() == '\n' || p.back() == '\r' || p.back() == '\t'))
        p.remove_suffix(1);
      row.payload.assign(p);
    } else {
      for (std::size_t i = 0; i < q_.ast.items.size(); ++i) {
        row.payload.append(column_prefix_[i]);
        append_value_json(&row.payload, ev_.eval(*q_.ast.items[i].expr, ctx));
      }
      if (q_.ast.items.empty()) row.payload.push_back('{');
      row.payload.push_back('}');
      if (ctx.error) {
        eval_error();
        return;
      }
    }
    row.event_time_ms = r.event_time_ms;
    if (r.has_key) row.key.assign(r.key);
    ++c_.rows_out;
    sink.row(std::move(row));
  }

  void late(const store::RecordView& r, RowSink& sink, bool answered) {
    ++c_.late_events;
    if (answered) return;
    ++c_.late_dropped;
    sink.late(r, "late: event time " + time_text(r.event_time_ms) + " is behind the watermark " +
                     time_text(watermark_) + " and every window it belongs to has closed");
  }

  // ---- tumble / hop ----
  void place_fixed(const store::RecordView& r, RowSink& sink) {
    const std::int64_t ts = r.event_time_ms;
    const std::int64_t size = q_.ast.size_ms, slide = q_.ast.slide_ms;
    const std::int64_t off = q_.ast.offset_ms;
    auto align = [&](std::int64_t x) { return sat_add(align_down(sat_sub(x, off), slide), off); };
    const std::int64_t last = align(ts);
    // Windows [s, s + size) with s = offset + k * slide and s <= ts < s + size.
    std::int64_t first = sat_add(align(sat_sub(ts, size)), slide);
    if (first > last) first = last;
    bool any_open = false, any_revised = false;
    reemit_.clear();
    for (std::int64_t s = first;; s += slide) {
      const std::int64_t end = sat_add(s, size);
      if (end > ts) {
        const bool closed = ended_ || end <= watermark_;
        if (!closed) {
          any_open = true;
          update_window(s, end, r, sink);
        } else if (update_policy() && !ended_ && sat_add(end, opt_.allowed_lateness_ms) > watermark_) {
          any_revised = true;
          update_window(s, end, r, sink);
          reemit_.push_back(s);
        }
      }
      if (s >= last || s > kMaxT - slide) break;
    }
    if (!any_open) late(r, sink, any_revised);
    if (q_.ast.emit == EmitMode::kOnUpdate) return;  // the changed groups were emitted already
    for (std::int64_t s : reemit_) {
      Window& w = windows_.at(s);
      for (auto& [key, block] : w.groups.sorted()) emit_group(w.start, w.end, *key, block, sink);
      w.emitted = true;
    }
  }

  void update_window(std::int64_t start, std::int64_t end, const store::RecordView& r, RowSink& sink) {
    auto it = windows_.find(start);
    if (it == windows_.end()) {
      it = windows_.emplace(std::piecewise_construct, std::forward_as_tuple(start),
                            std::forward_as_tuple(start, end, &layout_)).first;
      // Consecutive windows usually see about the same keys: size the table once instead of
      // rehashing it a dozen times while it fills.
      it->second.groups.reserve(groups_hint_);
    }
    std::byte* block = it->second.groups.get(key_bytes_);
    layout_.update(block, args_, r.event_time_ms, r.seq);
    if (q_.ast.emit == EmitMode::kOnUpdate) emit_group(start, end, key_bytes_, block, sink);
  }

  // ---- sessions ----
  bool touches(const Session& s, std::int64_t ts) const {
    if (s.sealed) return false;
    const std::int64_t gap = q_.ast.gap_ms;
    // Sessions merge when they touch or overlap (docs/SEMANTICS.md 10): [ts, ts + gap) against
    // [start, last + gap).
    if (ts > sat_add(s.last, gap) || s.start > sat_add(ts, gap)) return false;
    if (q_.ast.max_length_ms > 0) {
      const std::int64_t span = sat_sub(std::max(s.last, ts), std::min(s.start, ts));
      if (span >= q_.ast.max_length_ms) return false;
    }
    return true;
  }

  std::int64_t session_end(const Session& s) const {
    if (s.sealed) return sat_add(s.last, 1);
    std::int64_t e = sat_add(s.last, q_.ast.gap_ms);
    if (q_.ast.max_length_ms > 0) e = std::min(e, sat_add(s.start, q_.ast.max_length_ms));
    return e;
  }

  void index_add(const std::string& key, const Session& s) {
    if (s.emitted) {
      session_purge_.emplace(sat_add(s.end, opt_.allowed_lateness_ms), key, s.start);
    } else {
      session_close_.emplace(s.end, key, s.start);
    }
  }
  void index_remove(const std::string& key, const Session& s) {
    if (s.emitted) {
      session_purge_.erase(IndexKey(sat_add(s.end, opt_.allowed_lateness_ms), key, s.start));
    } else {
      session_close_.erase(IndexKey(s.end, key, s.start));
    }
  }

  void place_session(const store::RecordView& r, bool start_ok, bool end_hit, RowSink& sink) {
    const std::int64_t ts = r.event_time_ms;
    auto map_it = sessions_.find(key_bytes_);
    std::vector<std::size_t> touching;
    if (map_it != sessions_.end()) {
      for (std::size_t k = 0; k < map_it->second.size(); ++k)
        if (!ended_ && touches(map_it->second[k], ts)) touching.push_back(k);
    }
    if (touching.empty()) {
      if (!start_ok) return;  // no session open and the start condition does not hold: ignored
      Session s;
      s.start = ts;
      s.last = ts;
      s.sealed = end_hit;
      s.end = session_end(s);
      const bool closed = ended_ || s.end <= watermark_;
      if (closed && !(update_policy() && !ended_ && sat_add(s.end, opt_.allowed_lateness_ms) > watermark_)) {
        late(r, sink, false);
        return;
      }
      if (closed) late(r, sink, true);
      s.state = Block(layout_.make(), BlockDeleter{&layout_});
      layout_.update(s.state.get(), args_, ts, r.seq);
      if (map_it == sessions_.end()) map_it = sessions_.emplace(key_bytes_, std::vector<Session>()).first;
      auto& vec = map_it->second;
      auto pos = std::lower_bound(vec.begin(), vec.end(), s.start,
                                  [](const Session& a, std::int64_t st) { return a.start < st; });
      pos = vec.insert(pos, std::move(s));
      after_session_change(map_it->first, *pos, closed || pos->sealed, sink);
      return;
    }
    auto& vec = map_it->second;
    bool all_emitted = true;
    for (std::size_t k : touching) {
      all_emitted = all_emitted && vec[k].emitted;
      index_remove(map_it->first, vec[k]);
    }
    Session& into = vec[touching.front()];
    for (std::size_t j = touching.size(); j-- > 1;) {
      Session& other = vec[touching[j]];
      layout_.merge(into.state.get(), other.state.get());
      into.start = std::min(into.start, other.start);
      into.last = std::max(into.last, other.last);
      into.emitted = into.emitted || other.emitted;
    }
    for (std::size_t j = touching.size(); j-- > 1;) vec.erase(vec.begin() + static_cast<std::ptrdiff_t>(touching[j]));
    Session& s = vec[touching.front()];
    if (all_emitted) late(r, sink, true);
    layout_.update(s.state.get(), args_, ts, r.seq);
    s.start = std::min(s.start, ts);
    s.last = std::max(s.last, ts);
    if (end_hit) s.sealed = true;
    s.end = session_end(s);
    const bool was_emitted = s.emitted;
    const bool closed = s.end <= watermark_;
    if (!closed) s.emitted = false;  // open again: emitted (with the next revision) when it closes
    (void)was_emitted;
    const std::byte* merged_state = s.state.get();
    std::sort(vec.begin(), vec.end(), [](const Session& a, const Session& b) { return a.start < b.start; });
    Session* merged = nullptr;
    for (auto& x : vec)
      if (x.state.get() == merged_state) merged = &x;
    after_session_change(map_it->first, *merged, closed || merged->sealed, sink);
  }

  // Re-indexes a session after it changed; emits it now if it is closed already (a late
  // update, or sealed by the end condition).
  void after_session_change(const std::string& key, Session& s, bool emit_now, RowSink& sink) {
    if (emit_now && q_.ast.emit != EmitMode::kOnUpdate) {
      emit_group(s.start, s.end, key, s.state.get(), sink);
      s.emitted = true;
    } else if (emit_now) {
      s.emitted = true;
    }
    if (q_.ast.emit == EmitMode::kOnUpdate) emit_group(s.start, s.end, key, s.state.get(), sink);
    if (s.emitted && !update_policy()) {
      erase_session(key, s.start, true);
      return;
    }
    index_add(key, s);
  }

  // A session is identified by (key, start, emitted): a retained (emitted) session sealed by
  // the end condition may share its start with a new open one.
  void erase_session(const std::string& key, std::int64_t start, bool emitted) {
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return;
    auto& vec = it->second;
    for (auto v = vec.begin(); v != vec.end(); ++v) {
      if (v->start == start && v->emitted == emitted) {
        vec.erase(v);
        break;
      }
    }
    if (vec.empty()) sessions_.erase(it);
  }

  Session* find_session(const std::string& key, std::int64_t start, bool emitted) {
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return nullptr;
    for (auto& s : it->second)
      if (s.start == start && s.emitted == emitted) return &s;
    return nullptr;
  }

  // ---- watermark and closing ----
  void note_event(std::int64_t ts) {
    if (!has_event_ || ts > max_event_) {
      max_event_ = ts;
      has_event_ = true;
    }
  }

  void advance(std::int64_t ts, RowSink& sink) {
    if (ended_) return;
    note_event(ts);
    const std::int64_t wm = sat_sub(max_event_, q_.ast.delay_ms);
    if (wm > watermark_) {
      watermark_ = wm;
      close(sink);
    }
  }

  void close(RowSink& sink) {
    if (q_.ast.window == WindowKind::kTumble || q_.ast.window == WindowKind::kHop) {
      for (auto it = windows_.begin(); it != windows_.end();) {
        Window& w = it->second;
        if (w.end > watermark_) break;  // windows share one size: start order is end order
        if (!w.emitted) {
          emit_closed(w.start, w.end, w.groups, sink);
          w.emitted = true;
          groups_hint_ = std::min<std::size_t>(w.groups.size(), 1u << 22);
        }
        if (update_policy() && !ended_ && sat_add(w.end, opt_.allowed_lateness_ms) > watermark_) {
          ++it;
          continue;
        }
        it = windows_.erase(it);
      }
      return;
    }
    if (q_.ast.window != WindowKind::kSession) return;
    while (!session_close_.empty() && std::get<0>(*session_close_.begin()) <= watermark_) {
      const auto [end, key, start] = *session_close_.begin();
      session_close_.erase(session_close_.begin());
      Session* s = find_session(key, start, false);
      if (!s) continue;
      if (q_.ast.emit == EmitMode::kAfterClose ||
          (q_.ast.emit == EmitMode::kPeriodic && AggLayout::header(s->state.get()).dirty)) {
        emit_group(s->start, s->end, key, s->state.get(), sink);
      }
      s->emitted = true;
      if (update_policy() && !ended_ && sat_add(s->end, opt_.allowed_lateness_ms) > watermark_) {
        index_add(key, *s);
      } else {
        erase_session(key, start, true);
      }
    }
    while (!session_purge_.empty() &&
           (ended_ || std::get<0>(*session_purge_.begin()) <= watermark_)) {
      const auto [deadline, key, start] = *session_purge_.begin();
      session_purge_.erase(session_purge_.begin());
      erase_session(key, start, true);
    }
  }

  void emit_closed(std::int64_t start, std::int64_t end, GroupTable& groups, RowSink& sink) {
    if (q_.ast.emit == EmitMode::kOnUpdate) return;
    for (auto& [key, block] : groups.sorted()) {
      if (q_.ast.emit == EmitMode::kPeriodic && !AggLayout::header(block).dirty) continue;
      emit_group(start, end, *key, block, sink);
    }
  }

  void emit_group(std::int64_t start, std::int64_t end, const std::string& key, std::byte* block, RowSink& sink) {
    std::string_view in = key;
    out_keys_.resize(q_.keys.size());
    for (auto& v : out_keys_) {
      if (!decode_key_value(&in, &v)) v = Value();
    }
    layout_.results(block, &results_);
    EvalContext ctx;
    ctx.keys = out_keys_.data();
    ctx.aggs = results_.data();
    ctx.window_start = start;
    ctx.window_end = end;
    GroupHeader& h = AggLayout::header(block);
    h.dirty = 0;
    if (q_.ast.having && !ev_.truth(*q_.ast.having, ctx)) {
      if (ctx.error) eval_error();
      return;
    }
    // Built in a member: when the sink only reads the row (outpost query, tests), its buffers
    // are reused by the next one instead of allocated per row; a sink that keeps it moves them.
    OutputRow& row = row_;
    row.payload.clear();
    row.key.clear();
    row.payload.reserve(last_row_bytes_ + 16);
    for (std::size_t i = 0; i < q_.ast.items.size(); ++i) {
      row.payload.append(column_prefix_[i]);
      append_value_json(&row.payload, ev_.eval(*q_.ast.items[i].expr, ctx));
    }
    if (q_.ast.items.empty()) row.payload.push_back('{');
    const bool windowed = q_.ast.window != WindowKind::kNone;
    if (windowed && update_policy()) {
      row.payload.append(",\"_revision\":");
      row.payload.append(std::to_string(h.revision));
    }
    row.payload.push_back('}');
    if (ctx.error) {
      eval_error();
      return;
    }
    if (h.revision < std::numeric_limits<std::uint32_t>::max()) ++h.revision;
    row.event_time_ms = windowed ? start : (has_event_ ? max_event_ : 0);
    if (!q_.keys.empty()) {
      row.key.push_back('[');
      for (std::size_t k = 0; k < out_keys_.size(); ++k) {
        if (k) row.key.push_back(',');
        append_value_json(&row.key, out_keys_[k]);
      }
      row.key.push_back(']');
    }
    last_row_bytes_ = row.payload.size();
    ++c_.rows_out;
    sink.row(std::move(row));
  }

  std::shared_ptr<const Query> hold_;
  const CompiledQuery& q_;
  ExecutorOptions opt_;
  AggLayout layout_;
  Evaluator ev_;
  std::int64_t watermark_ = kMinT;
  std::int64_t max_event_ = kMinT;
  bool has_event_ = false;
  bool ended_ = false;
  ExecutorCounters c_;
  std::map<std::int64_t, Window> windows_;  // tumble/hop, by start
  GroupTable global_;                        // table() aggregation without a window
  std::map<std::string, std::vector<Session>> sessions_;  // by group key; each sorted by start
  std::set<IndexKey> session_close_;  // (end, key, start) of sessions not emitted yet
  std::set<IndexKey> session_purge_;  // (end + allowed lateness, key, start) of emitted ones
  // Scratch, reused per record.
  std::vector<Value> keys_, args_, results_, out_keys_;
  std::string key_bytes_;
  OutputRow row_;  // emit_group's row (see there)
  std::vector<std::int64_t> reemit_;
  std::size_t groups_hint_ = 0;  // groups of the last closed window (not state: only a size hint)
  std::size_t last_row_bytes_ = 0;
  std::vector<std::string> column_prefix_;
};

// State layout (little-endian; README.md "State format"):
//   "OPQS" u8 version u64 query-fingerprint u8 late-policy i64 allowed-lateness
//   i64 watermark i64 max-event u8 flags(1 has_event, 2 ended)
//   u64 x5 counters (records_in rows_out late_events late_dropped eval_errors)
//   u64 n-windows { i64 start i64 end u8 emitted u64 n-groups { bytes key, group } }   (by start)
//   u64 n-keys { bytes key u64 n { i64 start i64 last i64 end u8 flags(1 emitted 2 sealed) group } }
//   u64 n-groups { bytes key, group }                                                  (table())
// groups sorted by key, so equal states are equal bytes.
std::string ExecutorImpl::save_state() const {
  std::string out(kMagic, 4);
  out.push_back(static_cast<char>(kStateVersion));
  put_u64(&out, q_.fingerprint);
  out.push_back(static_cast<char>(opt_.late_policy));
  put_i64(&out, opt_.allowed_lateness_ms);
  put_i64(&out, watermark_);
  put_i64(&out, max_event_);
  out.push_back(static_cast<char>((has_event_ ? 1 : 0) | (ended_ ? 2 : 0)));
  for (std::uint64_t c : {c_.records_in, c_.rows_out, c_.late_events, c_.late_dropped, c_.eval_errors})
    put_u64(&out, c);
  put_u64(&out, windows_.size());
  for (const auto& [start, w] : windows_) {
    put_i64(&out, w.start);
    put_i64(&out, w.end);
    out.push_back(w.emitted ? 1 : 0);
    const auto groups = w.groups.sorted();
    put_u64(&out, groups.size());
    for (const auto& [key, block] : groups) {
      put_bytes(&out, *key);
      layout_.encode(block, &out);
    }
  }
  put_u64(&out, sessions_.size());
  for (const auto& [key, vec] : sessions_) {
    put_bytes(&out, key);
    put_u64(&out, vec.size());
    for (const auto& s : vec) {
      put_i64(&out, s.start);
      put_i64(&out, s.last);
      put_i64(&out, s.end);
      out.push_back(static_cast<char>((s.emitted ? 1 : 0) | (s.sealed ? 2 : 0)));
      layout_.encode(s.state.get(), &out);
    }
  }
  const auto groups = global_.sorted();
  put_u64(&out, groups.size());
  for (const auto& [key, block] : groups) {
    put_bytes(&out, *key);
    layout_.encode(block, &out);
  }
  return out;
}

Status ExecutorImpl::load_state(std::string_view in) {
  auto bad = [](const char* what) { return Status::corruption(std::string("query state: ") + what); };
  if (in.size() < 5 || in.substr(0, 4) != std::string_view(kMagic, 4)) return bad("not a query state (bad magic)");
  in.remove_prefix(4);
  std::uint8_t version = 0, policy = 0, flags = 0;
  if (!get_u8(&in, &version) || version != kStateVersion) return bad("unsupported state version");
  std::uint64_t fp = 0;
  if (!get_u64(&in, &fp)) return bad("truncated header");
  if (fp != q_.fingerprint)
    return Status::invalid_argument("query state belongs to a different query (the SQL changed)");
  std::int64_t lateness = 0, wm = 0, maxev = 0;
  if (!get_u8(&in, &policy) || !get_i64(&in, &lateness) || !get_i64(&in, &wm) || !get_i64(&in, &maxev) ||
      !get_u8(&in, &flags) || flags > 3)
    return bad("truncated header");
  if (policy != static_cast<std::uint8_t>(opt_.late_policy) || lateness != opt_.allowed_lateness_ms)
    return Status::invalid_argument("query state was taken with a different late policy or allowed lateness");
  ExecutorCounters c;
  for (std::uint64_t* p : {&c.records_in, &c.rows_out, &c.late_events, &c.late_dropped, &c.eval_errors})
    if (!get_u64(&in, p)) return bad("truncated counters");
  const bool windowed_fixed = q_.ast.window == WindowKind::kTumble || q_.ast.window == WindowKind::kHop;
  std::map<std::int64_t, Window> windows;
  std::uint64_t n = 0;
  if (!get_u64(&in, &n)) return bad("truncated windows");
  if (n && !windowed_fixed) return bad("windows in the state of a query without tumble/hop");
  for (std::uint64_t k = 0; k < n; ++k) {
    std::int64_t start, end;
    std::uint8_t emitted;
    std::uint64_t ng;
    if (!get_i64(&in, &start) || !get_i64(&in, &end) || !get_u8(&in, &emitted) || emitted > 1 || !get_u64(&in, &ng))
      return bad("truncated window");
    auto [it, ok] = windows.emplace(std::piecewise_construct, std::forward_as_tuple(start),
                                    std::forward_as_tuple(start, end, &layout_));
    if (!ok) return bad("duplicate window");
    it->second.emitted = emitted == 1;
    for (std::uint64_t g = 0; g < ng; ++g) {
      std::string key;
      if (!get_bytes(&in, &key)) return bad("truncated group key");
      if (Status st = decode_group(it->second.groups, key, &in); !st.is_ok()) return st;
    }
  }
  std::map<std::string, std::vector<Session>> sessions;
  std::set<IndexKey> close_idx, purge_idx;
  if (!get_u64(&in, &n)) return bad("truncated sessions");
  if (n && q_.ast.window != WindowKind::kSession) return bad("sessions in the state of a query without session()");
  for (std::uint64_t k = 0; k < n; ++k) {
    std::string key;
    std::uint64_t ns;
    if (!get_bytes(&in, &key) || !get_u64(&in, &ns)) return bad("truncated session key");
    auto& vec = sessions[key];
    for (std::uint64_t j = 0; j < ns; ++j) {
      Session s;
      std::uint8_t f;
      if (!get_i64(&in, &s.start) || !get_i64(&in, &s.last) || !get_i64(&in, &s.end) || !get_u8(&in, &f) || f > 3)
        return bad("truncated session");
      s.emitted = f & 1;
      s.sealed = (f & 2) != 0;
      s.state = Block(layout_.make(), BlockDeleter{&layout_});
      if (!layout_.decode(s.state.get(), &in)) return bad("bad aggregate state");
      if (s.emitted) {
        purge_idx.emplace(sat_add(s.end, opt_.allowed_lateness_ms), key, s.start);
      } else {
        close_idx.emplace(s.end, key, s.start);
      }
      vec.push_back(std::move(s));
    }
  }
  GroupTable global(&layout_);
  if (!get_u64(&in, &n)) return bad("truncated groups");
  for (std::uint64_t g = 0; g < n; ++g) {
    std::string key;
    if (!get_bytes(&in, &key)) return bad("truncated group key");
    if (Status st = decode_group(global, key, &in); !st.is_ok()) return st;
  }
  if (!in.empty()) return bad("trailing bytes");
  watermark_ = wm;
  max_event_ = maxev;
  has_event_ = flags & 1;
  ended_ = (flags & 2) != 0;
  c_ = c;
  windows_ = std::move(windows);
  sessions_ = std::move(sessions);
  session_close_ = std::move(close_idx);
  session_purge_ = std::move(purge_idx);
  global_.swap(global);
  return Status::ok();
}

}  // namespace
}  // namespace internal

std::unique_ptr<Executor> Executor::create(std::shared_ptr<const Query> query, const ExecutorOptions& options) {
  if (!query) return nullptr;
  return std::make_unique<internal::ExecutorImpl>(std::move(query), options);
}

}  // namespace outpost::query
