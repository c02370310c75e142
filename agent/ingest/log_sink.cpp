#include "agent/ingest/log_sink.h"

namespace outpost::ingest {

LogSink::LogSink(store::Log* log, std::string dead_letter_stream)
    : log_(log), dead_letter_stream_(std::move(dead_letter_stream)) {}

Result<store::StreamId> LogSink::stream_id(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ids_.find(name);
  if (it != ids_.end()) return it->second;
  auto id = log_->open_stream(name);
  if (!id.is_ok()) return id.status().with_context("opening stream '" + std::string(name) + "'");
  ids_.emplace(std::string(name), id.value());
  return id.value();
}

Status LogSink::deliver(const SourceMessage& m) {
  std::string key;
  std::string_view stream = m.stream;
  if (m.malformed) {
    stream = dead_letter_stream_;
    key.append(m.origin).append(": ").append(m.malformed_reason);
  } else {
    key.assign(m.origin);
  }
  auto id = stream_id(stream);
  if (!id.is_ok()) return id.status();
  store::AppendRecord rec;
  rec.event_time_ms = m.receive_time_ms;
  rec.key = key;
  rec.payload = m.payload;
  auto seq = log_->append(id.value(), rec, store::AppendDurability::kWritten);
  if (!seq.is_ok()) return seq.status().with_context("appending to stream '" + std::string(stream) + "'");
  return Status::ok();
}

Status LogSink::make_durable() { return log_->flush(); }

}  // namespace outpost::ingest
