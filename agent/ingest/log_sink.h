// A MessageSink that appends raw payloads to store streams, without decoding.
//
// For `format: raw` streams, for tests and tools. The runtime's sink decodes first; this one
// keeps the bytes as they came. Each message goes to the stream named in SourceMessage::stream
// (opened on first use); the record key is the origin (MQTT topic / device path). Messages
// flagged malformed go to the dead-letter stream instead, with key "<origin>: <reason>".
//
// Thread-safe: several sources may share one LogSink (the Log serialises appends per stream).
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "agent/ingest/source.h"
#include "store/log.h"

namespace outpost::ingest {

class LogSink final : public MessageSink {
 public:
  // log must outlive the sink.
  explicit LogSink(store::Log* log, std::string dead_letter_stream = "dead_letter");

  Status deliver(const SourceMessage& message) override;
  Status make_durable() override;

 private:
  Result<store::StreamId> stream_id(std::string_view name);

  store::Log* const log_;
  const std::string dead_letter_stream_;
  std::mutex mu_;
  std::map<std::string, store::StreamId, std::less<>> ids_;  // GUARDED_BY(mu_)
};

}  // namespace outpost::ingest
