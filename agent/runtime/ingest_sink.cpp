#include "agent/runtime/ingest_sink.h"

#include <chrono>

#include "agent/runtime/logging.h"

namespace outpost::runtime {
namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

IngestSink::IngestSink(store::Log* log,
                       const std::map<std::string, std::unique_ptr<StreamRuntime>, std::less<>>* streams,
                       StoreHealth* store_health, bool mqtt, std::string origin_prefix)
    : log_(log), streams_(streams), store_health_(store_health), mqtt_(mqtt), origin_prefix_(std::move(origin_prefix)) {}

decode::Decoder* IngestSink::decoder_for(StreamRuntime& stream) {
  auto it = decoders_.find(stream.plan.name);
  if (it != decoders_.end()) return it->second.get();
  auto created = decode::Decoder::create(stream.plan.decode);
  if (!created.is_ok()) {
    log_error("decode", "stream " + stream.plan.name + ": " + created.status().message());
    return nullptr;
  }
  return decoders_.emplace(stream.plan.name, std::move(created).value()).first->second.get();
}

Status IngestSink::record_append_error(StreamRuntime& stream, const Status& st) {
  stream.counters.append_errors.fetch_add(1, std::memory_order_relaxed);
  store_health_->last_error_ms.store(steady_ms());
  {
    std::lock_guard<std::mutex> lock(store_health_->mu);
    store_health_->last_error = "stream " + stream.plan.name + ": " + st.message();
  }
  return st.with_context("stream " + stream.plan.name);
}

Status IngestSink::dead_letter(StreamRuntime& stream, const ingest::SourceMessage& m, const decode::DeadLetter& d) {
  dead_letter_buffer_.clear();
  decode::append_dead_letter_json(&dead_letter_buffer_, d);
  store::AppendRecord rec;
  rec.key = m.origin;  // the topic or device: dead letters of one origin stay together centrally
  rec.payload = dead_letter_buffer_;
  auto seq = log_->append(stream.dead_letter_id, rec, store::AppendDurability::kWritten);
  if (!seq.is_ok()) return record_append_error(stream, seq.status());
  stream.counters.dead_letters.fetch_add(1, std::memory_order_relaxed);
  store_health_->last_ok_ms.store(steady_ms());
  return Status::ok();
}

Status IngestSink::deliver(const ingest::SourceMessage& m) {
  auto it = streams_->find(m.stream);
  if (it == streams_->end()) {
    // outpost check rejects a source naming an undeclared stream, so this is a bug; refuse
    // rather than drop: the source keeps the message and retries.
    return Status::invalid_argument("message for undeclared stream '" + std::string(m.stream) + "'");
  }
  StreamRuntime& stream = *it->second;
  stream.counters.bytes.fetch_add(m.payload.size(), std::memory_order_relaxed);
  source_buffer_.assign(origin_prefix_);
  source_buffer_.append(m.origin);
  if (m.malformed) {
    stream.counters.malformed.fetch_add(1, std::memory_order_relaxed);
    decode::DeadLetter d;
    d.payload = m.payload;
    d.reason = m.malformed_reason;
    d.source = source_buffer_;
    d.stream = stream.plan.name;
    d.error_class = "source";
    return dead_letter(stream, m, d);
  }
  decode::Decoder* decoder = decoder_for(stream);
  if (decoder == nullptr) {
    stream.counters.decode_errors.fetch_add(1, std::memory_order_relaxed);
    decode::DeadLetter d;
    d.payload = m.payload;
    d.reason = "the stream's decoder could not be built (see the daemon's log)";
    d.source = source_buffer_;
    d.stream = stream.plan.name;
    return dead_letter(stream, m, d);
  }
  const decode::DecodeResult result = decoder->decode(m.payload);
  if (result.is_error()) {
    stream.counters.decode_errors.fetch_add(1, std::memory_order_relaxed);
    stream.counters.decode_errors_by_class[static_cast<std::size_t>(result.error().error_class)].fetch_add(
        1, std::memory_order_relaxed);
    return dead_letter(stream, m, decode::dead_letter_for(result.error(), m.payload, source_buffer_, stream.plan.name));
  }
  // A csv header line: nothing to store, and the message is consumed (the decoder counts it).
  if (result.is_skipped()) return Status::ok();
  const decode::Decoded& decoded = result.decoded();
  store::AppendRecord rec;
  rec.payload = decoded.payload;
  rec.key = decoded.key;
  rec.event_time_ms = decoded.event_time_ms;
  // Written to the OS before the source acknowledges (docs/SEMANTICS.md 0). An MQTT QoS 0 message is
  // never acknowledged (the broker forgets it once sent), so it waits for the group commit
  // like any buffered append and saves one write() per message.
  const auto durability = mqtt_ && m.qos == 0 ? store::AppendDurability::kBuffered : store::AppendDurability::kWritten;
  auto seq = log_->append(stream.id, rec, durability);
  if (!seq.is_ok()) return record_append_error(stream, seq.status());
  stream.counters.records.fetch_add(1, std::memory_order_relaxed);
  stream.counters.last_append_ms.store(wall_ms(), std::memory_order_relaxed);
  store_health_->last_ok_ms.store(steady_ms(), std::memory_order_relaxed);
  return Status::ok();
}

Status IngestSink::make_durable() { return log_->flush(); }

}  // namespace outpost::runtime
