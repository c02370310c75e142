// Store-and-forward mirrors. Design and invariants: sync/README.md.
// Size: the mirror core and both delivery modes are still one Mirror class; the planned split
// (a destination-independent core, one file per delivery mode) comes before an MQTT destination.
#include "sync/sync.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "base/backoff.h"
#include "sync/kafka_util.h"

namespace outpost::sync {

using namespace detail;

const char* mirror_state_name(MirrorState state) {
  switch (state) {
    case MirrorState::kStarting: return "starting";
    case MirrorState::kOnline: return "online";
    case MirrorState::kOffline: return "offline";
    case MirrorState::kBackingOff: return "backing_off";
    case MirrorState::kFenced: return "fenced";
    case MirrorState::kFailed: return "failed";
    case MirrorState::kStopped: return "stopped";
  }
  return "unknown";
}

std::string transactional_id(const std::string& agent, const std::string& mirror) {
  return "outpost-" + agent + "-" + mirror;
}

std::string cursor_key(const std::string& agent, const std::string& stream,
                       const std::string& mirror) {
  return agent + "/" + stream + "/" + mirror;
}

namespace {

// Token bucket with a one-second burst. take() may leave the byte bucket in debt by one
// record, so a record larger than a second's budget still goes out (just slowly).
class TokenBucket {
 public:
  explicit TokenBucket(double rate) : rate_(rate), tokens_(rate) {}
  bool limited() const { return rate_ > 0; }
  bool available(std::int64_t now_ms) {
    if (!limited()) return true;
    refill(now_ms);
    return tokens_ > 0;
  }
  void take(double n) {
    if (limited()) tokens_ -= n;
  }
  // Milliseconds until tokens are positive again.
  std::int64_t wait_ms() const {
    if (!limited() || tokens_ > 0) return 0;
    return static_cast<std::int64_t>((-tokens_ + 1) * 1000.0 / rate_) + 1;
  }

 private:
  void refill(std::int64_t now_ms) {
    if (last_ms_ == 0) last_ms_ = now_ms;
    tokens_ = std::min(rate_, tokens_ + static_cast<double>(now_ms - last_ms_) * rate_ / 1000.0);
    last_ms_ = now_ms;
  }
  double rate_;
  double tokens_;
  std::int64_t last_ms_ = 0;
};

// Shared by all mirrors of one Sync: lets a lower-priority mirror hold back while a
// higher-priority one drains a backlog over the same uplink.
class Scheduler {
 public:
  struct Entry {
    int priority = 0;
    std::atomic<bool> draining{false};  // has more than one batch waiting and is online
  };
  Entry* add(int priority) {
    entries_.push_back(std::make_unique<Entry>());
    entries_.back()->priority = priority;
    return entries_.back().get();
  }
  bool higher_priority_draining(const Entry* me) const {
    for (const auto& e : entries_) {
      if (e.get() != me && e->priority > me->priority && e->draining.load()) return true;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<Entry>> entries_;  // fixed before the threads start
};

struct Shared {
  store::Log* log = nullptr;
  std::string agent;
  CentralSettings central;
  Scheduler scheduler;
};

// The catalog cursor of an at-least-once mirror is written at least this often while it moves.
constexpr std::int64_t kCursorIntervalMs = 250;

// One unit of the at-least-once window: a record (first == last) or a gap report covering
// first..last. Units are in sequence order; the cursor is the last of the done prefix.
struct Unit {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint32_t bytes = 0;
  bool gap = false;
  bool done = false;
  std::int64_t produced_ms = 0;  // mono_ms() at produce: the mirror's own message timeout
};

// A piece of the stream the local log no longer holds.
struct GapPiece {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::string reason;
};

bool is_record_rejection(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
      return true;
    default:
      return false;
  }
}

// Runs one mirror on its own thread. Everything below is owned by that thread except
// metrics_ (mutex) and stop_ (atomic).
class Mirror {
 public:
  Mirror(Shared* shared, MirrorSettings settings)
      : shared_(shared),
        s_(std::move(settings)),
        cursor_name_("sync:" + s_.name),
        gap_meta_key_("sync:gaps_reported:" + s_.name),
        backoff_(base::BackoffOptions{shared->central.backoff_initial_ms, shared->central.backoff_max_ms}),
        record_bucket_(s_.max_records_per_s),
        byte_bucket_(s_.max_bytes_per_s) {
    sched_ = shared_->scheduler.add(s_.priority);
    // Until its first look at the log a mirror counts as draining: lower-priority mirrors
    // started at the same moment must not race ahead while its thread is still starting
    // (seen on a loaded 2-core box). Its first fill, or going offline, settles the flag.
    sched_->draining.store(true);
    metrics_.name = s_.name;
    metrics_.stream = s_.stream;
    metrics_.topic = s_.topic;
    metrics_.delivery = s_.delivery;
    metrics_.priority = s_.priority;
  }

  void start() { thread_ = std::thread([this] { run(); }); }
  void request_stop(std::int64_t timeout_ms) {
    stop_timeout_ms_ = timeout_ms;
    stop_.store(true);
    std::lock_guard<std::mutex> lk(wake_mu_);
    wake_cv_.notify_all();
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  MirrorMetrics snapshot() const {
    MirrorMetrics m;
    std::optional<store::StreamId> id;
    {
      std::lock_guard<std::mutex> lk(metrics_mu_);
      m = metrics_;
      id = stream_known_;
    }
    if (id) {
      m.durable_seq = shared_->log->durable_seq(*id);
      m.backlog_records = m.durable_seq > m.cursor ? m.durable_seq - m.cursor : 0;
      if (m.backlog_records > 0) {
        auto st = shared_->log->stats(*id);
        if (st && st->records > 0) {
          m.backlog_bytes = static_cast<std::uint64_t>(
              static_cast<double>(st->raw_bytes) / static_cast<double>(st->records) *
              static_cast<double>(m.backlog_records));
        }
      }
    }
    return m;
  }

 private:
  // ---- common -------------------------------------------------------------------------
  void run() {
    if (!wait_for_stream()) return finish();
    if (Status st = shared_->log->register_cursor(stream_, cursor_name_); !st) {
      fail(st.with_context("mirror " + s_.name + ": register cursor"));
      return finish();
    }
    auto hwm = shared_->log->meta(gap_meta_key_);
    if (hwm && hwm->has_value()) parse_u64(**hwm, &gap_hwm_);
    if (s_.delivery == Delivery::kAtLeastOnce) {
      run_at_least_once();
    } else {
      run_exactly_once();
    }
    finish();
  }

  void finish() {
    sched_->draining.store(false);
    std::lock_guard<std::mutex> lk(metrics_mu_);
    if (metrics_.state != MirrorState::kFenced && metrics_.state != MirrorState::kFailed) {
      metrics_.state = MirrorState::kStopped;
    }
  }

  bool stopping() const { return stop_.load(); }

  // Sleeps up to ms, waking early on stop.
  void sleep_ms(std::int64_t ms) {
    std::unique_lock<std::mutex> lk(wake_mu_);
    wake_cv_.wait_for(lk, std::chrono::milliseconds(ms), [this] { return stop_.load(); });
  }

  // Waits while serving librdkafka callbacks.
  void poll_for(std::int64_t ms) {
    if (!rk_) return sleep_ms(ms);
    std::int64_t end = mono_ms() + ms;
    do {
      rd_kafka_poll(rk_.get(), static_cast<int>(std::min<std::int64_t>(50, std::max<std::int64_t>(0, end - mono_ms()))));
    } while (!stopping() && mono_ms() < end);
  }

  bool wait_for_stream() {
    set_state(MirrorState::kStarting);
    bool reported = false;
    while (!stopping()) {
      auto id = shared_->log->find_stream(s_.stream);
      if (id) {
        stream_ = *id;
        std::lock_guard<std::mutex> lk(metrics_mu_);
        stream_known_ = stream_;
        return true;
      }
      if (!reported) {
        note_error("stream '" + s_.stream + "' does not exist yet; waiting for it", false);
        reported = true;
      }
      sleep_ms(1000);
    }
    return false;
  }

  static bool parse_u64(std::string_view s, std::uint64_t* out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size();
  }

  void set_state(MirrorState st) {
    std::lock_guard<std::mutex> lk(metrics_mu_);
    metrics_.state = st;
  }
  MirrorState state() const {
    std::lock_guard<std::mutex> lk(metrics_mu_);
    return metrics_.state;
  }
  void note_error(const std::string& msg, bool count = true) {
    std::lock_guard<std::mutex> lk(metrics_mu_);
    if (count) ++metrics_.errors;
    metrics_.last_error = msg;
  }
  void fail(const Status& st) {
    note_error(st.message());
    set_state(MirrorState::kFailed);
  }

  // Called on the mirror thread whenever Kafka confirmed something.
  void note_confirmed(std::uint64_t records, std::uint64_t bytes) {
    std::int64_t now = mono_ms();
    std::lock_guard<std::mutex> lk(metrics_mu_);
    metrics_.records_sent += records;
    metrics_.bytes_sent += bytes;
    metrics_.cursor = confirmed_;
    metrics_.last_success_ms = wall_ms();
    metrics_.last_success_steady_ms = now;
    if (rate_window_start_ == 0) rate_window_start_ = now;
    rate_window_records_ += records;
    if (now - rate_window_start_ >= 1000) {
      double inst = static_cast<double>(rate_window_records_) * 1000.0 /
                    static_cast<double>(now - rate_window_start_);
      metrics_.records_per_s = metrics_.records_per_s == 0 ? inst : 0.8 * metrics_.records_per_s + 0.2 * inst;
      rate_window_start_ = now;
      rate_window_records_ = 0;
    }
  }

  void publish_in_flight() {
    std::lock_guard<std::mutex> lk(metrics_mu_);
    metrics_.in_flight = in_flight_;
    metrics_.cursor = confirmed_;
  }

  void open_reader(std::uint64_t from) {
    store::ReadOptions ro;
    ro.from_seq = std::max<std::uint64_t>(1, from);
    ro.follow = true;
    auto r = shared_->log->read(stream_, ro);
    if (!r) {
      reader_.reset();
      note_error("mirror " + s_.name + ": cannot read stream '" + s_.stream +
                 "': " + r.status().message());
      return;
    }
    reader_ = std::move(r).value();
    next_seq_ = ro.from_seq;
  }

  // Writes confirmed_ to the catalog. A failed write is reported and retried at the next
  // interval, not on every turn of the loop.
  void commit_local_cursor() {
    if (confirmed_ <= committed_cursor_) return;
    std::int64_t now = mono_ms();
    last_cursor_commit_ms_ = now;
    if (Status st = shared_->log->commit_cursor(stream_, cursor_name_, confirmed_); !st) {
      note_error("mirror " + s_.name + ": commit cursor: " + st.message() +
                 (s_.delivery == Delivery::kAtLeastOnce ? " (sending on; a crash now re-sends more than max_in_flight)"
                                                        : ""));
      cursor_write_failing_ = true;
      return;
    }
    committed_cursor_ = confirmed_;
    unsaved_ = 0;
    cursor_write_failing_ = false;
  }

  // At-least-once: writes the cursor every kCursorIntervalMs, and at once when the records
  // confirmed since the last write hold half the window (so a fast drain is not held back
  // by the interval; see unsaved_window()).
  void commit_local_cursor_if_due() {
    std::int64_t now = mono_ms();
    bool interval = now - last_cursor_commit_ms_ >= kCursorIntervalMs;
    bool window = !cursor_write_failing_ && unsaved_ >= std::max<std::size_t>(1, s_.max_in_flight / 2);
    if (interval || window) commit_local_cursor();
  }

  // Units produced in this life that the saved cursor does not cover: those still in the
  // window plus those confirmed since the last cursor write. A crash re-sends at most these
  // (the next life starts at the saved cursor + 1), so producing stops at max_in_flight.
  // While the catalog refuses the cursor, only the window counts: data keeps leaving a
  // gateway whose disk is failing, and the error says the bound does not hold meanwhile.
  std::size_t unsaved_window() const { return units_.size() + (cursor_write_failing_ ? 0 : unsaved_); }

  // The pieces of [first, last] the log no longer has, with the reason the store recorded.
  std::vector<GapPiece> gap_pieces(std::uint64_t first, std::uint64_t last) {
    for (auto& d : shared_->log->dropped_ranges(dropped_after_id_)) {
      dropped_after_id_ = std::max(dropped_after_id_, d.id);
      if (d.stream == s_.stream) dropped_.push_back(std::move(d));
    }
    std::vector<GapPiece> out;
    std::uint64_t at = first;
    std::vector<const store::DroppedRange*> hits;
    for (const auto& d : dropped_) {
      if (d.last_seq >= first && d.first_seq <= last) hits.push_back(&d);
    }
    std::sort(hits.begin(), hits.end(),
              [](auto* a, auto* b) { return a->first_seq < b->first_seq; });
    for (const auto* d : hits) {
      std::uint64_t a = std::max(at, d->first_seq), b = std::min(last, d->last_seq);
      if (a > b) continue;
      if (a > at) out.push_back({at, a - 1, "unreadable"});
      out.push_back({a, b, d->reason});
      at = b + 1;
      if (at > last || at == 0) break;
    }
    if (at <= last && at != 0 && (out.empty() || out.back().last < last)) {
      out.push_back({at, last, last_damage_.empty() ? "unreadable" : "corruption: " + last_damage_});
    }
    last_damage_.clear();
    return out;
  }

  std::string gap_json(const GapPiece& g) const {
    std::string j = "{\"agent\":" + json_quote(shared_->agent) + ",\"stream\":" + json_quote(s_.stream) +
                    ",\"mirror\":" + json_quote(s_.name) + ",\"topic\":" + json_quote(s_.topic) +
                    ",\"first_seq\":" + std::to_string(g.first) + ",\"last_seq\":" + std::to_string(g.last) +
                    ",\"count\":" + std::to_string(g.last - g.first + 1) + ",\"reason\":" + json_quote(g.reason) +
                    ",\"detected_ms\":" + std::to_string(wall_ms()) + "}";
    return j;
  }

  // Produces one message. Returns the librdkafka error (QUEUE_FULL is retried here).
  rd_kafka_resp_err_t produce(rd_kafka_topic_t* topic, std::string_view key, bool has_key,
                              std::string_view value, std::uint64_t seq, std::int64_t event_ms,
                              void* opaque) {
    char seq_buf[24], ev_buf[24];
    auto seq_len = std::to_chars(seq_buf, seq_buf + sizeof seq_buf, seq).ptr - seq_buf;
    auto ev_len = std::to_chars(ev_buf, ev_buf + sizeof ev_buf, event_ms).ptr - ev_buf;
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_KEY(has_key ? key.data() : nullptr, has_key ? key.size() : 0),
          RD_KAFKA_V_HEADER("outpost-agent", shared_->agent.data(),
                            static_cast<ssize_t>(shared_->agent.size())),
          RD_KAFKA_V_HEADER("outpost-stream", s_.stream.data(), static_cast<ssize_t>(s_.stream.size())),
          RD_KAFKA_V_HEADER("outpost-seq", seq_buf, static_cast<ssize_t>(seq_len)),
          RD_KAFKA_V_HEADER("outpost-event-time", ev_buf, static_cast<ssize_t>(ev_len)),
          RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stopping()) return err;
      rd_kafka_poll(rk_.get(), 20);
    }
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Mirror*>(opaque);
    auto e = static_cast<rd_kafka_resp_err_t>(err);
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->link_down_ = true;
    if (e == RD_KAFKA_RESP_ERR__FATAL) self->fatal_ = true;
    self->note_error(std::string(rd_kafka_err2name(e)) + ": " + reason);
  }

  static void on_log(const rd_kafka_t*, int, const char*, const char*) {
    // librdkafka's own log lines repeat what the error callback reports; errors reach the
    // metrics (last_error) instead of flooding the journal during a long outage.
  }

  // The at-least-once producer. Gapless: when a batch fails for good (a permanent broker
  // error), librdkafka would otherwise bump the epoch and go on sending the newer batches of
  // that partition before our purge in the delivery report can stop them, and the re-drive
  // would put the failed records after them (order per key). With the guarantee it raises a
  // fatal error instead and fails everything queued; recover_fatal() re-drives from the
  // cursor with a new producer. (Timeouts are not covered by it: see make_producer.)
  static std::vector<std::pair<std::string, std::string>> at_least_once_props() {
    return {{"enable.idempotence", "true"}, {"enable.gapless.guarantee", "true"}};
  }

  Result<KafkaPtr> make_producer(std::vector<std::pair<std::string, std::string>> props) {
    props.insert(props.begin(), {
        {"client.id", "outpost-" + shared_->agent + "-" + s_.name},
        {"compression.codec", shared_->central.compression},
        {"linger.ms", "10"},
        {"queue.buffering.max.messages", std::to_string(s_.max_in_flight + s_.txn_max_records + 1000)},
        {"queue.buffering.max.kbytes", "65536"},
    });
    auto conf = make_conf(shared_->central, props);
    if (!conf) return conf.status().with_context("mirror " + s_.name);
    rd_kafka_conf_t* c = conf->get();
    if (s_.delivery == Delivery::kAtLeastOnce) {
      // Order per key: librdkafka must never time a record out by itself. It times out the
      // oldest queued records of a partition while newer ones stay queued, and sends those as
      // soon as the link allows (INTRODUCTION.md, "Message timeout considerations"); we only
      // hear of it from a delivery report served later on this thread, so on a busy machine
      // the newer records had landed before our purge, and the re-drive put the older ones
      // after them. So librdkafka waits forever (0), and the configured message.timeout.ms
      // (alias delivery.timeout.ms; librdkafka's default if unset) is enforced here instead,
      // by expire_unconfirmed(): it purges everything librdkafka holds at once, on the only
      // thread that produces, so nothing newer is left to overtake. Memory stays bounded by
      // max_in_flight.
      // A topic-level property: rd_kafka_conf_get() knows it only if it was set; otherwise
      // librdkafka's default applies, read from a fresh topic conf.
      char buf[32];
      std::size_t len = sizeof buf;
      rd_kafka_conf_res_t got = rd_kafka_conf_get(c, "message.timeout.ms", buf, &len);
      if (got != RD_KAFKA_CONF_OK) {
        rd_kafka_topic_conf_t* defaults = rd_kafka_topic_conf_new();
        len = sizeof buf;
        got = rd_kafka_topic_conf_get(defaults, "message.timeout.ms", buf, &len);
        rd_kafka_topic_conf_destroy(defaults);
      }
      std::uint64_t timeout = 0;
      if (got != RD_KAFKA_CONF_OK || !parse_u64(std::string_view(buf, len > 0 ? len - 1 : 0), &timeout)) {
        return Status::invalid_argument("mirror " + s_.name + ": cannot read message.timeout.ms");
      }
      unconfirmed_timeout_ms_ = static_cast<std::int64_t>(timeout);
      if (Status st = conf_set(c, "message.timeout.ms", "0"); !st) {
        return st.with_context("mirror " + s_.name);
      }
    }
    rd_kafka_conf_set_opaque(c, this);
    rd_kafka_conf_set_dr_msg_cb(c, &Mirror::on_delivery);
    rd_kafka_conf_set_error_cb(c, &Mirror::on_error);
    rd_kafka_conf_set_log_cb(c, &Mirror::on_log);
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) return Status::invalid_argument("mirror " + s_.name + ": producer: " + err);
    conf->release();  // owned by rk now
    KafkaPtr out(rk);
    topic_.reset(rd_kafka_topic_new(rk, s_.topic.c_str(), nullptr));
    gap_topic_.reset(rd_kafka_topic_new(rk, shared_->central.gap_topic.c_str(), nullptr));
    if (s_.delivery == Delivery::kExactlyOnce) {
      cursor_topic_.reset(rd_kafka_topic_new(rk, shared_->central.cursor_topic.c_str(), nullptr));
    }
    return out;
  }

  void destroy_producer() {
    topic_.reset();
    gap_topic_.reset();
    cursor_topic_.reset();
    rk_.reset();
  }

  // A metadata request for our topic: the cheapest proof that the cluster answers.
  bool probe() {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk_.get(), 0, topic_.get(), &md,
                                                static_cast<int>(shared_->central.probe_timeout_ms));
    if (md) rd_kafka_metadata_destroy(md);
    if (err) {
      note_error(std::string("link probe: ") + rd_kafka_err2str(err));
      return false;
    }
    link_down_ = false;
    return true;
  }

  // While not online: waits for the next probe time, probes, and switches state.
  // Returns true when online.
  bool ensure_online() {
    if (link_down_ && state() == MirrorState::kOnline) {
      set_state(MirrorState::kOffline);
      retry_at_ms_ = mono_ms() + backoff_.next_delay_ms();
    }
    MirrorState st = state();
    if (st == MirrorState::kOnline) return true;
    std::int64_t now = mono_ms();
    if (now < retry_at_ms_) {
      poll_for(std::min<std::int64_t>(100, retry_at_ms_ - now));
      return false;
    }
    if (probe()) {
      set_state(MirrorState::kOnline);
      backoff_.reset();
      return true;
    }
    set_state(MirrorState::kOffline);
    retry_at_ms_ = mono_ms() + backoff_.next_delay_ms();
    return false;
  }

  void back_off(MirrorState st) {
    set_state(st);
    retry_at_ms_ = mono_ms() + backoff_.next_delay_ms();
  }

  // Rate limit: true if a record may go out now.
  bool rate_allows() {
    std::int64_t now = mono_ms();
    return record_bucket_.available(now) && byte_bucket_.available(now);
  }
  std::int64_t rate_wait_ms() const {
    return std::max(record_bucket_.wait_ms(), byte_bucket_.wait_ms());
  }

  // ---- at least once ------------------------------------------------------------------
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    static_cast<Mirror*>(opaque)->delivered(msg);
  }

  void delivered(const rd_kafka_message_t* msg) {
    if (in_flight_ > 0) --in_flight_;
    auto* u = static_cast<Unit*>(msg->_private);
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      link_down_ = false;
      if (u) u->done = true;
      return;
    }
    if (!u) {  // exactly-once: the transaction fails as a whole; count and go on
      if (msg->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && msg->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        note_error(std::string("delivery: ") + rd_kafka_err2str(msg->err));
      }
      return;
    }
    if (!need_redrive_) {
      // Fail what is still queued right away, so nothing newer lands before the re-drive
      // (order per key) and the re-drive starts sooner.
      need_redrive_ = true;
      rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_NON_BLOCKING);
    }
    if (msg->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && msg->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
      note_error("delivery of " + s_.stream + " seq " + std::to_string(u->last) + " to " +
                 (u->gap ? shared_->central.gap_topic : s_.topic) + ": " + rd_kafka_err2str(msg->err));
      if (!u->gap && is_record_rejection(msg->err)) {
        auto& r = rejected_[u->first];
        r.first += 1;
        r.second = rd_kafka_err2str(msg->err);
      }
    }
  }

  // Pops the confirmed prefix of the window and advances the cursor.
  void advance() {
    std::uint64_t records = 0, bytes = 0;
    std::uint64_t gaps = 0, lost = 0, gap_last = 0;
    while (!units_.empty() && units_.front().done) {
      const Unit& u = units_.front();
      confirmed_ = u.last;
      if (u.gap) {
        if (u.last > gap_hwm_) {
          ++gaps;
          lost += u.last - u.first + 1;
          gap_last = u.last;
        }
      } else {
        ++records;
        bytes += u.bytes;
      }
      units_.pop_front();
      ++unsaved_;
    }
    if (gap_last > gap_hwm_) record_gaps_reported(gap_last, gaps, lost);
    if (records || gaps) {
      backoff_.reset();
      if (state() != MirrorState::kOnline && !link_down_) set_state(MirrorState::kOnline);
      note_confirmed(records, bytes);
    }
  }

  void record_gaps_reported(std::uint64_t last, std::uint64_t gaps, std::uint64_t lost) {
    gap_hwm_ = last;
    if (Status st = shared_->log->set_meta(gap_meta_key_, std::to_string(gap_hwm_)); !st) {
      note_error("mirror " + s_.name + ": remember reported gaps: " + st.message());
    }
    std::lock_guard<std::mutex> lk(metrics_mu_);
    metrics_.gaps_reported += gaps;
    metrics_.gap_records_lost += lost;
  }

  // Queues the gap units for [first, last] (at-least-once). Gaps already reported in an
  // earlier run (at or below the remembered high-water mark) are just skipped.
  void emit_gap_units(std::uint64_t first, std::uint64_t last) {
    for (const auto& g : gap_pieces(first, last)) {
      units_.push_back(Unit{g.first, g.last, 0, true, false, mono_ms()});
      Unit* u = &units_.back();
      if (g.last <= gap_hwm_) {
        u->done = true;
        continue;
      }
      GapPiece piece = g;
      piece.first = std::max(g.first, gap_hwm_ + 1);
      std::string json = gap_json(piece);
      std::string key = shared_->agent + "/" + s_.stream;
      ++in_flight_;
      rd_kafka_resp_err_t err = produce(gap_topic_.get(), key, true, json, piece.last, wall_ms(), u);
      if (err) {
        --in_flight_;
        handle_produce_error(err);
        return;
      }
    }
  }

  void handle_produce_error(rd_kafka_resp_err_t err) {
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      fatal_ = true;
    } else if (!need_redrive_) {
      need_redrive_ = true;
    }
    note_error("produce to " + s_.topic + ": " + rd_kafka_err2str(err));
  }

  // Reads and produces up to the window / rate / batch limits. Returns records produced.
  std::size_t fill_at_least_once(bool* caught_up) {
    *caught_up = false;
    if (!reader_) {
      open_reader(confirmed_ + 1);
      if (!reader_) return 0;
    }
    std::size_t n = 0;
    store::RecordView rec;
    while (n < 2000 && unsaved_window() < s_.max_in_flight && !need_redrive_ && !fatal_) {
      if (!rate_allows()) break;
      auto r = reader_->next(&rec);
      if (r == store::Reader::Next::kEnd) {
        *caught_up = true;
        check_tail_gap();
        break;
      }
      if (r == store::Reader::Next::kCorruption) {
        last_damage_ = reader_->damage().message;
        note_error("mirror " + s_.name + ": " + reader_->damage().segment.string() + ": " +
                   reader_->damage().message);
        continue;
      }
      if (rec.seq < next_seq_) continue;
      if (rec.seq > next_seq_) emit_gap_units(next_seq_, rec.seq - 1);
      next_seq_ = rec.seq + 1;
      auto rej = rejected_.find(rec.seq);
      if (rej != rejected_.end() && rej->second.first >= 3) {
        // The broker refused this record three times for what it is (e.g. too large): it
        // can never be delivered. Report it as a gap instead of wedging the mirror.
        GapPiece g{rec.seq, rec.seq, "rejected by the cluster: " + rej->second.second};
        dropped_.push_back(store::DroppedRange{0, s_.stream, rec.seq, rec.seq, g.reason, wall_ms()});
        emit_gap_units(rec.seq, rec.seq);
        rejected_.erase(rej);
        continue;
      }
      bool has_key = s_.key == KeyMode::kRecordKey && rec.has_key;
      std::uint32_t bytes = static_cast<std::uint32_t>(rec.payload.size() + (has_key ? rec.key.size() : 0));
      units_.push_back(Unit{rec.seq, rec.seq, bytes, false, false, mono_ms()});
      ++in_flight_;
      rd_kafka_resp_err_t err =
          produce(topic_.get(), rec.key, has_key, rec.payload, rec.seq, rec.event_time_ms, &units_.back());
      if (err) {
        --in_flight_;
        units_.pop_back();
        handle_produce_error(err);
        break;
      }
      record_bucket_.take(1);
      byte_bucket_.take(bytes);
      ++n;
    }
    return n;
  }

  // At the end of what the log holds: a dropped range right at our position (nothing newer
  // to reveal the jump yet) is reported now rather than when the next record arrives.
  void check_tail_gap() {
    std::int64_t now = mono_ms();
    if (now - last_tail_check_ms_ < 1000) return;
    last_tail_check_ms_ = now;
    (void)gap_pieces(1, 0);  // refreshes dropped_
    for (const auto& d : dropped_) {
      if (d.first_seq <= next_seq_ && d.last_seq >= next_seq_) {
        std::uint64_t last = d.last_seq;
        emit_gap_units(next_seq_, last);
        open_reader(last + 1);
        return;
      }
    }
  }

  // The mirror's message.timeout.ms (see make_producer): the oldest unconfirmed unit waited
  // too long. Everything librdkafka holds is purged at once (queued and in flight), blocking
  // until its threads dropped their queues; then, as for any permanent failure, the reports
  // are awaited and everything after the cursor is re-driven in order. Records that were in
  // flight may have been written: they come twice, the first copies still in order.
  void expire_unconfirmed() {
    const Unit& u = units_.front();
    note_error("delivery of " + s_.stream + " seq " + std::to_string(u.last) + " to " +
               (u.gap ? shared_->central.gap_topic : s_.topic) + " not confirmed within message.timeout.ms (" +
               std::to_string(unconfirmed_timeout_ms_) + " ms); re-sending from the log");
    need_redrive_ = true;
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  }

  void redrive() {
    // Precondition: nothing in flight, so no delivery report can point into units_.
    units_.clear();
    open_reader(confirmed_ + 1);
    need_redrive_ = false;
    {
      std::lock_guard<std::mutex> lk(metrics_mu_);
      ++metrics_.redrives;
    }
    back_off(link_down_ ? MirrorState::kOffline : MirrorState::kBackingOff);
  }

  // A fatal producer error (idempotence broken): librdkafka requires a new instance.
  bool recover_fatal() {
    char reason[512] = "";
    rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk_.get(), reason, sizeof reason);
    note_error(std::string("fatal producer error ") + rd_kafka_err2name(code) + ": " + reason);
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    std::int64_t end = mono_ms() + 5000;
    while (in_flight_ > 0 && mono_ms() < end) rd_kafka_poll(rk_.get(), 50);
    destroy_producer();
    in_flight_ = 0;
    units_.clear();
    fatal_ = false;
    need_redrive_ = false;
    auto p = make_producer(at_least_once_props());
    if (!p) {
      fail(p.status());
      return false;
    }
    rk_ = std::move(p).value();
    open_reader(confirmed_ + 1);
    {
      std::lock_guard<std::mutex> lk(metrics_mu_);
      ++metrics_.redrives;
    }
    back_off(MirrorState::kBackingOff);
    return true;
  }

  void run_at_least_once() {
    auto cur = shared_->log->cursor(stream_, cursor_name_);
    if (!cur) {
      fail(cur.status().with_context("mirror " + s_.name + ": read cursor"));
      return;
    }
    confirmed_ = cur->has_value() ? **cur : (s_.start_seq > 0 ? s_.start_seq - 1 : 0);
    committed_cursor_ = cur->has_value() ? **cur : 0;
    {
      std::lock_guard<std::mutex> lk(metrics_mu_);
      metrics_.cursor = confirmed_;
    }
    auto p = make_producer(at_least_once_props());
    if (!p) {
      fail(p.status());
      return;
    }
    rk_ = std::move(p).value();
    open_reader(confirmed_ + 1);
    set_state(MirrorState::kOffline);  // probe first
    retry_at_ms_ = 0;

    while (!stopping()) {
      rd_kafka_poll(rk_.get(), 0);
      advance();
      commit_local_cursor_if_due();
      publish_in_flight();
      // After serving the reports (above), so a record confirmed meanwhile is not expired.
      if (!need_redrive_ && !fatal_ && unconfirmed_timeout_ms_ > 0 && !units_.empty() &&
          mono_ms() - units_.front().produced_ms >= unconfirmed_timeout_ms_) {
        expire_unconfirmed();
      }
      if (fatal_) {
        if (!recover_fatal()) return;
        continue;
      }
      if (need_redrive_) {
        sched_->draining.store(false);
        if (in_flight_ == 0) {
          advance();
          redrive();
        } else {
          rd_kafka_poll(rk_.get(), 50);
        }
        continue;
      }
      if (!ensure_online()) {
        sched_->draining.store(false);
        continue;
      }
      if (shared_->scheduler.higher_priority_draining(sched_)) {
        // Yield the uplink; live records of this mirror wait a little.
        sched_->draining.store(false);
        poll_for(50);
        continue;
      }
      bool caught_up = false;
      std::size_t n = fill_at_least_once(&caught_up);
      sched_->draining.store(!caught_up && n > 0);
      if (n == 0) {
        if (!caught_up && !rate_allows()) {
          poll_for(std::clamp<std::int64_t>(rate_wait_ms(), 1, 100));
        } else if (in_flight_ > 0 || !caught_up) {
          rd_kafka_poll(rk_.get(), 10);
        } else if (reader_) {
          reader_->wait(100);
        } else {
          poll_for(100);
        }
      }
    }
    // Shutdown: give in-flight records a chance to be confirmed, then keep what was.
    rd_kafka_flush(rk_.get(), static_cast<int>(std::max<std::int64_t>(0, stop_timeout_ms_)));
    advance();
    commit_local_cursor();
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk_.get(), 0);
    destroy_producer();
    units_.clear();
    in_flight_ = 0;
    publish_in_flight();
  }

  // ---- exactly once -------------------------------------------------------------------
  // Returns the error's description and frees it.
  static std::string take_error(rd_kafka_error_t* e) {
    std::string s = std::string(rd_kafka_error_name(e)) + ": " + rd_kafka_error_string(e);
    return s;
  }

  // Reads the last committed cursor for our key from the cursor topic (read_committed).
  // nullopt = the topic holds no cursor for us. An error means "unknown": never guess 0.
  Result<std::optional<std::uint64_t>> read_kafka_cursor() {
    auto conf = make_conf(shared_->central,
                          {{"group.id", "outpost-cursor-reader-" + shared_->agent},
                           {"enable.auto.commit", "false"},
                           {"enable.partition.eof", "true"},
                           {"isolation.level", "read_committed"},
                           {"allow.auto.create.topics", "false"},
                           {"client.id", "outpost-" + shared_->agent + "-" + s_.name + "-cursor"}});
    if (!conf) return conf.status();
    rd_kafka_conf_set_log_cb(conf->get(), &Mirror::on_log);
    char err[512];
    KafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof err));
    if (!rk) return Status::invalid_argument(std::string("cursor reader: ") + err);
    conf->release();
    TopicPtr t(rd_kafka_topic_new(rk.get(), shared_->central.cursor_topic.c_str(), nullptr));
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk.get(), 0, t.get(), &md,
                                              static_cast<int>(shared_->central.probe_timeout_ms));
    MetadataPtr mdp(md);
    if (e) return Status::unavailable(std::string("cursor topic metadata: ") + rd_kafka_err2str(e));
    if (md->topic_cnt < 1) return Status::unavailable("cursor topic metadata: no topic");
    const auto& tm = md->topics[0];
    if (tm.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return std::optional<std::uint64_t>{};
    if (tm.err) return Status::unavailable(std::string("cursor topic: ") + rd_kafka_err2str(tm.err));
    if (tm.partition_cnt == 0) return std::optional<std::uint64_t>{};
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(tm.partition_cnt);
    for (int i = 0; i < tm.partition_cnt; ++i) {
      rd_kafka_topic_partition_list_add(parts, shared_->central.cursor_topic.c_str(), tm.partitions[i].id)
          ->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    e = rd_kafka_assign(rk.get(), parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) return Status::unavailable(std::string("cursor reader assign: ") + rd_kafka_err2str(e));
    const std::string key = cursor_key(shared_->agent, s_.stream, s_.name);
    std::optional<std::uint64_t> found;
    std::set<int> eof;
    std::int64_t deadline = mono_ms() + shared_->central.txn_timeout_ms;
    Status result = Status::ok();
    while (static_cast<int>(eof.size()) < tm.partition_cnt) {
      if (stopping()) {
        result = Status::aborted("stopping");
        break;
      }
      if (mono_ms() > deadline) {
        result = Status::unavailable("cursor topic: timed out reading to the end");
        break;
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
      if (!m) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        eof.insert(m->partition);
      } else if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT && m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
          result = Status::unavailable(std::string("cursor topic: ") + rd_kafka_message_errstr(m));
        }
      } else if (m->key_len == key.size() && std::memcmp(m->key, key.data(), key.size()) == 0 && m->payload) {
        std::string_view v(static_cast<const char*>(m->payload), m->len);
        auto pos = v.find("\"last_seq\":");
        std::uint64_t seq = 0;
        if (pos != std::string_view::npos) {
          auto num = v.substr(pos + 11);
          while (!num.empty() && num.front() == ' ') num.remove_prefix(1);
          auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), seq);
          if (ec == std::errc()) found = seq;  // later offsets win: the last committed value
        }
      }
      rd_kafka_message_destroy(m);
      if (!result.is_ok()) break;
    }
    rd_kafka_consumer_close(rk.get());
    if (!result.is_ok()) return result;
    return found;
  }

  // Creates the producer, init_transactions (fencing older instances and aborting their open
  // transaction), reads the cursor back. Returns false while it should be retried later;
  // sets a terminal state on unrecoverable errors.
  bool eos_init() {
    if (!rk_) {
      auto p = make_producer({{"transactional.id", transactional_id(shared_->agent, s_.name)},
                              {"enable.idempotence", "true"}});
      if (!p) {
        fail(p.status());
        return false;
      }
      rk_ = std::move(p).value();
    }
    ErrorPtr e(rd_kafka_init_transactions(rk_.get(), static_cast<int>(shared_->central.txn_timeout_ms)));
    if (e) {
      note_error("init_transactions: " + take_error(e.get()));
      if (rd_kafka_error_is_fatal(e.get())) {
        if (rd_kafka_error_code(e.get()) == RD_KAFKA_RESP_ERR__FENCED) {
          set_state(MirrorState::kFenced);
          return false;
        }
        destroy_producer();
      }
      back_off(MirrorState::kOffline);
      return false;
    }
    auto cur = read_kafka_cursor();
    if (!cur) {
      note_error("mirror " + s_.name + ": " + cur.status().message());
      // Start over (init_transactions again) when the cluster answers.
      destroy_producer();
      back_off(MirrorState::kOffline);
      return false;
    }
    auto local = shared_->log->cursor(stream_, cursor_name_);
    std::uint64_t local_seq = local && local->has_value() ? **local : 0;
    // Kafka is the source of truth; the local cursor only covers a cursor topic that lost
    // our key (e.g. not compacted and expired), which would otherwise re-send everything.
    std::uint64_t kafka_seq = cur->value_or(s_.start_seq > 0 ? s_.start_seq - 1 : 0);
    confirmed_ = std::max(kafka_seq, local_seq);
    committed_cursor_ = local_seq;
    commit_local_cursor();
    open_reader(confirmed_ + 1);
    {
      std::lock_guard<std::mutex> lk(metrics_mu_);
      metrics_.cursor = confirmed_;
    }
    set_state(MirrorState::kOnline);
    backoff_.reset();
    return true;
  }

  // Handles a failed transactional call. Returns false if the mirror must stop.
  bool eos_handle_error(rd_kafka_error_t* e, const char* what) {
    note_error(std::string(what) + ": " + take_error(e));
    if (rd_kafka_error_is_fatal(e) || rd_kafka_fatal_error(rk_.get(), nullptr, 0)) {
      char reason[256] = "";
      rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk_.get(), reason, sizeof reason);
      if (code == RD_KAFKA_RESP_ERR__FENCED || rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED) {
        // docs/SEMANTICS.md 20: another instance owns our transactional.id now. Stop; never fight.
        note_error("fenced: another instance took transactional.id " +
                   transactional_id(shared_->agent, s_.name) + "; this mirror stops");
        set_state(MirrorState::kFenced);
        return false;
      }
      destroy_producer();
      eos_ready_ = false;
      back_off(MirrorState::kBackingOff);
      return true;
    }
    if (rd_kafka_error_txn_requires_abort(e)) {
      eos_abort();
      return true;
    }
    // Retriable or unclassified: treat as abortable (rewind) to stay safe.
    eos_abort();
    return true;
  }

  // A blocking transaction call (flush, commit, abort) can wait out a whole outage; the state
  // must say so meanwhile. Called between the slices of such a wait (begun at `since_ms`):
  // serves the error callback (which sets link_down_), then moves an 'online' mirror to
  // offline, or to `otherwise` when the link is up but the call failed. librdkafka does not
  // always raise ALL_BROKERS_DOWN again for a transactional producer, so a wait of over a
  // second also probes the cluster (at most once a second). (One 30 s call used to keep an
  // exactly-once mirror 'online', and /healthz green, for the whole of an uplink outage.)
  void note_stall(MirrorState otherwise, std::int64_t since_ms) {
    rd_kafka_poll(rk_.get(), 0);
    if (state() != MirrorState::kOnline) return;
    if (link_down_ || otherwise != MirrorState::kOnline) {
      set_state(link_down_ ? MirrorState::kOffline : otherwise);
      return;
    }
    std::int64_t now = mono_ms();
    if (now - since_ms >= 1000 && now - last_stall_probe_ms_ >= 1000) {
      if (!probe()) set_state(MirrorState::kOffline);
      last_stall_probe_ms_ = mono_ms();
    }
  }

  // rd_kafka_flush(txn_timeout_ms) in short slices, so that an outage during it shows.
  bool eos_flush() {
    std::int64_t start = mono_ms();
    for (;;) {
      if (rd_kafka_flush(rk_.get(), 200) == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
      note_stall(MirrorState::kOnline, start);
      if (mono_ms() - start >= shared_->central.txn_timeout_ms) return false;
    }
  }

  void eos_abort() {
    // Aborting because something failed: not 'online' while the abort waits.
    if (state() == MirrorState::kOnline) set_state(link_down_ ? MirrorState::kOffline : MirrorState::kBackingOff);
    while (!stopping()) {
      ErrorPtr e(rd_kafka_abort_transaction(rk_.get(), static_cast<int>(shared_->central.txn_timeout_ms)));
      if (!e) break;
      note_error("abort_transaction: " + take_error(e.get()));
      if (rd_kafka_error_is_fatal(e.get())) {
        if (rd_kafka_error_code(e.get()) == RD_KAFKA_RESP_ERR__FENCED) {
          set_state(MirrorState::kFenced);
          return;
        }
        destroy_producer();
        eos_ready_ = false;
        break;
      }
      sleep_ms(backoff_.next_delay_ms());
    }
    {
      std::lock_guard<std::mutex> lk(metrics_mu_);
      ++metrics_.txn_aborts;
      ++metrics_.redrives;
    }
    txn_open_ = false;
    open_reader(confirmed_ + 1);
    back_off(link_down_ ? MirrorState::kOffline : MirrorState::kBackingOff);
  }

  // One transaction: records a..b (plus gap reports) and the cursor {last_seq: b}.
  // Returns false if the mirror must stop.
  bool eos_transaction() {
    std::int64_t started = mono_ms();
    std::uint64_t last = confirmed_;
    std::uint64_t records = 0, bytes = 0, gaps = 0, lost = 0, gap_last = 0;
    store::RecordView rec;
    bool begun = false;
    auto begin = [&]() -> bool {
      if (begun) return true;
      ErrorPtr e(rd_kafka_begin_transaction(rk_.get()));
      if (e) return eos_handle_error(e.get(), "begin_transaction"), false;
      begun = txn_open_ = true;
      return true;
    };
    bool failed = false;
    while (!stopping() && records < s_.txn_max_records && !fatal_) {
      if (begun && mono_ms() - started >= s_.txn_max_ms) break;
      if (!rate_allows()) {
        if (!begun) return true;
        poll_for(std::clamp<std::int64_t>(rate_wait_ms(), 1, 100));
        continue;
      }
      auto r = reader_->next(&rec);
      if (r == store::Reader::Next::kEnd) {
        if (begun) break;
        sched_->draining.store(false);
        reader_->wait(100);
        return true;
      }
      if (r == store::Reader::Next::kCorruption) {
        last_damage_ = reader_->damage().message;
        note_error("mirror " + s_.name + ": " + reader_->damage().message);
        continue;
      }
      if (rec.seq < next_seq_) continue;
      if (!begin()) return state() != MirrorState::kFenced;
      if (rec.seq > next_seq_) {
        for (const auto& g : gap_pieces(next_seq_, rec.seq - 1)) {
          if (g.last <= gap_hwm_) continue;
          GapPiece piece = g;
          piece.first = std::max(g.first, gap_hwm_ + 1);
          std::string key = shared_->agent + "/" + s_.stream;
          if (auto err = produce(gap_topic_.get(), key, true, gap_json(piece), piece.last, wall_ms(), nullptr)) {
            note_error(std::string("produce gap record: ") + rd_kafka_err2str(err));
            failed = true;
            break;
          }
          ++gaps;
          lost += piece.last - piece.first + 1;
          gap_last = piece.last;
        }
        if (failed) break;
      }
      next_seq_ = rec.seq + 1;
      bool has_key = s_.key == KeyMode::kRecordKey && rec.has_key;
      if (auto err = produce(topic_.get(), rec.key, has_key, rec.payload, rec.seq, rec.event_time_ms, nullptr)) {
        note_error(std::string("produce: ") + rd_kafka_err2str(err));
        failed = true;
        break;
      }
      std::uint32_t b = static_cast<std::uint32_t>(rec.payload.size() + (has_key ? rec.key.size() : 0));
      record_bucket_.take(1);
      byte_bucket_.take(b);
      bytes += b;
      ++records;
      last = rec.seq;
      if (records % 1000 == 0) rd_kafka_poll(rk_.get(), 0);
    }
    if (!begun) return true;
    sched_->draining.store(records >= s_.txn_max_records);
    if (failed || fatal_) {
      fatal_ = false;
      if (rd_kafka_fatal_error(rk_.get(), nullptr, 0)) {
        char reason[256] = "";
        rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk_.get(), reason, sizeof reason);
        note_error(std::string("fatal: ") + rd_kafka_err2name(code) + ": " + reason);
        if (code == RD_KAFKA_RESP_ERR__FENCED) {
          set_state(MirrorState::kFenced);
          return false;
        }
        destroy_producer();
        eos_ready_ = false;
        txn_open_ = false;
        back_off(MirrorState::kBackingOff);
        return true;
      }
      eos_abort();
      return state() != MirrorState::kFenced;
    }
    // The cursor travels in the same transaction as the records it covers. It is produced
    // only once the records are acknowledged: a real broker hides all of an uncommitted
    // transaction anyway, and a cluster without transaction markers (the mock) then never
    // shows a cursor ahead of its records.
    if (!eos_flush()) {
      note_error("transaction records not acknowledged in time; aborting");
      eos_abort();
      return state() != MirrorState::kFenced;
    }
    std::string ckey = cursor_key(shared_->agent, s_.stream, s_.name);
    std::string cval = "{\"agent\":" + json_quote(shared_->agent) + ",\"stream\":" + json_quote(s_.stream) +
                       ",\"mirror\":" + json_quote(s_.name) + ",\"topic\":" + json_quote(s_.topic) +
                       ",\"last_seq\":" + std::to_string(last) + ",\"time_ms\":" + std::to_string(wall_ms()) + "}";
    if (auto err = produce(cursor_topic_.get(), ckey, true, cval, last, wall_ms(), nullptr)) {
      note_error(std::string("produce cursor: ") + rd_kafka_err2str(err));
      eos_abort();
      return state() != MirrorState::kFenced;
    }
    // The commit is awaited in 1 s slices (a timed-out commit_transaction resumes when called
    // again, librdkafka >= 1.6) so that an outage meanwhile shows in the state; one not done
    // after txn_timeout_ms is an error, retried with backoff as any retriable one.
    const std::int64_t commit_start = mono_ms();
    std::int64_t commit_deadline = commit_start + shared_->central.txn_timeout_ms;
    for (;;) {
      std::int64_t left = commit_deadline - mono_ms();
      ErrorPtr e(rd_kafka_commit_transaction(rk_.get(), static_cast<int>(std::clamp<std::int64_t>(left, 1, 1000))));
      if (!e) break;
      if (rd_kafka_error_code(e.get()) == RD_KAFKA_RESP_ERR__TIMED_OUT && left > 1000) {
        if (!stopping()) note_stall(MirrorState::kOnline, commit_start);
        continue;
      }
      if (rd_kafka_error_is_retriable(e.get()) && !stopping()) {
        note_error("commit_transaction (will retry): " + take_error(e.get()));
        note_stall(MirrorState::kBackingOff, commit_start);
        sleep_ms(backoff_.next_delay_ms());
        commit_deadline = mono_ms() + shared_->central.txn_timeout_ms;
        continue;
      }
      bool go_on = eos_handle_error(e.get(), "commit_transaction");
      return go_on;
    }
    txn_open_ = false;
    confirmed_ = last;
    if (gap_last > gap_hwm_) record_gaps_reported(gap_last, gaps, lost);
    {
      std::lock_guard<std::mutex> lk(metrics_mu_);
      ++metrics_.txn_commits;
    }
    backoff_.reset();
    link_down_ = false;
    if (state() != MirrorState::kOnline) set_state(MirrorState::kOnline);
    note_confirmed(records, bytes);
    commit_local_cursor();
    return true;
  }

  void run_exactly_once() {
    set_state(MirrorState::kOffline);
    retry_at_ms_ = 0;
    while (!stopping()) {
      if (rk_) rd_kafka_poll(rk_.get(), 0);
      MirrorState st = state();
      if (st == MirrorState::kFenced || st == MirrorState::kFailed) break;
      if (!eos_ready_) {
        std::int64_t now = mono_ms();
        if (now < retry_at_ms_) {
          sleep_ms(std::min<std::int64_t>(100, retry_at_ms_ - now));
          continue;
        }
        eos_ready_ = eos_init();
        continue;
      }
      if (rk_ == nullptr) {
        eos_ready_ = false;
        continue;
      }
      if (!ensure_online()) {
        sched_->draining.store(false);
        continue;
      }
      if (shared_->scheduler.higher_priority_draining(sched_)) {
        sched_->draining.store(false);
        poll_for(50);
        continue;
      }
      if (!eos_transaction()) break;
      publish_in_flight();
    }
    if (rk_ && txn_open_) {
      ErrorPtr e(rd_kafka_abort_transaction(rk_.get(), static_cast<int>(std::max<std::int64_t>(100, stop_timeout_ms_))));
    }
    destroy_producer();
  }

  Shared* shared_;
  const MirrorSettings s_;
  const std::string cursor_name_;
  const std::string gap_meta_key_;
  Scheduler::Entry* sched_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::int64_t stop_timeout_ms_ = 5000;
  std::int64_t last_stall_probe_ms_ = 0;  // mirror thread only
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;

  // Mirror thread only.
  store::StreamId stream_ = 0;
  std::unique_ptr<store::Reader> reader_;
  std::uint64_t next_seq_ = 1;          // next sequence expected from the reader
  std::uint64_t confirmed_ = 0;         // contiguous prefix Kafka confirmed
  std::uint64_t committed_cursor_ = 0;  // last value stored in the catalog
  std::int64_t last_cursor_commit_ms_ = 0;  // last write (or failed attempt) of the cursor
  std::size_t unsaved_ = 0;             // at-least-once: units confirmed since the last cursor write
  bool cursor_write_failing_ = false;   // the last cursor write failed
  std::uint64_t gap_hwm_ = 0;           // gaps up to here were reported (meta key)
  std::vector<store::DroppedRange> dropped_;  // of our stream, cached
  std::int64_t dropped_after_id_ = 0;
  std::string last_damage_;
  std::int64_t last_tail_check_ms_ = 0;
  std::deque<Unit> units_;              // at-least-once window (element addresses are stable)
  std::uint64_t in_flight_ = 0;
  std::map<std::uint64_t, std::pair<int, std::string>> rejected_;  // seq -> (times, why)
  KafkaPtr rk_;
  TopicPtr topic_, gap_topic_, cursor_topic_;
  bool need_redrive_ = false;
  std::int64_t unconfirmed_timeout_ms_ = 0;  // at-least-once: our message.timeout.ms, 0 = none
  bool fatal_ = false;
  bool link_down_ = false;
  bool eos_ready_ = false;
  bool txn_open_ = false;
  std::int64_t retry_at_ms_ = 0;
  base::Backoff backoff_;
  TokenBucket record_bucket_;
  TokenBucket byte_bucket_;
  std::int64_t rate_window_start_ = 0;
  std::uint64_t rate_window_records_ = 0;

  mutable std::mutex metrics_mu_;
  MirrorMetrics metrics_;                       // GUARDED_BY(metrics_mu_)
  std::optional<store::StreamId> stream_known_;  // GUARDED_BY(metrics_mu_)
};

class SyncImpl final : public Sync {
 public:
  SyncImpl(store::Log* log, SyncSettings settings) {
    shared_.log = log;
    shared_.agent = settings.agent;
    shared_.central = settings.central;
    // Higher priority first, so metrics list in drain order.
    std::stable_sort(settings.mirrors.begin(), settings.mirrors.end(),
                     [](const auto& a, const auto& b) { return a.priority > b.priority; });
    for (auto& m : settings.mirrors) mirrors_.push_back(std::make_unique<Mirror>(&shared_, std::move(m)));
  }
  ~SyncImpl() override { stop(2000); }

  Status start() override {
    if (started_) return Status::ok();
    started_ = true;
    for (auto& m : mirrors_) m->start();
    return Status::ok();
  }

  void stop(std::int64_t timeout_ms) override {
    if (!started_ || stopped_) return;
    stopped_ = true;
    for (auto& m : mirrors_) m->request_stop(timeout_ms);
    for (auto& m : mirrors_) m->join();
  }

  std::vector<MirrorMetrics> metrics() const override {
    std::vector<MirrorMetrics> out;
    for (const auto& m : mirrors_) out.push_back(m->snapshot());
    return out;
  }

 private:
  Shared shared_;
  std::vector<std::unique_ptr<Mirror>> mirrors_;
  bool started_ = false;
  bool stopped_ = false;
};

Status validate(const SyncSettings& s) {
  if (s.agent.empty()) return Status::invalid_argument("sync: agent name is empty");
  if (s.central.brokers.empty()) return Status::invalid_argument("sync: central brokers are empty");
  static const char* kCodecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  if (std::find_if(std::begin(kCodecs), std::end(kCodecs),
                   [&](const char* c) { return s.central.compression == c; }) == std::end(kCodecs)) {
    return Status::invalid_argument("sync: compression '" + s.central.compression +
                                    "' is not one of none, gzip, snappy, lz4, zstd");
  }
  if (s.central.gap_topic.empty()) return Status::invalid_argument("sync: gap_topic is empty");
  std::set<std::string> names;
  for (const auto& m : s.mirrors) {
    std::string where = "sync: mirror '" + m.name + "': ";
    if (m.name.empty()) return Status::invalid_argument("sync: a mirror has no name");
    if (!names.insert(m.name).second) return Status::invalid_argument(where + "duplicate mirror name");
    if (m.stream.empty()) return Status::invalid_argument(where + "stream is empty");
    if (m.topic.empty()) return Status::invalid_argument(where + "topic is empty");
    if (m.max_records_per_s < 0 || m.max_bytes_per_s < 0) {
      return Status::invalid_argument(where + "max rate must be >= 0");
    }
    if (m.max_in_flight < 1) return Status::invalid_argument(where + "max_in_flight must be >= 1");
    if (m.delivery == Delivery::kExactlyOnce) {
      if (s.central.cursor_topic.empty()) {
        return Status::invalid_argument(where + "exactly_once needs central.cursor_topic");
      }
      if (m.txn_max_records < 1 || m.txn_max_ms < 1) {
        return Status::invalid_argument(where + "transaction limits must be >= 1");
      }
    }
  }
  // Every property must be known to librdkafka (the error names it).
  auto conf = make_conf(s.central, {});
  if (!conf) return conf.status().with_context("sync: central");
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Sync>> Sync::create(store::Log* log, SyncSettings settings) {
  if (log == nullptr) return Status::invalid_argument("sync: no log");
  OUTPOST_RETURN_IF_ERROR(validate(settings));
  return std::unique_ptr<Sync>(new SyncImpl(log, std::move(settings)));
}

}  // namespace outpost::sync
