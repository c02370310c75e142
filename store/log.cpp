// LogImpl: open/recovery, the append hot path, the flusher (group commit, rolls, journal
// rotation), retention, stats and verify. Threads: user threads call the public methods; one
// flusher thread (started by open in read-write mode) runs commit rounds and retention.
// Size: still one file for recovery, group commit, retention, cursors, stats and verify; the
// planned split gives each concern its file and makes retention's policy a pure function.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <map>
#include <set>
#include <thread>

#include "store/catalog.h"
#include "store/filename.h"
#include "store/log_internal.h"
#include "store/reader.h"

namespace outpost::store {
namespace internal {
namespace {

using namespace format;

// The log clock is saved in the catalog at open, at every roll, at close, and in between on a
// schedule that backs off: the next save is due the process's running time at the last save
// later, but at least kClockPersistMinMs and at most kClockPersistMaxMs later (after 5, 10 and
// 20 min of running time, then every 10 min). Each save is a SQLite transaction: two WAL
// frames, an fdatasync and the -shm pages they touch, 25-40 KB of device writes (measured with
// bench/flash_wear). Saving every 5 s, as before, made the catalog ~40% of everything the
// daemon wrote with a 10 s flush interval at 100 msgs/s (issue 7); every 10 min it is ~3%.
// What a power cut costs: the log time since the last save, at most max(5 min, half the
// running time) and never more than 10 min. Age retention then runs that much later: data is
// kept longer, never deleted early, and the quota still bounds the disk. Retention periods are
// hours to days, so minutes late is harmless. The back-off keeps a device that is power-cut
// every 5-10 min from losing all of its running time, as a fixed 10 min interval would (its
// clock, and so age retention, still advance by at least half of every run over 5 min).
// Sealed segments never get ahead of the saved clock: roll() saves it with the sealed row.
constexpr std::int64_t kClockPersistMinMs = 300'000;
constexpr std::int64_t kClockPersistMaxMs = 600'000;
constexpr std::int64_t kRetentionIntervalMs = 1000;
// A segment is also rolled at this many blocks. Each group commit seals a block for every
// stream that got records, so a steady stream adds 5 blocks a second at the default 200 ms, and
// the active segment's in-memory index (one packed entry, 40 bytes, per block) grew for as long
// as the 64 MiB took to fill: hours for a sensor stream, weeks for a late or result stream that
// gets a record now and then (bench/soak saw RSS rise ~6 MiB an hour at 800 msgs/s). With this
// bound the index of the active segment stays under 160 KiB per stream; a sealed segment's
// index is released once no reader has used it for kIndexIdleMs (a reader that comes back
// rebuilds it from the file, as for sealed segments found at open). The active index is
// reserved whole when its segment is made: one allocation whose pages are touched one by one as
// blocks arrive, instead of doubling copies that leave freed chunks behind in the heap.
constexpr std::size_t kMaxBlocksPerSegment = 4096;
constexpr std::int64_t kIndexIdleMs = 30'000;
constexpr std::int64_t kIndexSweepIntervalMs = 10'000;
constexpr const char* kClockKey = "log_clock_ms";

std::string seq_range(std::uint64_t a, std::uint64_t b) {
  if (a == 0) return "unknown sequences";
  if (b == 0) return "sequences from " + std::to_string(a);
  return "sequences " + std::to_string(a) + ".." + std::to_string(b);
}

class LogImpl final : public Log {
 public:
  explicit LogImpl(const Options& o) : options_(o), core_(std::make_shared<Core>()) {
    core_->env = o.env ? o.env : Env::posix();
    core_->read_only = o.read_only;
    core_->data_dir = o.data_dir;
    clock_ = o.clock ? o.clock : Clock::system();
    core_->clock = clock_;
    options_.block_bytes = std::clamp<std::uint32_t>(o.block_bytes, 4096, kMaxBlockBytesOption);
    if (options_.segment_bytes < 4096) options_.segment_bytes = 4096;
    if (options_.flush_interval_ms < 1) options_.flush_interval_ms = 1;
    max_pending_bytes_ = std::max<std::uint64_t>(8 * options_.flush_bytes, 4ull * options_.block_bytes);
  }

  ~LogImpl() override { close(); }

  Status open(RecoveryReport* report);

  Result<StreamId> open_stream(std::string_view name, const StreamOptions& options) override;
  Result<StreamId> find_stream(std::string_view name) const override;
  std::vector<std::string> stream_names() const override;
  Result<std::uint64_t> append(StreamId stream, const AppendRecord& record, AppendDurability durability) override;
  Status flush() override;
  Status last_commit_status() const override;
  std::uint64_t durable_seq(StreamId stream) const override;
  std::uint64_t last_seq(StreamId stream) const override;
  void set_durable_listener(DurableListener listener) override {
    std::lock_guard lock(listener_mu_);
    listener_ = std::move(listener);
  }
  Result<std::unique_ptr<Reader>> read(StreamId stream, const ReadOptions& options) override;
  Status register_cursor(StreamId stream, std::string_view name) override;
  Status unregister_cursor(StreamId stream, std::string_view name) override;
  Status commit_cursor(StreamId stream, std::string_view name, std::uint64_t seq) override;
  Result<std::optional<std::uint64_t>> cursor(StreamId stream, std::string_view name) const override;
  Status save_checkpoint(const Checkpoint& checkpoint) override;
  Result<std::optional<Checkpoint>> load_checkpoint(std::string_view query) const override;
  Status set_meta(std::string_view key, std::string_view value) override;
  Result<std::optional<std::string>> meta(std::string_view key) const override;
  std::vector<DroppedRange> dropped_ranges(std::int64_t after_id) const override;
  Status enforce_retention() override;
  Result<StreamStats> stats(StreamId stream) const override;
  std::uint64_t total_stored_bytes() const override { return total_stored_.load(); }
  Result<std::vector<Damage>> verify() override;
  std::int64_t log_clock_ms() const override {
    return clock_base_ms_ + (clock_->steady_ms() - steady_at_open_ms_);
  }

 private:
  std::shared_ptr<Stream> stream_by_id(StreamId id) const;  // takes core_->mu
  // What open() reads from the catalog, all of it before any file is looked at, so that a
  // read-only opener can set the catalog aside as a whole when any of it cannot be read.
  struct CatalogContents {
    std::optional<std::string> clock;
    std::vector<StreamRow> streams;
    std::map<std::int64_t, std::vector<SegmentRow>> segments;  // by stream id
  };
  Status read_catalog(CatalogContents* out);
  // unlisted_id: the id a read-only opener gives a stream the catalog does not know.
  Status load_stream(const std::string& name, std::optional<StreamRow> row, std::vector<SegmentRow> rows,
                     StreamId unlisted_id, RecoveryReport* report);
  void add_stream(const std::shared_ptr<Stream>& s);  // takes core_->mu
  Status create_segment(Stream& s, std::uint64_t first_seq, std::shared_ptr<Segment>* out);
  Status replay_journals(Stream& s, RecoveryReport* report);
  Status write_journal(Stream& s, std::uint64_t seq, std::int64_t ingest, std::int64_t event,
                       const AppendRecord& r);
  void seal_open_block(Stream& s);
  void encode_into(Stream& s, std::uint64_t seq, std::int64_t ingest, std::int64_t event,
                   const std::optional<std::string_view>& key, std::string_view payload);
  // One group commit. Caller holds io_mu_.
  Status commit_round(bool force_sync, std::vector<std::pair<StreamId, std::uint64_t>>* advanced);
  void release_idle_indexes();
  Status write_blocks(Stream& s, std::vector<PendingBlock>& blocks, std::size_t* done, bool sync);
  Status roll(Stream& s);
  Status enforce_retention_locked();
  void flusher_main();
  void persist_clock();  // saves log_clock_ms() in the catalog now
  std::int64_t clock_persist_interval_ms() const;  // caller holds io_mu_
  void close();
  SegmentRow row_of(const Stream& s, const Segment& seg) const;  // caller holds seg.mu

  Options options_;
  std::shared_ptr<Core> core_;
  Clock* clock_ = nullptr;
  std::unique_ptr<FileLock> lock_;
  // Null only in read-only mode when there is no catalog file or it cannot be read (then the
  // segment files alone describe the log; RecoveryReport::catalog_repairs says why).
  std::unique_ptr<Catalog> catalog_;
  std::int64_t clock_base_ms_ = 0;
  std::int64_t steady_at_open_ms_ = 0;
  std::atomic<std::uint64_t> total_stored_{0};
  std::uint64_t max_pending_bytes_;

  // Guarded by core_->mu.
  std::vector<std::shared_ptr<Stream>> streams_;  // index = StreamId (0 unused)
  std::map<std::string, StreamId, std::less<>> names_;
  std::uint64_t pending_bytes_ = 0;
  bool kicked_ = false;
  bool flush_requested_ = false;
  std::uint64_t rounds_started_ = 0;
  std::uint64_t rounds_done_ = 0;
  Status last_round_status_;
  bool quota_full_ = false;
  bool closed_ = false;
  std::condition_variable flusher_cv_;  // wakes the flusher
  std::condition_variable done_cv_;     // a round finished (flush(), backpressure)

  std::mutex io_mu_;  // serialises segment writes, rolls and retention
  std::unique_ptr<BlockCompressor> compressor_;  // under io_mu_
  Buffer write_buf_;                             // under io_mu_
  std::int64_t last_clock_persist_ms_ = 0;       // steady ms of the last persist_clock(); under io_mu_
  std::int64_t last_retention_ms_ = 0;           // flusher only
  std::int64_t last_index_sweep_ms_ = 0;         // flusher only

  std::mutex listener_mu_;
  DurableListener listener_;
  std::thread flusher_;
};

std::shared_ptr<Stream> LogImpl::stream_by_id(StreamId id) const {
  std::lock_guard lock(core_->mu);
  if (id == 0 || id >= streams_.size()) return nullptr;
  return streams_[id];
}

Status no_stream(StreamId id) { return Status::not_found("no stream with id " + std::to_string(id)); }

SegmentRow LogImpl::row_of(const Stream& s, const Segment& seg) const {
  SegmentRow r;
  r.stream_id = s.id;
  r.first_seq = seg.first_seq;
  r.last_seq = seg.last_seq;
  r.records = seg.records;
  r.stored_bytes = seg.stored_bytes;
  r.raw_bytes = seg.raw_bytes;
  r.min_event_ms = seg.min_event_ms;
  r.max_event_ms = seg.max_event_ms;
  r.min_ingest_ms = seg.min_ingest_ms;
  r.max_ingest_ms = seg.max_ingest_ms;
  r.sealed = seg.sealed;
  r.sealed_clock_ms = seg.sealed_clock_ms;
  return r;
}

// ---- open and recovery ----------------------------------------------------------------------

Status LogImpl::open(RecoveryReport* report) {
  Env* env = core_->env;
  const auto& dir = options_.data_dir;
  if (dir.empty()) return Status::invalid_argument("log: data_dir is empty");
  if (!options_.read_only) {
    OUTPOST_RETURN_IF_ERROR(env->create_dirs(streams_dir(dir)));
    auto lock = env->lock_file(lock_path(dir));
    if (!lock) return lock.status();
    lock_ = std::move(*lock);
  } else if (!env->exists(dir)) {
    return Status::not_found(dir.string() + ": no such log directory");
  }
  auto repair = [&](std::string msg) {
    if (report) report->catalog_repairs.push_back(std::move(msg));
  };
  const auto cat_path = catalog_path(dir);
  auto cat = Catalog::open(cat_path, options_.read_only, env, report ? &report->catalog_repairs : nullptr);
  CatalogContents contents;
  if (cat) {
    catalog_ = std::move(*cat);
    Status st = read_catalog(&contents);
    if (!st.is_ok()) {
      if (!options_.read_only) return st;
      // Files win: a reader never needs the catalog to make sense of the directory.
      repair(cat_path.string() + ": " + st.message() + ": streams and segments read from the segment files");
      catalog_.reset();
      contents = CatalogContents{};
    }
  } else if (!options_.read_only) {
    return cat.status();
  } else if (cat.status().code() != Status::Code::kNotFound) {
    repair(cat.status().message() + ": streams and segments read from the segment files");
  }
  steady_at_open_ms_ = clock_->steady_ms();
  if (contents.clock) clock_base_ms_ = std::strtoll(contents.clock->c_str(), nullptr, 10);
  compressor_ = std::make_unique<BlockCompressor>(options_.zstd_level);

  // Streams: the union of catalog rows and directories.
  std::map<std::string, std::optional<StreamRow>> all;
  std::int64_t max_id = 0;
  for (auto& r : contents.streams) {
    max_id = std::max(max_id, r.id);
    all[r.name] = r;
  }
  auto names = env->list_dir(streams_dir(dir));
  bool unlisted = false;
  if (names) {
    for (auto& n : *names) {
      if (!check_stream_name(n).empty()) continue;
      if (all.count(n)) continue;
      all[n] = std::nullopt;
      unlisted = true;
    }
  }
  if (unlisted && options_.read_only && !catalog_ && cat.status().code() == Status::Code::kNotFound) {
    repair("no catalog " + cat_path.string() + ": streams and segments read from the segment files");
  }
  StreamId next_unlisted = static_cast<StreamId>(max_id + 1);
  for (auto& [name, row] : all) {
    std::vector<SegmentRow> rows;
    if (row) {
      auto it = contents.segments.find(row->id);
      if (it != contents.segments.end()) rows = std::move(it->second);
    }
    OUTPOST_RETURN_IF_ERROR(load_stream(name, row, std::move(rows), row ? 0 : next_unlisted++, report));
  }
  if (!options_.read_only) {
    for (auto& s : streams_) {
      if (s) OUTPOST_RETURN_IF_ERROR(replay_journals(*s, report));
    }
    last_retention_ms_ = clock_->steady_ms();
    persist_clock();
    {
      std::lock_guard io(io_mu_);
      (void)enforce_retention_locked();
    }
    flusher_ = std::thread([this] { flusher_main(); });
  }
  return Status::ok();
}

Status LogImpl::read_catalog(CatalogContents* out) {
  auto clock = catalog_->meta(kClockKey);
  if (!clock) return clock.status();
  out->clock = std::move(*clock);
  auto rows = catalog_->streams();
  if (!rows) return rows.status();
  out->streams = std::move(*rows);
  for (const auto& r : out->streams) {
    auto segs = catalog_->segments(r.id);
    if (!segs) return segs.status();
    out->segments[r.id] = std::move(*segs);
  }
  return Status::ok();
}

void LogImpl::add_stream(const std::shared_ptr<Stream>& s) {
  std::lock_guard lock(core_->mu);
  if (streams_.size() <= s->id) streams_.resize(s->id + 1);
  streams_[s->id] = s;
  names_[s->name] = s->id;
}

Status LogImpl::create_segment(Stream& s, std::uint64_t first_seq, std::shared_ptr<Segment>* out) {
  Env* env = core_->env;
  auto path = s.dir / segment_file_name(first_seq);
  auto f = env->open_appendable(path);
  if (!f) return f.status();
  if ((*f)->size() != 0) OUTPOST_RETURN_IF_ERROR((*f)->truncate(0));
  char hdr[kSegmentHeaderBytes];
  SegmentHeader h;
  h.first_seq = first_seq;
  h.created_wall_ms = clock_->wall_ms();
  encode_segment_header(h, hdr);
  Status st = (*f)->append(std::string_view(hdr, sizeof hdr));
  if (st.is_ok()) st = (*f)->sync();
  if (st.is_ok()) st = env->sync_dir(s.dir);
  if (!st.is_ok()) {
    (void)env->remove_file(path);
    return st.with_context("creating segment " + path.string());
  }
  auto seg = std::make_shared<Segment>(path, first_seq);
  seg->index.reserve(kMaxBlocksPerSegment);
  seg->last_seq = first_seq - 1;
  seg->stored_bytes = kSegmentHeaderBytes;
  seg->index_complete = true;
  seg->index_next_seq = first_seq;
  // The catalog first (its WAL can hit a full disk the header just fitted on): only once the
  // segment is known everywhere do appends switch to it. Switching earlier would send blocks
  // to the new file while the caller still indexes them in the old segment.
  if (catalog_) {
    st = catalog_->upsert_segment(row_of(s, *seg));
    if (!st.is_ok()) {
      (void)env->remove_file(path);
      return st.with_context("creating segment " + path.string());
    }
  }
  s.active = std::move(*f);
  total_stored_ += kSegmentHeaderBytes;
  *out = seg;
  return Status::ok();
}

Status LogImpl::load_stream(const std::string& name, std::optional<StreamRow> row, std::vector<SegmentRow> rows,
                            StreamId unlisted_id, RecoveryReport* report) {
  Env* env = core_->env;
  const bool ro = options_.read_only;
  auto s = std::make_shared<Stream>();
  s->name = name;
  s->dir = stream_dir(options_.data_dir, name);
  auto repair = [&](std::string msg) {
    if (report) report->catalog_repairs.push_back("stream " + name + ": " + std::move(msg));
  };
  if (row) {
    s->id = static_cast<StreamId>(row->id);
    s->options = row->options;
  } else if (!ro) {
    auto id = catalog_->upsert_stream(name, {});
    if (!id) return id.status();
    s->id = static_cast<StreamId>(*id);
    repair("directory without catalog row: added");
  } else {
    // Read-only beside a writer, the directory may be newer than the catalog rows read.
    s->id = unlisted_id;
  }
  std::uint64_t max_row_seq = 0;
  for (const auto& r : rows) max_row_seq = std::max(max_row_seq, r.last_seq);
  // A read-only opener shows a stream it finds no segment of (a writer is creating it, or was
  // killed doing so) as an empty stream: it exists, nothing in it is durable yet.
  auto add_empty = [&] {
    s->next_seq = max_row_seq + 1;
    s->durable_seq = max_row_seq;
    add_stream(s);
    return Status::ok();
  };
  if (!env->exists(s->dir)) {
    if (ro) return add_empty();
    OUTPOST_RETURN_IF_ERROR(env->create_dirs(s->dir));
    repair("catalog row without directory: directory created");
  }
  auto listed = env->list_dir(s->dir);
  if (!listed) {
    if (ro && listed.status().code() == Status::Code::kNotFound) return add_empty();
    return listed.status();
  }
  std::vector<std::uint64_t> seg_files, journal_files;
  for (auto& n : *listed) {
    auto p = parse_file_name(n);
    if (!p) continue;
    (p->kind == FileKind::kSegment ? seg_files : journal_files).push_back(p->first_seq);
  }
  std::sort(seg_files.begin(), seg_files.end());
  std::map<std::uint64_t, SegmentRow> by_first;
  for (auto& r : rows) {
    const bool has_file = std::binary_search(seg_files.begin(), seg_files.end(), r.first_seq);
    if (r.state == "deleting") {
      // Retention committed forgetting this segment; finish the delete (Vector #25570).
      if (!ro) {
        if (has_file) OUTPOST_RETURN_IF_ERROR(env->remove_file(s->dir / segment_file_name(r.first_seq)));
        OUTPOST_RETURN_IF_ERROR(catalog_->delete_segment(s->id, r.first_seq));
        repair("finished deleting segment " + segment_file_name(r.first_seq));
      }
      if (has_file) seg_files.erase(std::find(seg_files.begin(), seg_files.end(), r.first_seq));
      continue;
    }
    if (!has_file) {
      if (!ro) {
        if (r.records > 0) {
          DroppedRange d;
          d.stream = name;
          d.first_seq = r.first_seq;
          d.last_seq = r.last_seq;
          d.reason = "missing segment file";
          d.wall_time_ms = clock_->wall_ms();
          OUTPOST_RETURN_IF_ERROR(catalog_->add_dropped(d));
        }
        OUTPOST_RETURN_IF_ERROR(catalog_->delete_segment(s->id, r.first_seq));
        repair("segment " + segment_file_name(r.first_seq) + " is in the catalog but its file is missing: " +
               seq_range(r.first_seq, r.last_seq) + " recorded as dropped");
      }
      continue;
    }
    by_first[r.first_seq] = r;
  }

  for (std::size_t i = 0; i < seg_files.size(); ++i) {
    const std::uint64_t first = seg_files[i];
    const bool is_last = i + 1 == seg_files.size();
    auto seg = std::make_shared<Segment>(s->dir / segment_file_name(first), first);
    seg->last_seq = first - 1;
    seg->index_next_seq = first;
    auto size = env->file_size(seg->path);
    if (!size) return size.status();
    auto rit = by_first.find(first);
    const bool row_ok = rit != by_first.end() && rit->second.sealed && rit->second.stored_bytes == *size &&
                        rit->second.last_seq + 1 >= first;
    if (!is_last && row_ok) {
      const SegmentRow& r = rit->second;
      seg->last_seq = r.last_seq;
      seg->records = r.records;
      seg->raw_bytes = r.raw_bytes;
      seg->stored_bytes = r.stored_bytes;
      seg->min_event_ms = r.min_event_ms;
      seg->max_event_ms = r.max_event_ms;
      seg->min_ingest_ms = r.min_ingest_ms;
      seg->max_ingest_ms = r.max_ingest_ms;
      seg->have_times = r.records > 0;
      seg->sealed = true;
      seg->sealed_clock_ms = r.sealed_clock_ms;
      total_stored_ += seg->stored_bytes;
      s->segments.push_back(seg);
      continue;
    }
    // Scan the file: the active segment with payload checks (its tail may be torn), a sealed
    // one whose row is missing or disagrees by headers only.
    auto f = env->open_readable(seg->path);
    if (!f) return f.status();
    SegmentHeader h;
    // An active segment shorter than its header was torn at creation (the writer died between
    // creating the file and writing its header): a writer rewrites it below, a reader sees an
    // empty segment. Neither is damage.
    std::string herr = *size < kSegmentHeaderBytes && is_last ? std::string() : read_segment_header(**f, &h);
    if (herr.empty() && *size >= kSegmentHeaderBytes && h.first_seq != first) {
      herr = "segment header names sequence " + std::to_string(h.first_seq) + " but the file name says " +
             std::to_string(first);
    }
    if (!herr.empty() && report) {
      report->corrupt_blocks.push_back(Damage{name, seg->path, 0, kSegmentHeaderBytes, kNoSeq, kNoSeq, herr});
    }
    seg->header_error = herr;
    ScanOptions o;
    o.expected_seq = first;
    o.limit = *size;
    o.verify_payloads = is_last;
    ScanResult sr;
    if (*size > kSegmentHeaderBytes) OUTPOST_RETURN_IF_ERROR(scan_segment(**f, o, &sr));
    else sr.valid_end = std::min<std::uint64_t>(*size, kSegmentHeaderBytes), sr.next_seq = first;
    if (is_last && !ro) seg->index.reserve(kMaxBlocksPerSegment);  // the flusher appends to it
    seg->indexed_end = std::max<std::uint64_t>(sr.valid_end, kSegmentHeaderBytes);
    seg->index_next_seq = sr.next_seq;
    for (const auto& e : sr.entries) {
      seg->index.push_back(e);
      if (e.damaged) {
        if (report) {
          report->corrupt_blocks.push_back(Damage{name, seg->path, e.offset, e.length, e.first_seq, e.last_seq, e.message});
        }
      } else {
        seg->add_block_stats(e);
      }
    }
    seg->last_seq = std::max(seg->last_seq, sr.next_seq - 1);
    if (is_last) {
      if (sr.has_tail) {
        if (!ro) {
          if (report && !sr.tail_zero_fill) {
            report->truncated_tails.push_back(Damage{name, seg->path, sr.valid_end, *size - sr.valid_end,
                                                     sr.next_seq, sr.tail_last_seq, sr.tail_message});
          }
          OUTPOST_RETURN_IF_ERROR(env->truncate_file(seg->path, sr.valid_end));
        }
      }
      seg->stored_bytes = sr.valid_end;
      seg->index_complete = !ro;
      if (!ro && *size < kSegmentHeaderBytes) {
        // Torn while being created: write the header again.
        OUTPOST_RETURN_IF_ERROR(env->remove_file(seg->path));
        std::shared_ptr<Segment> fresh;
        OUTPOST_RETURN_IF_ERROR(create_segment(*s, first, &fresh));
        total_stored_ -= kSegmentHeaderBytes;
        seg = fresh;
      } else if (!ro) {
        auto w = env->open_appendable(seg->path);
        if (!w) return w.status();
        s->active = std::move(*w);
        if (catalog_) OUTPOST_RETURN_IF_ERROR(catalog_->upsert_segment(row_of(*s, *seg)));
      }
    } else {
      if (sr.has_tail && !sr.tail_zero_fill) {
        BlockEntry d;
        d.offset = sr.valid_end;
        d.length = *size - sr.valid_end;
        d.first_seq = sr.next_seq;
        d.last_seq = seg_files[i + 1] > sr.next_seq ? seg_files[i + 1] - 1 : 0;
        d.damaged = true;
        d.message = sr.tail_message;
        if (report) report->corrupt_blocks.push_back(Damage{name, seg->path, d.offset, d.length, d.first_seq, d.last_seq, d.message});
        seg->index.push_back(d);
      }
      seg->last_seq = std::max(seg->last_seq, seg_files[i + 1] - 1);
      seg->stored_bytes = *size;
      seg->index_complete = true;
      seg->indexed_end = *size;
      seg->sealed = true;
      seg->sealed_clock_ms = rit != by_first.end() && rit->second.sealed ? rit->second.sealed_clock_ms : log_clock_ms();
      if (!ro && catalog_) {
        OUTPOST_RETURN_IF_ERROR(catalog_->upsert_segment(row_of(*s, *seg)));
        repair(std::string("segment ") + segment_file_name(first) +
               (rit == by_first.end() ? " was not in the catalog: scanned and added"
                                      : " disagreed with its catalog row: rescanned and fixed"));
      }
    }
    total_stored_ += seg->stored_bytes;
    s->segments.push_back(seg);
  }
  if (s->segments.empty()) {
    if (ro) return add_empty();
    std::uint64_t first = max_row_seq + 1;
    std::shared_ptr<Segment> seg;
    OUTPOST_RETURN_IF_ERROR(create_segment(*s, first, &seg));
    s->segments.push_back(seg);
    if (max_row_seq > 0) repair("no segment file left: new segment starts at " + std::to_string(first));
  }
  const auto& last = s->segments.back();
  s->next_seq = last->last_seq + 1;
  for (auto& seg : s->segments) {
    if (seg->have_times) s->last_ingest_ms = std::max(s->last_ingest_ms, seg->max_ingest_ms);
  }
  s->durable_seq = s->next_seq - 1;
  for (std::uint64_t j : journal_files) {
    s->retired_journals.push_back(RetiredJournal{s->dir / journal_file_name(j), 0});
  }
  add_stream(s);
  // A full active segment left by a crash right before its roll: roll now so retention can
  // delete it.
  if (!ro && last->stored_bytes >= options_.segment_bytes && last->records > 0) {
    std::lock_guard io(io_mu_);
    OUTPOST_RETURN_IF_ERROR(roll(*s));
  }
  return Status::ok();
}

Status LogImpl::replay_journals(Stream& s, RecoveryReport* report) {
  Env* env = core_->env;
  std::vector<RetiredJournal> journals;
  journals.swap(s.retired_journals);
  std::uint64_t replayed = 0;
  for (auto& j : journals) {
    auto f = env->open_readable(j.path);
    if (!f) continue;
    auto size = (*f)->size();
    if (!size) return size.status();
    std::string data(static_cast<std::size_t>(*size), '\0');
    std::size_t got = 0;
    OUTPOST_RETURN_IF_ERROR((*f)->read(0, data.size(), data.data(), &got));
    data.resize(got);
    JournalHeader jh;
    if (data.size() < kJournalHeaderBytes || !decode_journal_header(data.data(), &jh).empty()) {
      if (report && !data.empty()) {
        report->truncated_tails.push_back(Damage{s.name, j.path, 0, data.size(), kNoSeq, kNoSeq, "journal header torn or damaged"});
      }
      continue;
    }
    std::size_t pos = kJournalHeaderBytes;
    std::lock_guard lock(core_->mu);
    while (pos < data.size()) {
      JournalRecord r;
      std::size_t n = decode_journal_record(data.data() + pos, data.data() + data.size(), &r);
      if (n == 0) {
        if (report) {
          report->truncated_tails.push_back(Damage{s.name, j.path, pos, data.size() - pos, s.next_seq, kNoSeq,
                                                   "torn intake journal record cut"});
        }
        break;
      }
      pos += n;
      if (r.seq < s.next_seq) continue;  // already in a segment
      if (r.seq > s.next_seq) {
        if (report) {
          report->corrupt_blocks.push_back(Damage{s.name, j.path, pos - n, n, s.next_seq, r.seq - 1,
                                                  "intake journal skips sequences; replay stopped"});
        }
        break;
      }
      s.next_seq = r.seq + 1;
      std::int64_t ingest = std::max(r.ingest_ms, s.last_ingest_ms);
      s.last_ingest_ms = ingest;
      std::optional<std::string_view> key;
      if (r.has_key) key = r.key;
      encode_into(s, r.seq, ingest, r.event_ms, key, r.payload);
      ++replayed;
    }
  }
  if (report) report->journal_records_replayed += replayed;
  if (replayed > 0) {
    std::lock_guard io(io_mu_);
    std::vector<std::pair<StreamId, std::uint64_t>> advanced;
    OUTPOST_RETURN_IF_ERROR(commit_round(true, &advanced));
  }
  for (auto& j : journals) OUTPOST_RETURN_IF_ERROR(env->remove_file(j.path));
  if (!journals.empty()) OUTPOST_RETURN_IF_ERROR(env->sync_dir(s.dir));
  return Status::ok();
}

// ---- streams ----------------------------------------------------------------------------------

Result<StreamId> LogImpl::open_stream(std::string_view name, const StreamOptions& options) {
  std::string err = check_stream_name(name);
  if (!err.empty()) return Status::invalid_argument(err);
  {
    std::lock_guard lock(core_->mu);
    auto it = names_.find(name);
    if (it != names_.end()) {
      auto& s = streams_[it->second];
      if (!options_.read_only) {
        s->options = options;
        auto id = catalog_->upsert_stream(s->name, options);
        if (!id) return id.status();
      }
      return it->second;
    }
  }
  if (options_.read_only) return Status::not_found("stream '" + std::string(name) + "' does not exist (log opened read-only)");
  std::lock_guard io(io_mu_);
  auto id = catalog_->upsert_stream(std::string(name), options);
  if (!id) return id.status();
  auto s = std::make_shared<Stream>();
  s->id = static_cast<StreamId>(*id);
  s->name = std::string(name);
  s->dir = stream_dir(options_.data_dir, name);
  s->options = options;
  OUTPOST_RETURN_IF_ERROR(core_->env->create_dirs(s->dir));
  OUTPOST_RETURN_IF_ERROR(core_->env->sync_dir(streams_dir(options_.data_dir)));
  std::shared_ptr<Segment> seg;
  OUTPOST_RETURN_IF_ERROR(create_segment(*s, 1, &seg));
  s->segments.push_back(seg);
  add_stream(s);
  return s->id;
}

Result<StreamId> LogImpl::find_stream(std::string_view name) const {
  std::lock_guard lock(core_->mu);
  auto it = names_.find(name);
  if (it == names_.end()) return Status::not_found("no stream named '" + std::string(name) + "'");
  return it->second;
}

std::vector<std::string> LogImpl::stream_names() const {
  std::lock_guard lock(core_->mu);
  std::vector<std::string> out;
  for (auto& [n, id] : names_) out.push_back(n);
  return out;
}

// ---- append -------------------------------------------------------------------------------------

void LogImpl::seal_open_block(Stream& s) {
  // Caller holds core_->mu.
  PendingBlock b;
  const std::size_t last = s.open_raw.size();
  b.raw = std::move(s.open_raw);
  b.meta = s.open_meta;
  s.sealed_blocks.push_back(std::move(b));
  s.open_raw = Buffer();
  // Sized by what this stream put in its last block, not block_bytes: every group commit seals
  // each stream's open block, so a stream taking a few KiB per round got a fresh 2 MiB buffer
  // (block_bytes + 1024, rounded up) 5 times a second. glibc then served those from the heap
  // (its mmap threshold rises after the first free), and the freed chunks' touched pages,
  // pinned below long-lived allocations, made the daemon's RSS creep up for an hour under a
  // steady 800 msgs/s (bench/soak). The buffer still grows geometrically when a round brings more.
  s.open_raw.reserve(std::min<std::size_t>(options_.block_bytes + 1024, std::max<std::size_t>(4096, last + last / 2)));
  s.open_meta = BlockMeta();
}

void LogImpl::encode_into(Stream& s, std::uint64_t seq, std::int64_t ingest, std::int64_t event,
                          const std::optional<std::string_view>& key, std::string_view payload) {
  // Caller holds core_->mu.
  const std::size_t need = kMaxRecordOverhead + (key ? key->size() : 0) + payload.size();
  if (s.open_meta.count > 0 && s.open_raw.size() + need > options_.block_bytes) seal_open_block(s);
  const std::size_t before = s.open_raw.size();
  encode_record(&s.open_raw, &s.open_meta, seq, ingest, event, key, payload);
  pending_bytes_ += s.open_raw.size() - before;
}

Status LogImpl::write_journal(Stream& s, std::uint64_t seq, std::int64_t ingest, std::int64_t event,
                              const AppendRecord& r) {
  // Caller holds core_->mu; the journal's order is the sequence order.
  thread_local Buffer buf;
  if (s.journal == nullptr) {
    auto path = s.dir / journal_file_name(seq);
    auto f = core_->env->open_appendable(path);
    if (!f) return f.status();
    if ((*f)->size() != 0) OUTPOST_RETURN_IF_ERROR((*f)->truncate(0));
    char hdr[kJournalHeaderBytes];
    encode_journal_header(JournalHeader{seq}, hdr);
    OUTPOST_RETURN_IF_ERROR((*f)->append(std::string_view(hdr, sizeof hdr)));
    s.journal = std::move(*f);
    s.journal_path = path;
  }
  encode_journal_record(&buf, seq, ingest, event, r.key, r.payload);
  const std::uint64_t before = s.journal->size();
  Status st = s.journal->append(buf.view());
  if (!st.is_ok()) {
    // A partial record would hide the ones after it at replay: cut it off.
    if (!s.journal->truncate(before).is_ok()) s.journal.reset();
    return st.with_context("intake journal");
  }
  s.journal_last_seq = seq;
  return Status::ok();
}

Result<std::uint64_t> LogImpl::append(StreamId id, const AppendRecord& r, AppendDurability durability) {
  if (options_.read_only) return Status::invalid_argument("log opened read-only: appends are refused");
  const std::size_t size = (r.key ? r.key->size() : 0) + r.payload.size();
  if (size > kMaxRecordBytes) {
    return Status::invalid_argument("record of " + std::to_string(size) + " bytes is larger than the " +
                                    std::to_string(kMaxRecordBytes) + " bytes the log format allows");
  }
  const std::int64_t now = clock_->wall_ms();
  std::unique_lock lock(core_->mu);
  if (id == 0 || id >= streams_.size() || !streams_[id]) return no_stream(id);
  Stream& s = *streams_[id];
  if (closed_) return Status::aborted("log is closing");
  if (quota_full_) {
    return Status::full("log quota of " + std::to_string(options_.quota_bytes) + " bytes reached (" +
                        std::to_string(total_stored_.load()) + " stored); stream '" + s.name + "' append refused");
  }
  if (pending_bytes_ >= max_pending_bytes_) {
    // Backpressure: the flusher is behind (or failing). Wait for it, but report a failure.
    if (!kicked_) {
      kicked_ = true;
      flusher_cv_.notify_one();
    }
    done_cv_.wait_for(lock, std::chrono::seconds(5), [&] {
      return pending_bytes_ < max_pending_bytes_ || closed_ || !last_round_status_.is_ok();
    });
    if (pending_bytes_ >= max_pending_bytes_) {
      if (!last_round_status_.is_ok()) return last_round_status_;
      return Status::io_error("log flusher is not keeping up: " + std::to_string(pending_bytes_) + " bytes pending");
    }
  }
  const std::int64_t ingest = std::max(now, s.last_ingest_ms);
  const std::int64_t event = r.event_time_ms.value_or(ingest);
  const std::uint64_t seq = s.next_seq;
  if (durability == AppendDurability::kWritten) {
    OUTPOST_RETURN_IF_ERROR(write_journal(s, seq, ingest, event, r));
  }
  s.next_seq = seq + 1;
  s.last_ingest_ms = ingest;
  encode_into(s, seq, ingest, event, r.key, r.payload);
  if (pending_bytes_ >= options_.flush_bytes && !kicked_) {
    kicked_ = true;
    lock.unlock();
    flusher_cv_.notify_one();
  }
  return seq;
}

Status LogImpl::flush() {
  if (options_.read_only) return Status::ok();
  std::unique_lock lock(core_->mu);
  if (closed_) return Status::aborted("log is closing");
  const std::uint64_t want = rounds_started_ + 1;
  flush_requested_ = true;
  flusher_cv_.notify_one();
  done_cv_.wait(lock, [&] { return rounds_done_ >= want || closed_; });
  if (rounds_done_ < want) return Status::aborted("log closed during flush");
  return last_round_status_;
}

Status LogImpl::last_commit_status() const {
  std::lock_guard lock(core_->mu);
  return last_round_status_;
}

std::uint64_t LogImpl::durable_seq(StreamId id) const {
  auto s = stream_by_id(id);
  return s ? s->durable_seq.load() : kNoSeq;
}

std::uint64_t LogImpl::last_seq(StreamId id) const {
  std::lock_guard lock(core_->mu);
  if (id == 0 || id >= streams_.size() || !streams_[id]) return kNoSeq;
  return streams_[id]->next_seq - 1;
}

// ---- group commit -------------------------------------------------------------------------------

void LogImpl::release_idle_indexes() {
  // Caller holds io_mu_. Never the active (last) segment of a stream: the flusher appends to
  // its index.
  const std::int64_t now = clock_->steady_ms();
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock(core_->mu);
    for (auto& sp : streams_) {
      if (sp) streams.push_back(sp);
    }
  }
  for (auto& sp : streams) {
    std::vector<std::shared_ptr<Segment>> segs;
    {
      std::lock_guard lock(sp->seg_mu);
      segs = sp->segments;
    }
    for (std::size_t i = 0; i + 1 < segs.size(); ++i) {
      Segment& g = *segs[i];
      std::lock_guard lock(g.mu);
      if (!g.index_complete || g.index.empty() || now - g.index_used_ms < kIndexIdleMs) continue;
      g.index.release();
      g.index_complete = false;
      g.indexed_end = kSegmentHeaderBytes;
      g.index_next_seq = 0;
    }
  }
}

Status LogImpl::roll(Stream& s) {
  // Caller holds io_mu_. Seals the active segment and starts an empty one named by the next
  // sequence, so the next sequence is always derivable from the files.
  std::shared_ptr<Segment> old;
  {
    std::lock_guard lock(s.seg_mu);
    old = s.segments.back();
  }
  std::uint64_t next;
  {
    std::lock_guard lock(old->mu);
    if (s.active) OUTPOST_RETURN_IF_ERROR(s.active->sync());
    next = old->last_seq + 1;
  }
  // If the new segment cannot be made (disk full), the old one stays active and unsealed and
  // the next round tries the roll again; nothing is half switched.
  std::shared_ptr<Segment> seg;
  OUTPOST_RETURN_IF_ERROR(create_segment(s, next, &seg));
  SegmentRow row;
  {
    std::lock_guard lock(old->mu);
    old->sealed = true;
    old->sealed_clock_ms = log_clock_ms();
    row = row_of(s, *old);
    // Readers following the tail are still finishing this segment: keep its index for
    // kIndexIdleMs after their last use (release_idle_indexes).
    old->index_used_ms = clock_->steady_ms();
  }
  {
    std::lock_guard lock(s.seg_mu);
    s.segments.push_back(seg);
  }
  persist_clock();
  // A failure here leaves the catalog's row of the old segment stale; open() rescans a row
  // that disagrees with its file (the file wins).
  return catalog_->upsert_segment(row);
}

Status LogImpl::write_blocks(Stream& s, std::vector<PendingBlock>& blocks, std::size_t* done, bool sync) {
  // Caller holds io_mu_. Writes blocks[*done..] to the active segment(s), rolling as needed.
  std::size_t i = *done;
  while (i < blocks.size()) {
    std::shared_ptr<Segment> seg;
    {
      std::lock_guard lock(s.seg_mu);
      seg = s.segments.back();
    }
    if (!s.active) {
      auto w = core_->env->open_appendable(seg->path);
      if (!w) return w.status();
      s.active = std::move(*w);
    }
    const std::uint64_t start_size = s.active->size();
    write_buf_.clear();
    std::vector<BlockEntry> entries;
    std::size_t j = i;
    while (j < blocks.size()) {
      const std::size_t before = write_buf_.size();
      OUTPOST_RETURN_IF_ERROR(compressor_->compress(blocks[j].raw.view(), blocks[j].meta, &write_buf_));
      BlockHeader h;
      (void)decode_block_header(write_buf_.data() + before, &h);
      BlockEntry e;
      e.offset = start_size + before;
      e.length = write_buf_.size() - before;
      e.first_seq = h.first_seq;
      e.last_seq = h.last_seq();
      e.count = h.record_count;
      e.raw_len = h.raw_len;
      e.min_event_ms = h.min_event_ms;
      e.max_event_ms = h.max_event_ms;
      e.min_ingest_ms = h.min_ingest_ms;
      e.max_ingest_ms = h.max_ingest_ms;
      entries.push_back(e);
      ++j;
      if (start_size + write_buf_.size() >= options_.segment_bytes) break;
    }
    Status st = s.active->append(write_buf_.view());
    if (st.is_ok() && sync) st = s.active->sync();
    if (!st.is_ok()) {
      // Nothing of this write counts: cut it off so the file ends at a whole block, and keep
      // the blocks for the next round.
      Status t = s.active->truncate(start_size);
      if (!t.is_ok()) s.active.reset();
      return st;
    }
    {
      std::lock_guard lock(seg->mu);
      for (auto& e : entries) {
        seg->add_block_stats(e);
        seg->index.push_back(e);
      }
      seg->stored_bytes = s.active->size();
      seg->indexed_end = seg->stored_bytes;
      seg->index_next_seq = seg->last_seq + 1;
    }
    total_stored_ += write_buf_.size();
    i = j;
    *done = i;
    bool full = s.active->size() >= options_.segment_bytes;
    {
      std::lock_guard lock(seg->mu);
      full = full || seg->index.size() >= kMaxBlocksPerSegment;
    }
    if (full) OUTPOST_RETURN_IF_ERROR(roll(s));
  }
  write_buf_.clear_for(0);  // a commit after a burst writes many blocks at once
  return Status::ok();
}

Status LogImpl::commit_round(bool force_sync, std::vector<std::pair<StreamId, std::uint64_t>>* advanced) {
  // Caller holds io_mu_.
  struct Work {
    std::shared_ptr<Stream> stream;
    std::vector<PendingBlock> blocks;
    std::vector<RetiredJournal> journals;
    std::uint64_t raw_bytes = 0;
  };
  std::vector<Work> work;
  {
    std::lock_guard lock(core_->mu);
    ++rounds_started_;
    kicked_ = false;
    for (auto& sp : streams_) {
      if (!sp) continue;
      Stream& s = *sp;
      if (s.open_meta.count > 0) seal_open_block(s);
      if (s.journal && s.journal_last_seq != 0) {
        // Rotate: every record of this journal is in the blocks taken now.
        s.retired_journals.push_back(RetiredJournal{s.journal_path, s.journal_last_seq});
        s.journal.reset();
        s.journal_last_seq = 0;
      }
      if (s.sealed_blocks.empty() && s.retired_journals.empty()) continue;
      Work w;
      w.stream = sp;
      while (!s.sealed_blocks.empty()) {
        w.raw_bytes += s.sealed_blocks.front().raw.size();
        w.blocks.push_back(std::move(s.sealed_blocks.front()));
        s.sealed_blocks.pop_front();
      }
      w.journals.swap(s.retired_journals);
      work.push_back(std::move(w));
    }
  }
  const bool sync = force_sync || options_.fsync == FsyncMode::kAlways;
  Status result;
  for (auto& w : work) {
    Stream& s = *w.stream;
    std::size_t done = 0;
    Status st = w.blocks.empty() ? Status::ok() : write_blocks(s, w.blocks, &done, sync);
    std::uint64_t durable = done > 0 ? w.blocks[done - 1].meta.first_seq + w.blocks[done - 1].meta.count - 1 : 0;
    {
      std::lock_guard lock(core_->mu);
      std::uint64_t returned = 0;
      for (std::size_t k = done; k < w.blocks.size(); ++k) returned += w.blocks[k].raw.size();
      pending_bytes_ -= (w.raw_bytes - returned);
      // Unwritten blocks go back to the front, in order, for the next round.
      for (std::size_t k = w.blocks.size(); k > done; --k) s.sealed_blocks.push_front(std::move(w.blocks[k - 1]));
      if (durable > s.durable_seq.load()) {
        s.durable_seq.store(durable, std::memory_order_release);
        if (advanced) advanced->emplace_back(s.id, durable);
      }
      // Journals whose records are all durable are no longer needed.
      std::vector<RetiredJournal> keep;
      for (auto& j : w.journals) {
        if (j.last_seq > s.durable_seq.load()) keep.push_back(std::move(j));
      }
      if (!keep.empty()) {
        keep.insert(keep.end(), std::make_move_iterator(s.retired_journals.begin()),
                    std::make_move_iterator(s.retired_journals.end()));
        s.retired_journals.swap(keep);
        std::erase_if(w.journals, [&](const RetiredJournal& j) { return j.last_seq > s.durable_seq.load(); });
      }
    }
    for (auto& j : w.journals) (void)core_->env->remove_file(j.path);
    if (!st.is_ok() && result.is_ok()) result = st.with_context("stream '" + s.name + "'");
  }
  if (options_.quota_bytes > 0) {
    std::lock_guard lock(core_->mu);
    if (total_stored_.load() >= options_.quota_bytes && options_.on_full == FullPolicy::kRejectNew) quota_full_ = true;
  }
  {
    std::lock_guard lock(core_->durable_mu);
  }
  core_->durable_cv.notify_all();
  return result;
}

void LogImpl::flusher_main() {
  auto next_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.flush_interval_ms);
  for (;;) {
    bool closing;
    {
      std::unique_lock lock(core_->mu);
      flusher_cv_.wait_until(lock, next_deadline, [&] {
        return closed_ || flush_requested_ || (kicked_ && pending_bytes_ >= options_.flush_bytes) ||
               pending_bytes_ >= max_pending_bytes_;
      });
      closing = closed_;
      flush_requested_ = false;
    }
    next_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.flush_interval_ms);
    std::vector<std::pair<StreamId, std::uint64_t>> advanced;
    Status st;
    {
      std::lock_guard io(io_mu_);
      st = commit_round(closing, &advanced);
      const std::int64_t now = clock_->steady_ms();
      if (!closing && now - last_retention_ms_ >= kRetentionIntervalMs) {
        last_retention_ms_ = now;
        (void)enforce_retention_locked();
      }
      if (!closing && now - last_index_sweep_ms_ >= kIndexSweepIntervalMs) {
        last_index_sweep_ms_ = now;
        release_idle_indexes();
      }
      if (closing || now - last_clock_persist_ms_ >= clock_persist_interval_ms()) persist_clock();
    }
    // Listeners run before the round counts as done, so when flush() returns they have
    // been told (outside all store locks except listener_mu_).
    if (!advanced.empty()) {
      std::lock_guard lock(listener_mu_);
      if (listener_) {
        for (auto& [id, seq] : advanced) listener_(id, seq);
      }
    }
    {
      std::lock_guard lock(core_->mu);
      ++rounds_done_;
      last_round_status_ = st;
    }
    done_cv_.notify_all();
    if (closing) return;
  }
}

std::int64_t LogImpl::clock_persist_interval_ms() const {
  // The process's running time at the last save, within [kClockPersistMinMs, kClockPersistMaxMs].
  return std::clamp(last_clock_persist_ms_ - steady_at_open_ms_, kClockPersistMinMs, kClockPersistMaxMs);
}

void LogImpl::persist_clock() {
  // Every caller holds io_mu_ (or is open()/close(), before or after the flusher runs).
  last_clock_persist_ms_ = clock_->steady_ms();
  if (catalog_ && !options_.read_only) (void)catalog_->set_meta(kClockKey, std::to_string(log_clock_ms()));
}

void LogImpl::close() {
  if (options_.read_only) {
    core_->closing = true;
    core_->durable_cv.notify_all();
    return;
  }
  {
    std::lock_guard lock(core_->mu);
    if (closed_) return;
    closed_ = true;
  }
  flusher_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  done_cv_.notify_all();
  {
    std::lock_guard io(io_mu_);
    // Anything a failing last round left behind gets one more try.
    (void)commit_round(true, nullptr);
    persist_clock();
    std::lock_guard lock(core_->mu);
    for (auto& s : streams_) {
      if (!s) continue;
      if (s->journal) {
        s->journal.reset();
        if (s->journal_last_seq == 0 || s->journal_last_seq <= s->durable_seq.load()) {
          (void)core_->env->remove_file(s->journal_path);
        }
      }
      s->active.reset();
    }
  }
  core_->closing = true;
  {
    std::lock_guard lock(core_->durable_mu);
  }
  core_->durable_cv.notify_all();
  catalog_.reset();
  lock_.reset();
}

// ---- reads, cursors, checkpoints, meta -------------------------------------------------------

Result<std::unique_ptr<Reader>> LogImpl::read(StreamId id, const ReadOptions& options) {
  auto s = stream_by_id(id);
  if (!s) return no_stream(id);
  return std::unique_ptr<Reader>(new ReaderImpl(core_, s, options));
}

Status no_catalog() { return Status::not_found("log has no catalog (read-only open of a directory without catalog.db)"); }

Status LogImpl::register_cursor(StreamId id, std::string_view name) {
  if (!stream_by_id(id)) return no_stream(id);
  if (!catalog_) return no_catalog();
  return catalog_->put_cursor(id, std::string(name), 0, false);
}
Status LogImpl::unregister_cursor(StreamId id, std::string_view name) {
  if (!stream_by_id(id)) return no_stream(id);
  if (!catalog_) return no_catalog();
  return catalog_->delete_cursor(id, std::string(name));
}
Status LogImpl::commit_cursor(StreamId id, std::string_view name, std::uint64_t seq) {
  if (!stream_by_id(id)) return no_stream(id);
  if (!catalog_) return no_catalog();
  return catalog_->put_cursor(id, std::string(name), seq, true);
}
Result<std::optional<std::uint64_t>> LogImpl::cursor(StreamId id, std::string_view name) const {
  if (!stream_by_id(id)) return no_stream(id);
  if (!catalog_) return std::optional<std::uint64_t>();
  return catalog_->cursor(id, std::string(name));
}
Status LogImpl::save_checkpoint(const Checkpoint& c) {
  if (!catalog_) return no_catalog();
  return catalog_->save_checkpoint(c, clock_->wall_ms());
}
Result<std::optional<Checkpoint>> LogImpl::load_checkpoint(std::string_view query) const {
  if (!catalog_) return std::optional<Checkpoint>();
  return catalog_->load_checkpoint(std::string(query));
}
Status LogImpl::set_meta(std::string_view key, std::string_view value) {
  if (!catalog_) return no_catalog();
  return catalog_->set_meta(std::string(key), std::string(value));
}
Result<std::optional<std::string>> LogImpl::meta(std::string_view key) const {
  if (!catalog_) return std::optional<std::string>();
  return catalog_->meta(std::string(key));
}
std::vector<DroppedRange> LogImpl::dropped_ranges(std::int64_t after_id) const {
  if (!catalog_) return {};
  auto r = catalog_->dropped(after_id, nullptr);
  return r ? std::move(*r) : std::vector<DroppedRange>{};
}

// ---- retention --------------------------------------------------------------------------------

Status LogImpl::enforce_retention() {
  if (options_.read_only) return Status::invalid_argument("log opened read-only: retention does not run");
  std::lock_guard io(io_mu_);
  return enforce_retention_locked();
}

Status LogImpl::enforce_retention_locked() {
  // Caller holds io_mu_. Only whole sealed segments go, oldest first, never the active one.
  struct Candidate {
    std::shared_ptr<Stream> stream;
    std::shared_ptr<Segment> seg;
    bool quota = false;
  };
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock(core_->mu);
    for (auto& s : streams_) if (s) streams.push_back(s);
  }
  const std::int64_t now = log_clock_ms();
  std::vector<Candidate> doomed;
  // Per stream: the sealed segments left after age/size retention, oldest first.
  std::vector<std::deque<std::shared_ptr<Segment>>> left(streams.size());
  std::uint64_t total = 0;
  for (std::size_t k = 0; k < streams.size(); ++k) {
    auto& s = streams[k];
    std::uint64_t floor = ~0ull;
    auto cursors = catalog_->cursors(s->id);
    if (!cursors) return cursors.status();
    for (auto& c : *cursors) floor = std::min(floor, c.seq);
    StreamOptions opts;
    {
      std::lock_guard lock(core_->mu);
      opts = s->options;
    }
    std::vector<std::shared_ptr<Segment>> segs;
    {
      std::lock_guard lock(s->seg_mu);
      segs = s->segments;
    }
    std::uint64_t stream_bytes = 0;
    for (auto& seg : segs) {
      std::lock_guard lock(seg->mu);
      stream_bytes += seg->stored_bytes;
    }
    bool blocked = false;
    for (std::size_t i = 0; i + 1 < segs.size(); ++i) {
      auto& seg = segs[i];
      std::lock_guard lock(seg->mu);
      bool go = false;
      if (!blocked && seg->sealed && seg->last_seq <= floor) {
        if (opts.retention_ms > 0 && now - seg->sealed_clock_ms >= opts.retention_ms) go = true;
        if (opts.retention_bytes > 0 && stream_bytes > opts.retention_bytes) go = true;
      }
      if (go) {
        stream_bytes -= seg->stored_bytes;
        doomed.push_back(Candidate{s, seg, false});
      } else {
        blocked = true;  // keep the order: never delete a newer segment before an older one
        left[k].push_back(seg);
      }
    }
    total += stream_bytes;
  }
  {
    std::lock_guard lock(core_->mu);
    if (options_.quota_bytes > 0 && total > options_.quota_bytes && options_.on_full == FullPolicy::kDropOldest) {
      // Oldest first across streams (by last ingest time), cursors or not.
      while (total > options_.quota_bytes) {
        int best = -1;
        std::int64_t best_t = kMaxTime;
        for (std::size_t k = 0; k < left.size(); ++k) {
          if (left[k].empty()) continue;
          std::lock_guard sl(left[k].front()->mu);
          if (best < 0 || left[k].front()->max_ingest_ms < best_t) {
            best = static_cast<int>(k);
            best_t = left[k].front()->max_ingest_ms;
          }
        }
        if (best < 0) break;
        auto seg = left[best].front();
        left[best].pop_front();
        {
          std::lock_guard sl(seg->mu);
          total -= seg->stored_bytes;
        }
        doomed.push_back(Candidate{streams[best], seg, true});
      }
    }
    if (options_.quota_bytes > 0) {
      quota_full_ = options_.on_full == FullPolicy::kRejectNew ? total >= options_.quota_bytes
                                                               : total > options_.quota_bytes;
    } else {
      quota_full_ = false;
    }
  }
  if (doomed.empty()) return Status::ok();
  // 1. The catalog forgets the segments (durably) and records quota losses...
  std::vector<SegmentRow> rows;
  std::vector<DroppedRange> dropped;
  for (auto& c : doomed) {
    std::lock_guard lock(c.seg->mu);
    rows.push_back(row_of(*c.stream, *c.seg));
    if (c.quota && c.seg->records > 0) {
      DroppedRange d;
      d.stream = c.stream->name;
      d.first_seq = c.seg->first_seq;
      d.last_seq = c.seg->last_seq;
      d.reason = "quota";
      d.wall_time_ms = clock_->wall_ms();
      dropped.push_back(d);
    }
  }
  OUTPOST_RETURN_IF_ERROR(catalog_->mark_deleting(rows, dropped));
  // 2. ...then the files go (Vector #25570); open() finishes either half after a crash.
  std::set<std::filesystem::path> dirs;
  for (auto& c : doomed) {
    {
      std::lock_guard lock(c.stream->seg_mu);
      std::erase(c.stream->segments, c.seg);
    }
    OUTPOST_RETURN_IF_ERROR(core_->env->remove_file(c.seg->path));
    std::lock_guard lock(c.seg->mu);
    total_stored_ -= c.seg->stored_bytes;
    dirs.insert(c.stream->dir);
  }
  for (auto& d : dirs) OUTPOST_RETURN_IF_ERROR(core_->env->sync_dir(d));
  for (auto& r : rows) OUTPOST_RETURN_IF_ERROR(catalog_->delete_segment(r.stream_id, r.first_seq));
  {
    std::lock_guard lock(core_->mu);
    if (options_.quota_bytes > 0 && options_.on_full == FullPolicy::kRejectNew) {
      quota_full_ = total_stored_.load() >= options_.quota_bytes;
    }
  }
  return Status::ok();
}

// ---- stats and verify -------------------------------------------------------------------------

Result<StreamStats> LogImpl::stats(StreamId id) const {
  auto s = stream_by_id(id);
  if (!s) return no_stream(id);
  StreamStats out;
  out.name = s->name;
  {
    std::lock_guard lock(core_->mu);
    out.last_seq = s->next_seq - 1;
  }
  out.durable_seq = s->durable_seq.load();
  std::vector<std::shared_ptr<Segment>> segs;
  {
    std::lock_guard lock(s->seg_mu);
    segs = s->segments;
  }
  out.segments = segs.size();
  for (auto& seg : segs) {
    std::lock_guard lock(seg->mu);
    out.records += seg->records;
    out.raw_bytes += seg->raw_bytes;
    out.stored_bytes += seg->stored_bytes;
    out.index_entries += seg->index.size();
    if (out.first_seq == kNoSeq && seg->records > 0) out.first_seq = seg->first_seq;
  }
  if (options_.read_only) {
    out.last_seq = segs.empty() ? kNoSeq : segs.back()->last_seq;
    out.durable_seq = out.last_seq;
  }
  if (catalog_) {
    auto d = catalog_->dropped(0, &s->name);
    if (d) out.dropped = std::move(*d);
  }
  return out;
}

Result<std::vector<Damage>> LogImpl::verify() {
  std::vector<Damage> out;
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock(core_->mu);
    for (auto& s : streams_) if (s) streams.push_back(s);
  }
  for (auto& s : streams) {
    std::vector<std::shared_ptr<Segment>> segs;
    std::vector<std::uint64_t> limits;
    if (options_.read_only) {
      // Also see segments the writer created since open.
      auto names = core_->env->list_dir(s->dir);
      if (names) {
        std::vector<std::uint64_t> firsts;
        for (auto& n : *names) {
          auto p = parse_file_name(n);
          if (p && p->kind == FileKind::kSegment) firsts.push_back(p->first_seq);
        }
        std::sort(firsts.begin(), firsts.end());
        for (auto f : firsts) segs.push_back(std::make_shared<Segment>(s->dir / segment_file_name(f), f));
      }
    } else {
      std::lock_guard lock(s->seg_mu);
      segs = s->segments;
    }
    for (auto& seg : segs) {
      if (options_.read_only) {
        auto sz = core_->env->file_size(seg->path);
        limits.push_back(sz ? *sz : 0);
      } else {
        std::lock_guard lock(seg->mu);
        limits.push_back(seg->stored_bytes);
      }
    }
    for (std::size_t i = 0; i < segs.size(); ++i) {
      const auto& seg = segs[i];
      const bool is_last = i + 1 == segs.size();
      // The newest segment, shorter than its header, is being created (or its writer died
      // doing so, which a writer's open repairs): nothing in it is durable, nothing is damaged.
      if (options_.read_only && is_last && limits[i] < kSegmentHeaderBytes) continue;
      auto f = core_->env->open_readable(seg->path);
      if (!f) {
        if (f.status().code() == Status::Code::kNotFound) continue;  // retention meanwhile
        out.push_back(Damage{s->name, seg->path, 0, 0, kNoSeq, kNoSeq, f.status().message()});
        continue;
      }
      SegmentHeader h;
      std::string herr = read_segment_header(**f, &h);
      if (herr.empty() && h.first_seq != seg->first_seq) herr = "segment header names another first sequence";
      if (!herr.empty()) out.push_back(Damage{s->name, seg->path, 0, kSegmentHeaderBytes, kNoSeq, kNoSeq, herr});
      ScanOptions o;
      o.expected_seq = seg->first_seq;
      o.limit = limits[i];
      o.verify_payloads = true;
      o.deep = true;
      ScanResult r;
      if (o.limit > kSegmentHeaderBytes) {
        Status st = scan_segment(**f, o, &r);
        if (!st.is_ok()) {
          out.push_back(Damage{s->name, seg->path, 0, 0, kNoSeq, kNoSeq, st.message()});
          continue;
        }
      } else {
        continue;
      }
      for (auto& e : r.entries) {
        if (e.damaged) out.push_back(Damage{s->name, seg->path, e.offset, e.length, e.first_seq, e.last_seq, e.message});
      }
      const bool growing_tail = options_.read_only && is_last;
      if (r.has_tail && !r.tail_zero_fill && !growing_tail) {
        std::uint64_t last = is_last ? r.tail_last_seq : segs[i + 1]->first_seq - 1;
        out.push_back(Damage{s->name, seg->path, r.valid_end, o.limit - r.valid_end, r.next_seq, last, r.tail_message});
      }
    }
  }
  return out;
}

}  // namespace
}  // namespace internal

Result<std::unique_ptr<Log>> Log::open(const Options& options, RecoveryReport* report) {
  auto log = std::make_unique<internal::LogImpl>(options);
  Status st = log->open(report);
  if (!st.is_ok()) return st.with_context("opening log " + options.data_dir.string());
  return std::unique_ptr<Log>(std::move(log));
}

}  // namespace outpost::store
