#include "agent/runtime/query_host.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "agent/decode/json_text.h"
#include "agent/runtime/logging.h"

namespace outpost::runtime {
namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Status sql_error_status(const query::SqlError& e) {
  return Status::invalid_argument(e.to_string());
}

Result<std::shared_ptr<const query::Query>> compile_sql(const std::string& sql,
                                                        const query::Catalog& catalog) {
  auto compiled = query::compile(sql, catalog);
  if (auto* e = std::get_if<query::SqlError>(&compiled)) return sql_error_status(*e);
  return std::get<std::shared_ptr<const query::Query>>(std::move(compiled));
}

// The checkpoint's opaque state: a header the host owns, then the executor's bytes.
//   "oq1 <sql fingerprint hex> <late_seq>\n" + executor state
// The fingerprint tells a restart that the SQL changed, so the old operator state (windows of
// another query) is not loaded into the new one.
struct HostState {
  std::uint64_t sql_fingerprint = 0;
  std::uint64_t late_seq = 0;
  std::string executor_state;
};

std::uint64_t fingerprint(const std::string& sql) { return XXH3_64bits(sql.data(), sql.size()); }

std::string encode_state(const HostState& s) {
  char head[64];
  int n = std::snprintf(head, sizeof head, "oq1 %016llx %llu\n",
                        static_cast<unsigned long long>(s.sql_fingerprint),
                        static_cast<unsigned long long>(s.late_seq));
  std::string out(head, static_cast<std::size_t>(n));
  out += s.executor_state;
  return out;
}

Result<HostState> decode_state(std::string_view bytes) {
  HostState s;
  auto nl = bytes.find('\n');
  if (bytes.substr(0, 4) != "oq1 " || nl == std::string_view::npos || nl < 22) {
    return Status::corruption("query checkpoint state has an unknown header");
  }
  std::string_view head = bytes.substr(4, nl - 4);
  auto r1 = std::from_chars(head.data(), head.data() + 16, s.sql_fingerprint, 16);
  if (r1.ec != std::errc() || r1.ptr != head.data() + 16 || head.size() < 18 || head[16] != ' ') {
    return Status::corruption("query checkpoint state: bad SQL fingerprint");
  }
  auto r2 = std::from_chars(head.data() + 17, head.data() + head.size(), s.late_seq);
  if (r2.ec != std::errc() || r2.ptr != head.data() + head.size()) {
    return Status::corruption("query checkpoint state: bad late sequence");
  }
  s.executor_state = std::string(bytes.substr(nl + 1));
  return s;
}

// A late input record as stored in the late stream: which query, which input record, why,
// and the record's payload (as JSON when it is JSON).
std::string late_record_json(const std::string& query_name, const store::RecordView& in,
                             std::string_view reason) {
  std::string out = "{\"query\":";
  decode::append_json_string(&out, query_name);
  out += ",\"seq\":" + std::to_string(in.seq);
  out += ",\"event_time\":" + std::to_string(in.event_time_ms);
  out += ",\"reason\":";
  decode::append_json_string(&out, reason);
  out += ",\"payload\":";
  decode::append_payload_as_json(&out, in.payload);
  out += "}";
  return out;
}

class QueryHostImpl final : public QueryHost, private query::RowSink {
 public:
  QueryHostImpl(store::Log* log, QueryPlan plan, std::shared_ptr<const query::Query> query)
      : log_(log), plan_(std::move(plan)), query_(std::move(query)),
        cursor_name_("query:" + plan_.name) {
    metrics_.name = plan_.name;
    metrics_.input_stream = plan_.input_stream;
    metrics_.result_stream = plan_.result_stream;
    metrics_.state = "starting";
  }

  ~QueryHostImpl() override { stop(); }

  Status start() override {
    auto in = log_->find_stream(plan_.input_stream);
    if (!in.is_ok()) in = log_->open_stream(plan_.input_stream);
    if (!in.is_ok()) return in.status().with_context("input stream " + plan_.input_stream);
    in_ = in.value();
    auto out = log_->open_stream(plan_.result_stream);
    if (!out.is_ok()) return out.status().with_context("result stream " + plan_.result_stream);
    out_ = out.value();
    if (!plan_.late_stream.empty()) {
      auto late = log_->open_stream(plan_.late_stream);
      if (!late.is_ok()) return late.status().with_context("late stream " + plan_.late_stream);
      late_ = late.value();
    }
    OUTPOST_RETURN_IF_ERROR(restore());
    OUTPOST_RETURN_IF_ERROR(log_->register_cursor(in_, cursor_name_));
    thread_ = std::thread([this] { run(); });
    return Status::ok();
  }

  void stop() override {
    stop_requested_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  QueryMetrics metrics() const override {
    std::lock_guard lock(metrics_mu_);
    QueryMetrics m = metrics_;
    m.input_durable_seq = log_->durable_seq(in_);
    m.lag_records = m.input_durable_seq > m.input_seq ? m.input_durable_seq - m.input_seq : 0;
    return m;
  }

 private:
  query::ExecutorOptions executor_options() const {
    query::ExecutorOptions o;
    o.late_policy = plan_.late_update ? query::LatePolicy::kUpdate : query::LatePolicy::kDrop;
    o.allowed_lateness_ms = plan_.allowed_lateness_ms;
    return o;
  }

  // Where to resume: the checkpoint if there is one (replaying what was written after it),
  // else the start position. A fresh start is checkpointed at once, so that a restart before
  // the first interval resumes at the same position instead of "latest" again.
  Status restore() {
    executor_ = query::Executor::create(query_, executor_options());
    auto cp = log_->load_checkpoint(plan_.name);
    if (!cp.is_ok()) return cp.status().with_context("loading the checkpoint");
    const std::uint64_t result_last = last_or_zero(log_->last_seq(out_));
    const std::uint64_t late_last = late_ ? last_or_zero(log_->last_seq(*late_)) : 0;
    if (cp.value().has_value() && cp.value()->input_stream == plan_.input_stream) {
      const store::Checkpoint& c = *cp.value();
      input_seq_ = last_or_zero(c.input_seq);
      output_seq_ = last_or_zero(c.output_seq);
      auto st = decode_state(c.state);
      bool loaded = false;
      if (!st.is_ok()) {
        state_discarded(st.status().message() + "; starting with empty windows at input seq " +
                        std::to_string(input_seq_ + 1));
      } else if (st.value().sql_fingerprint != fingerprint(plan_.sql)) {
        late_seq_ = st.value().late_seq;
        log_warning("query", plan_.name + ": the SQL changed since the checkpoint; its window state is discarded and the "
                                          "query continues at input seq " + std::to_string(input_seq_ + 1));
      } else {
        late_seq_ = st.value().late_seq;
        Status ls = executor_->load_state(st.value().executor_state);
        if (ls.is_ok()) {
          loaded = true;
        } else {
          executor_ = query::Executor::create(query_, executor_options());
          state_discarded("checkpoint state unreadable (" + ls.message() + "); starting with empty windows at input seq " +
                          std::to_string(input_seq_ + 1));
        }
      }
      if (loaded) {
        // Rows past the checkpoint are already durable: regenerate and skip them.
        skip_rows_ = result_last > output_seq_ ? result_last - output_seq_ : 0;
        skip_late_ = late_last > late_seq_ ? late_last - late_seq_ : 0;
      } else {
        output_seq_ = result_last;
        late_seq_ = late_last;
      }
      if (result_last < output_seq_) {
        log_warning("query", plan_.name + ": the result stream ends at seq " + std::to_string(result_last) +
                                 " but the checkpoint counted " + std::to_string(output_seq_) +
                                 "; rows in between were lost from the log");
        output_seq_ = result_last;
      }
      log_info("query", plan_.name + ": resuming from the checkpoint at input seq " + std::to_string(input_seq_ + 1) +
                            (skip_rows_ ? " (" + std::to_string(skip_rows_) + " rows already written are regenerated, not repeated)" : ""));
    } else {
      if (plan_.start_earliest) {
        input_seq_ = 0;  // the reader starts at the oldest record kept
      } else {
        input_seq_ = last_or_zero(log_->durable_seq(in_));
      }
      output_seq_ = result_last;
      late_seq_ = late_last;
      log_info("query", plan_.name + ": starting at input seq " + std::to_string(input_seq_ + 1) +
                            (plan_.start_earliest ? " (earliest: backfilling history first)" : " (latest)"));
      OUTPOST_RETURN_IF_ERROR(checkpoint());
    }
    backfill_until_ = last_or_zero(log_->durable_seq(in_));
    return Status::ok();
  }

  static std::uint64_t last_or_zero(std::uint64_t seq) { return seq == store::kNoSeq ? 0 : seq; }

  void run() {
    store::ReadOptions ro;
    ro.from_seq = input_seq_ + 1;
    ro.follow = true;
    auto reader = log_->read(in_, ro);
    if (!reader.is_ok()) {
      fail("reading " + plan_.input_stream + ": " + reader.status().message());
      return;
    }
    set_state(input_seq_ < backfill_until_ ? "backfilling" : "running");
    const std::int64_t interval = plan_.checkpoint_interval_ms > 0 ? plan_.checkpoint_interval_ms : 5000;
    const std::int64_t period = query_->emit_period_ms();
    std::int64_t now = steady_ms();
    std::int64_t last_input = now;
    std::int64_t next_checkpoint = now + interval;
    std::int64_t next_periodic = period > 0 ? now + period : 0;
    bool idle_fired = false;
    std::uint64_t since_clock = 0;
    store::RecordView rv;
    while (!stop_requested_.load(std::memory_order_relaxed)) {
      auto next = reader.value()->next(&rv);
      if (next == store::Reader::Next::kRecord) {
        executor_->on_record(rv, *this);
        input_seq_ = rv.seq;
        idle_fired = false;
        if (++since_clock < 256) continue;  // the clock is read per batch, not per record
        since_clock = 0;
        now = steady_ms();
        last_input = now;
      } else if (next == store::Reader::Next::kCorruption) {
        const auto& d = reader.value()->damage();
        log_error("query", plan_.name + ": skipped damaged input in " + d.segment.string() + ": " + d.message);
        std::lock_guard lock(metrics_mu_);
        ++metrics_.errors;
        continue;
      } else {
        if (since_clock > 0) last_input = steady_ms();
        since_clock = 0;
        now = steady_ms();
        std::int64_t wait = 200;
        if (plan_.idle_timeout_ms > 0 && !idle_fired) wait = std::min(wait, std::max<std::int64_t>(1, last_input + plan_.idle_timeout_ms - now));
        if (period > 0) wait = std::min(wait, std::max<std::int64_t>(1, next_periodic - now));
        if (input_seq_ >= backfill_until_) set_state("running");
        reader.value()->wait(wait);
        now = steady_ms();
      }
      if (plan_.idle_timeout_ms > 0 && !idle_fired && now - last_input >= plan_.idle_timeout_ms) {
        executor_->on_idle(*this);
        idle_fired = true;
      }
      if (period > 0 && now >= next_periodic) {
        executor_->on_periodic(*this);
        next_periodic = now + period;
      }
      if (now >= next_checkpoint) {
        Status st = checkpoint();
        if (!st.is_ok()) record_error("checkpoint: " + st.message());
        next_checkpoint = now + interval;
      }
      publish_metrics();
    }
    Status st = checkpoint();
    if (!st.is_ok()) record_error("final checkpoint: " + st.message());
    publish_metrics();
    set_state(failed_ ? "failed" : "stopped");
  }

  // The flush comes first, so that every row the checkpoint counts is durable.
  Status checkpoint() {
    if (output_failed_) return Status::aborted("the result stream refused a row; keeping the previous checkpoint");
    OUTPOST_RETURN_IF_ERROR(log_->flush());
    store::Checkpoint c;
    c.query = plan_.name;
    c.input_stream = plan_.input_stream;
    c.input_seq = input_seq_;
    c.output_stream = plan_.result_stream;
    c.output_seq = output_seq_;
    c.watermark_ms = executor_->watermark_ms();
    c.state = encode_state(HostState{fingerprint(plan_.sql), late_seq_, executor_->save_state()});
    OUTPOST_RETURN_IF_ERROR(log_->save_checkpoint(c));
    if (input_seq_ > 0) OUTPOST_RETURN_IF_ERROR(log_->commit_cursor(in_, cursor_name_, input_seq_));
    std::lock_guard lock(metrics_mu_);
    metrics_.last_checkpoint_ms = wall_ms();
    return Status::ok();
  }

  // RowSink. A refused append (disk full under the reject policy, I/O error) is retried until
  // it goes through or the query stops; the input position is not checkpointed past it, so a
  // restart regenerates the row.
  void row(query::OutputRow&& r) override {
    if (skip_rows_ > 0) {
      --skip_rows_;
      ++output_seq_;
      return;
    }
    store::AppendRecord rec;
    rec.event_time_ms = r.event_time_ms;
    if (!r.key.empty()) rec.key = r.key;
    rec.payload = r.payload;
    if (auto seq = append_with_retry(out_, rec)) output_seq_ = *seq;
    std::lock_guard lock(metrics_mu_);
    ++metrics_.rows_emitted;
  }

  void late(const store::RecordView& input, std::string_view reason) override {
    if (!late_) return;
    if (skip_late_ > 0) {
      --skip_late_;
      ++late_seq_;
      return;
    }
    std::string payload = late_record_json(plan_.name, input, reason);
    store::AppendRecord rec;
    rec.event_time_ms = input.event_time_ms;
    if (input.has_key) rec.key = input.key;
    rec.payload = payload;
    if (auto seq = append_with_retry(*late_, rec)) late_seq_ = *seq;
  }

  std::optional<std::uint64_t> append_with_retry(store::StreamId stream, const store::AppendRecord& rec) {
    for (int attempt = 0;; ++attempt) {
      auto seq = log_->append(stream, rec);
      if (seq.is_ok()) return seq.value();
      if (attempt == 0) record_error("appending a row: " + seq.status().message());
      if (seq.status().code() == Status::Code::kInvalidArgument || stop_requested_.load()) {
        output_failed_ = true;
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1000, 50 << std::min(attempt, 4))));
    }
  }

  void publish_metrics() {
    auto c = executor_->counters();
    std::lock_guard lock(metrics_mu_);
    metrics_.input_seq = input_seq_;
    metrics_.output_seq = output_seq_;
    metrics_.late_events = c.late_events;
    metrics_.late_dropped = c.late_dropped;
    metrics_.watermark_ms = executor_->watermark_ms();
    metrics_.errors = std::max(metrics_.errors, c.eval_errors);
  }

  void set_state(const char* state) {
    std::lock_guard lock(metrics_mu_);
    if (metrics_.state != "failed") metrics_.state = state;
  }

  // A damaged checkpoint never stops the query (a crash loop would stop every later window);
  // it is logged, counted and shown as the query's last error.
  void state_discarded(const std::string& message) {
    log_warning("query", plan_.name + ": " + message);
    std::lock_guard lock(metrics_mu_);
    ++metrics_.checkpoint_state_discarded;
    metrics_.last_error = message;
  }

  void record_error(const std::string& message) {
    log_error("query", plan_.name + ": " + message);
    std::lock_guard lock(metrics_mu_);
    metrics_.last_error = message;
  }

  void fail(const std::string& message) {
    failed_ = true;
    record_error(message);
    std::lock_guard lock(metrics_mu_);
    metrics_.state = "failed";
  }

  store::Log* log_;
  QueryPlan plan_;
  std::shared_ptr<const query::Query> query_;
  std::unique_ptr<query::Executor> executor_;
  std::string cursor_name_;
  store::StreamId in_ = 0, out_ = 0;
  std::optional<store::StreamId> late_;
  // Owned by the query thread once it runs.
  std::uint64_t input_seq_ = 0, output_seq_ = 0, late_seq_ = 0;
  std::uint64_t skip_rows_ = 0, skip_late_ = 0;
  std::uint64_t backfill_until_ = 0;
  bool output_failed_ = false;
  bool failed_ = false;
  std::atomic<bool> stop_requested_{false};
  std::thread thread_;
  mutable std::mutex metrics_mu_;
  QueryMetrics metrics_;  // GUARDED_BY(metrics_mu_)
};

class CollectingSink final : public query::RowSink {
 public:
  CollectingSink(const std::function<void(const query::OutputRow&)>& on_row, QueryRunStats* stats,
                 std::uint64_t max_rows)
      : on_row_(on_row), stats_(stats), max_rows_(max_rows) {}
  void row(query::OutputRow&& r) override {
    if (full()) {
      stats_->truncated = true;
      return;
    }
    ++stats_->rows;
    on_row_(r);
  }
  void late(const store::RecordView&, std::string_view) override { ++stats_->late_events; }
  bool full() const { return max_rows_ != 0 && stats_->rows >= max_rows_; }

 private:
  const std::function<void(const query::OutputRow&)>& on_row_;
  QueryRunStats* stats_;
  std::uint64_t max_rows_;
};

}  // namespace

namespace {

constexpr std::string_view kSchemaMetaPrefix = "stream_schema:";

}  // namespace

Status save_stream_schema(store::Log* log, const query::StreamSchema& schema) {
  const std::string key = std::string(kSchemaMetaPrefix) + schema.name;
  const std::string value = query::schema_to_json(schema);
  auto old = log->meta(key);
  if (old.is_ok() && old.value() && *old.value() == value) return Status::ok();
  return log->set_meta(key, value);
}

std::optional<query::StreamSchema> load_stream_schema(const store::Log& log, std::string_view stream) {
  auto saved = log.meta(std::string(kSchemaMetaPrefix) + std::string(stream));
  if (!saved.is_ok() || !saved.value()) return std::nullopt;
  return query::schema_from_json(stream, *saved.value());
}

StreamCatalog::StreamCatalog(store::Log* log, std::vector<query::StreamSchema> declared)
    : log_(log), declared_(std::move(declared)) {}

query::Catalog StreamCatalog::catalog() const {
  return [this](std::string_view name) -> const query::StreamSchema* {
    for (const auto& s : declared_) {
      if (s.name == name) return &s;
    }
    std::lock_guard lock(mu_);
    for (const auto& s : undeclared_) {
      if (s->name == name) return s.get();
    }
    if (!log_ || !log_->find_stream(name).is_ok()) return nullptr;
    auto s = std::make_unique<query::StreamSchema>();
    if (auto saved = load_stream_schema(*log_, name)) *s = std::move(*saved);
    s->name = std::string(name);
    undeclared_.push_back(std::move(s));
    return undeclared_.back().get();
  };
}

Result<std::unique_ptr<QueryHost>> QueryHost::create(store::Log* log, const QueryPlan& plan,
                                                     const query::Catalog& catalog) {
  auto q = compile_sql(plan.sql, catalog);
  if (!q.is_ok()) return q.status();
  if (q.value()->historical()) {
    return Status::invalid_argument("a continuous query reads a stream, not table(" + q.value()->input_stream() +
                                    "); use `outpost query` for historical queries");
  }
  QueryPlan p = plan;
  if (p.input_stream.empty()) p.input_stream = q.value()->input_stream();
  return std::unique_ptr<QueryHost>(new QueryHostImpl(log, std::move(p), std::move(q).value()));
}

namespace {

// Holds records of a bounded read until no record still to come can be older, then hands them
// out in (event time, sequence) order: what an order-sensitive query (sessions with max_length
// or start/end conditions) needs for batch semantics. It holds the records the stored disorder
// spans, at most max_bytes of payload and key.
class EventTimeOrder {
 public:
  explicit EventTimeOrder(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

  Status add(const store::RecordView& r) {
    held_bytes_ += r.payload.size() + r.key.size() + sizeof(Held);
    if (held_bytes_ > max_bytes_) {
      return Status::invalid_argument(
          "this history query takes its records in event-time order (a session with max_length or "
          "start/end conditions), and the stream's stored disorder spans more than " +
          std::to_string(max_bytes_ >> 20) + " MiB of records; raise --order-memory or query a "
          "narrower range of sequences");
    }
    Held h;
    h.view = r;
    h.bytes.assign(r.payload);
    h.bytes.append(r.key);
    held_.push_back(std::move(h));
    std::push_heap(held_.begin(), held_.end(), later);
    return Status::ok();
  }

  // Calls feed(record) for every held record older than bound_ms, oldest first.
  template <typename Feed>
  void release(std::int64_t bound_ms, const Feed& feed) {
    while (!held_.empty() && held_.front().view.event_time_ms < bound_ms) {
      std::pop_heap(held_.begin(), held_.end(), later);
      Held h = std::move(held_.back());
      held_.pop_back();
      held_bytes_ -= h.view.payload.size() + h.view.key.size() + sizeof(Held);
      store::RecordView v = h.view;
      v.payload = std::string_view(h.bytes).substr(0, v.payload.size());
      v.key = std::string_view(h.bytes).substr(v.payload.size());
      feed(v);
    }
  }

 private:
  struct Held {
    store::RecordView view;  // payload and key point into `bytes` only once released
    std::string bytes;       // payload, then key
  };
  // Heap order: the oldest (event time, then sequence) on top.
  static bool later(const Held& a, const Held& b) {
    if (a.view.event_time_ms != b.view.event_time_ms) return a.view.event_time_ms > b.view.event_time_ms;
    return a.view.seq > b.view.seq;
  }

  std::uint64_t max_bytes_;
  std::uint64_t held_bytes_ = 0;
  std::vector<Held> held_;
};

}  // namespace

Status run_query(store::Log* log, const std::string& sql, const query::Catalog& catalog,
                 const QueryRunOptions& options, std::vector<std::string>* columns,
                 const std::function<void(const query::OutputRow&)>& on_row, QueryRunStats* stats) {
  QueryRunStats local;
  if (!stats) stats = &local;
  auto q = compile_sql(sql, catalog);
  if (!q.is_ok()) return q.status();
  const query::Query& query = *q.value();
  if (columns) *columns = query.columns();
  auto id = log->find_stream(query.input_stream());
  if (!id.is_ok()) return Status::not_found("no stream '" + query.input_stream() + "' in the log");
  // table(s) is a batch question over what is stored when the query starts: every record
  // counts, whatever order it arrived in. The stream form replays the live rules.
  const bool batch = query.historical();
  if (batch && options.follow) {
    return Status::invalid_argument("table(" + query.input_stream() + ") is bounded and cannot be followed; "
                                    "the stream form (FROM " + query.input_stream() + ", or tumble(" +
                                    query.input_stream() + ", ...)) follows new records");
  }
  query::ExecutorOptions eo;
  if (batch) eo.time_mode = query::TimeMode::kBatch;
  auto exec = query::Executor::create(q.value(), eo);
  store::ReadOptions ro;
  ro.follow = options.follow && !batch;
  if (batch) ro.to_seq = log->durable_seq(id.value());
  auto reader = log->read(id.value(), ro);
  if (!reader.is_ok()) return reader.status();
  CollectingSink sink(on_row, stats, options.max_rows);
  std::optional<EventTimeOrder> order;
  if (batch && query.windowed() && query.order_sensitive()) order.emplace(options.order_memory_bytes);
  std::int64_t bound = store::kMinTime;
  auto feed = [&](const store::RecordView& r) { exec->on_record(r, sink); };
  const std::int64_t period = query.emit_period_ms();
  std::int64_t next_periodic = period > 0 ? steady_ms() + period : 0;
  store::RecordView rv;
  while (!sink.full()) {
    if (options.cancelled && options.cancelled()) return Status::aborted("cancelled");
    auto next = reader.value()->next(&rv);
    if (next == store::Reader::Next::kRecord) {
      ++stats->records_read;
      if (order) {
        OUTPOST_RETURN_IF_ERROR(order->add(rv));
      } else {
        feed(rv);
      }
      if (batch) {
        const std::int64_t b = reader.value()->pending_min_event_ms();
        if (b > bound) {
          bound = b;
          if (order) order->release(bound, feed);
          exec->advance_input_bound(bound, sink);
        }
      }
      continue;
    }
    if (next == store::Reader::Next::kCorruption) {
      ++stats->damaged_blocks;
      continue;
    }
    if (!ro.follow) break;
    reader.value()->wait(period > 0 ? std::max<std::int64_t>(1, std::min<std::int64_t>(200, next_periodic - steady_ms())) : 200);
    if (period > 0 && steady_ms() >= next_periodic) {
      exec->on_periodic(sink);
      next_periodic = steady_ms() + period;
    }
  }
  if (order) order->release(store::kMaxTime, feed);
  if (!ro.follow) exec->on_end(sink);
  stats->eval_errors = exec->counters().eval_errors;
  return Status::ok();
}

Result<std::string> run_historical_query(store::Log* log, const std::string& sql,
                                         const query::Catalog& catalog, std::uint64_t max_rows) {
  std::string rows = "[";
  std::vector<std::string> columns;
  QueryRunOptions o;
  o.max_rows = max_rows;
  QueryRunStats stats;
  Status st = run_query(log, sql, catalog, o, &columns,
                        [&](const query::OutputRow& r) {
                          if (rows.size() > 1) rows += ',';
                          rows += r.payload;
                        },
                        &stats);
  if (!st.is_ok()) return st;
  std::string out = "{\"columns\":[";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i) out += ',';
    decode::append_json_string(&out, columns[i]);
  }
  out += "],\"rows\":" + rows + "],\"truncated\":" + (stats.truncated ? "true" : "false");
  out += ",\"records_read\":" + std::to_string(stats.records_read);
  out += ",\"late_events\":" + std::to_string(stats.late_events);
  out += ",\"eval_errors\":" + std::to_string(stats.eval_errors) + "}";
  return out;
}

}  // namespace outpost::runtime
