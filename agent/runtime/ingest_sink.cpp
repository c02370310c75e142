#include "agent/runtime/ingest_sink.h"

#include <chrono>

#include "agent/runtime/logging.h"
#include "agent/runtime/status_json.h"

namespace outpost::runtime {
namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

IngestSink::IngestSink(store::Log* log,
                       const std::map<std::string, std::unique_ptr<StreamRuntime>, std::less<>>* streams,
                       StoreHealth* store_health, bool mqtt)
    : log_(log), streams_(streams), store_health_(store_health), mqtt_(mqtt) {}

StreamCodec& IngestSink::codec_for(StreamRuntime& stream) {
  auto it = codecs_.find(stream.plan.name);
  if (it == codecs_.end()) {
    it = codecs_.emplace(stream.plan.name, std::make_unique<StreamCodec>(stream.plan.codec)).first;
  }
  return *it->second;
}

Status IngestSink::record_append_error(StreamRuntime& stream, const Status& st) {
  stream.counters.append_errors.fetch_add(1, std::memory_order_relaxed);
  store_health_->last_error_ms.store(wall_ms());
  {
    std::lock_guard<std::mutex> lock(store_health_->mu);
    store_health_->last_error = "stream " + stream.plan.name + ": " + st.message();
  }
  return st.with_context("stream " + stream.plan.name);
}

Status IngestSink::dead_letter(StreamRuntime& stream, const ingest::SourceMessage& m, std::string_view reason) {
  // A dead letter keeps the original bytes (as a string; invalid UTF-8 is replaced, the byte
  // count says how long it was), why it was rejected and where it came from.
  dead_letter_buffer_.clear();
  dead_letter_buffer_ += "{\"reason\":";
  dead_letter_buffer_ += json_quote(reason);
  dead_letter_buffer_ += ",\"source\":";
  dead_letter_buffer_ += json_quote(m.source);
  dead_letter_buffer_ += ",\"origin\":";
  dead_letter_buffer_ += json_quote(m.origin);
  dead_letter_buffer_ += ",\"bytes\":";
  dead_letter_buffer_ += std::to_string(m.payload.size());
  dead_letter_buffer_ += ",\"payload\":";
  dead_letter_buffer_ += json_quote(m.payload.substr(0, 64 * 1024));
  dead_letter_buffer_ += '}';
  store::AppendRecord rec;
  rec.key = m.origin;
  rec.payload = dead_letter_buffer_;
  auto seq = log_->append(stream.dead_letter_id, rec, store::AppendDurability::kWritten);
  if (!seq.is_ok()) return record_append_error(stream, seq.status());
  stream.counters.dead_letters.fetch_add(1, std::memory_order_relaxed);
  store_health_->last_ok_ms.store(wall_ms());
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
  if (m.malformed) {
    stream.counters.malformed.fetch_add(1, std::memory_order_relaxed);
    return dead_letter(stream, m, m.malformed_reason);
  }
  DecodedRecord decoded;
  std::string reason;
  if (!codec_for(stream).decode(m.payload, &decoded, &reason)) {
    stream.counters.decode_errors.fetch_add(1, std::memory_order_relaxed);
    return dead_letter(stream, m, reason);
  }
  store::AppendRecord rec;
  rec.payload = decoded.payload;
  rec.key = decoded.key;
  rec.event_time_ms = decoded.event_time_ms;
  // Written to the OS before the source acknowledges (SEMANTICS 0). An MQTT QoS 0 message is
  // never acknowledged (the broker forgets it once sent), so it waits for the group commit
  // like any buffered append and saves one write() per message.
  const auto durability = mqtt_ && m.qos == 0 ? store::AppendDurability::kBuffered : store::AppendDurability::kWritten;
  auto seq = log_->append(stream.id, rec, durability);
  if (!seq.is_ok()) return record_append_error(stream, seq.status());
  stream.counters.records.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t now = wall_ms();
  stream.counters.last_append_ms.store(now, std::memory_order_relaxed);
  store_health_->last_ok_ms.store(now, std::memory_order_relaxed);
  return Status::ok();
}

Status IngestSink::make_durable() { return log_->flush(); }

}  // namespace outpost::runtime
