// An in-memory store::Log for unit tests of sync/ (no files, instant "durability").
// Integration tests use the real store; this one lets a test drop ranges at will.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/log.h"

namespace outpost::testing {

class FakeLog final : public store::Log {
 public:
  struct Rec {
    std::uint64_t seq;
    std::int64_t ts;
    bool has_key;
    std::string key;
    std::string payload;
  };
  struct Stream {
    std::string name;
    std::vector<Rec> recs;  // kept records, ascending seq
    std::uint64_t last = 0;
    std::map<std::string, std::uint64_t> cursors;
  };

  // Test hook: a reader about to read past `seq` blocks in next() until release_readers().
  // Stalls the mirror thread right after it produced up to `seq`, so it serves no delivery
  // report meanwhile: what a starved thread on a loaded machine does, but for as long as the
  // test needs.
  void stall_readers_after(std::uint64_t seq) {
    std::lock_guard<std::mutex> lk(mu_);
    stall_after_ = seq;
  }
  void release_readers() {
    std::lock_guard<std::mutex> lk(mu_);
    stall_after_ = kNoStall;
    cv_.notify_all();
  }
  bool reader_stalled() const {
    std::lock_guard<std::mutex> lk(mu_);
    return stalled_ > 0;
  }

  // Test hook: while set, commit_cursor fails (a catalog that cannot be written).
  void fail_cursor_commits(bool fail) {
    std::lock_guard<std::mutex> lk(mu_);
    fail_cursor_commits_ = fail;
  }
  // Test hook: the most any record read from the stream so far was ahead of the cursor
  // `name` as saved at that moment (seq - saved cursor; no cursor counts as 0). A mirror sends
  // only what it read, so this is the most a crash at any moment would have re-sent.
  void watch_cursor(store::StreamId id, std::string name) {
    std::lock_guard<std::mutex> lk(mu_);
    watch_ = {id, std::move(name)};
    max_read_ahead_ = 0;
  }
  std::uint64_t max_read_ahead() const {
    std::lock_guard<std::mutex> lk(mu_);
    return max_read_ahead_;
  }

  Result<store::StreamId> open_stream(std::string_view name, const store::StreamOptions& = {}) override {
    std::lock_guard<std::mutex> lk(mu_);
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      if (streams_[i].name == name) return static_cast<store::StreamId>(i);
    }
    streams_.push_back(Stream{std::string(name), {}, 0, {}});
    return static_cast<store::StreamId>(streams_.size() - 1);
  }
  Result<store::StreamId> find_stream(std::string_view name) const override {
    std::lock_guard<std::mutex> lk(mu_);
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      if (streams_[i].name == name) return static_cast<store::StreamId>(i);
    }
    return Status::not_found(std::string(name));
  }
  std::vector<std::string> stream_names() const override {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<std::string> out;
    for (auto& s : streams_) out.push_back(s.name);
    return out;
  }
  Result<std::uint64_t> append(store::StreamId id, const store::AppendRecord& r,
                               store::AppendDurability = store::AppendDurability::kBuffered) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto& s = streams_[id];
    std::uint64_t seq = ++s.last;
    s.recs.push_back(Rec{seq, r.event_time_ms.value_or(1000), r.key.has_value(),
                         r.key ? std::string(*r.key) : std::string(), std::string(r.payload)});
    cv_.notify_all();
    return seq;
  }
  Status flush() override { return Status::ok(); }
  std::uint64_t durable_seq(store::StreamId id) const override {
    std::lock_guard<std::mutex> lk(mu_);
    return streams_[id].last;
  }
  std::uint64_t last_seq(store::StreamId id) const override { return durable_seq(id); }
  void set_durable_listener(DurableListener) override {}

  class FakeReader final : public store::Reader {
   public:
    FakeReader(FakeLog* log, store::StreamId id, std::uint64_t from) : log_(log), id_(id), next_(from) {}
    Next next(store::RecordView* out) override {
      std::unique_lock<std::mutex> lk(log_->mu_);
      if (next_ > log_->stall_after_) {
        ++log_->stalled_;
        log_->cv_.wait(lk, [&] { return next_ <= log_->stall_after_; });
        --log_->stalled_;
      }
      auto& recs = log_->streams_[id_].recs;
      auto it = std::lower_bound(recs.begin(), recs.end(), next_,
                                 [](const Rec& r, std::uint64_t s) { return r.seq < s; });
      if (it == recs.end()) return Next::kEnd;
      cur_ = *it;
      next_ = cur_.seq + 1;
      if (log_->watch_ && log_->watch_->first == id_) {
        auto& cursors = log_->streams_[id_].cursors;
        auto c = cursors.find(log_->watch_->second);
        std::uint64_t saved = c == cursors.end() ? 0 : c->second;
        if (cur_.seq > saved) log_->max_read_ahead_ = std::max(log_->max_read_ahead_, cur_.seq - saved);
      }
      out->seq = cur_.seq;
      out->event_time_ms = cur_.ts;
      out->ingest_time_ms = cur_.ts;
      out->has_key = cur_.has_key;
      out->key = cur_.key;
      out->payload = cur_.payload;
      return Next::kRecord;
    }
    const store::Damage& damage() const override { return damage_; }
    bool wait(std::int64_t timeout_ms) override {
      std::unique_lock<std::mutex> lk(log_->mu_);
      log_->cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                         [&] { return log_->streams_[id_].last >= next_; });
      return log_->streams_[id_].last >= next_;
    }

   private:
    FakeLog* log_;
    store::StreamId id_;
    std::uint64_t next_;
    Rec cur_{};
    store::Damage damage_;
  };

  Result<std::unique_ptr<store::Reader>> read(store::StreamId id, const store::ReadOptions& o) override {
    return std::unique_ptr<store::Reader>(new FakeReader(this, id, o.from_seq));
  }
  Status register_cursor(store::StreamId id, std::string_view name) override {
    std::lock_guard<std::mutex> lk(mu_);
    registered_.insert({id, std::string(name)});
    return Status::ok();
  }
  Status unregister_cursor(store::StreamId, std::string_view) override { return Status::ok(); }
  Status commit_cursor(store::StreamId id, std::string_view name, std::uint64_t seq) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (fail_cursor_commits_) return Status::io_error("catalog: store cursor: disk I/O error (test)");
    streams_[id].cursors[std::string(name)] = seq;
    return Status::ok();
  }
  Result<std::optional<std::uint64_t>> cursor(store::StreamId id, std::string_view name) const override {
    std::lock_guard<std::mutex> lk(mu_);
    auto& c = streams_[id].cursors;
    auto it = c.find(std::string(name));
    if (it == c.end()) return std::optional<std::uint64_t>{};
    return std::optional<std::uint64_t>{it->second};
  }
  Status save_checkpoint(const store::Checkpoint&) override { return Status::ok(); }
  Result<std::optional<store::Checkpoint>> load_checkpoint(std::string_view) const override {
    return std::optional<store::Checkpoint>{};
  }
  Status set_meta(std::string_view k, std::string_view v) override {
    std::lock_guard<std::mutex> lk(mu_);
    meta_[std::string(k)] = std::string(v);
    return Status::ok();
  }
  Result<std::optional<std::string>> meta(std::string_view k) const override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = meta_.find(std::string(k));
    if (it == meta_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  std::vector<store::DroppedRange> dropped_ranges(std::int64_t after_id = 0) const override {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<store::DroppedRange> out;
    for (auto& d : dropped_) {
      if (d.id > after_id) out.push_back(d);
    }
    return out;
  }
  Status enforce_retention() override { return Status::ok(); }
  Result<store::StreamStats> stats(store::StreamId id) const override {
    std::lock_guard<std::mutex> lk(mu_);
    store::StreamStats st;
    st.name = streams_[id].name;
    st.records = streams_[id].recs.size();
    for (auto& r : streams_[id].recs) st.raw_bytes += r.payload.size();
    st.last_seq = st.durable_seq = streams_[id].last;
    return st;
  }
  std::uint64_t total_stored_bytes() const override { return 0; }
  Result<std::vector<store::Damage>> verify() override { return std::vector<store::Damage>{}; }
  std::int64_t log_clock_ms() const override { return 0; }

  // Test helper: forgets first..last of a stream and records why (like a quota drop).
  void drop(store::StreamId id, std::uint64_t first, std::uint64_t last, const std::string& reason) {
    std::lock_guard<std::mutex> lk(mu_);
    auto& recs = streams_[id].recs;
    recs.erase(std::remove_if(recs.begin(), recs.end(),
                              [&](const Rec& r) { return r.seq >= first && r.seq <= last; }),
               recs.end());
    dropped_.push_back(store::DroppedRange{++drop_id_, streams_[id].name, first, last, reason, 0});
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Stream> streams_;
  std::set<std::pair<store::StreamId, std::string>> registered_;
  std::map<std::string, std::string> meta_;
  std::vector<store::DroppedRange> dropped_;
  std::int64_t drop_id_ = 0;
  static constexpr std::uint64_t kNoStall = ~std::uint64_t{0};
  std::uint64_t stall_after_ = kNoStall;  // see stall_readers_after()
  int stalled_ = 0;                       // readers blocked there now
  bool fail_cursor_commits_ = false;      // see fail_cursor_commits()
  std::optional<std::pair<store::StreamId, std::string>> watch_;  // see watch_cursor()
  std::uint64_t max_read_ahead_ = 0;
};

}  // namespace outpost::testing
