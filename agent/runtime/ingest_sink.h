// The runtime's MessageSink: decode a source message (agent/decode's Decoder for the stream's
// StreamSpec) and append it to its stream, or write a dead-letter record (agent/decode's
// dead_letter.h format) naming why it did not decode and where it came from. Nothing is dropped silently: every message
// ends up as a record in its stream or in the stream's dead-letter stream, and is counted.
//
// Threads: one IngestSink per source, called only from that source's threads (so its decoders
// need no locks). StreamCounters are shared between sinks and read by the HTTP thread; they
// are atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/decode/dead_letter.h"
#include "agent/decode/decoder.h"
#include "agent/ingest/source.h"
#include "agent/runtime/plan.h"
#include "store/log.h"

namespace outpost::runtime {

struct StreamCounters {
  std::atomic<std::uint64_t> records{0};        // appended to the stream
  std::atomic<std::uint64_t> dead_letters{0};   // appended to its dead-letter stream
  std::atomic<std::uint64_t> decode_errors{0};  // payloads that failed to decode
  // decode_errors by decode::ErrorClass, so a dashboard can tell a schema change (field_type,
  // missing_field) from line noise (syntax, not_utf8) without reading dead letters.
  std::array<std::atomic<std::uint64_t>, decode::kErrorClassCount> decode_errors_by_class{};
  std::atomic<std::uint64_t> malformed{0};      // frames the source itself flagged (e.g. over-long lines)
  std::atomic<std::uint64_t> append_errors{0};  // the log refused (full, I/O); message not acked
  std::atomic<std::uint64_t> bytes{0};          // payload bytes received
  std::atomic<std::int64_t> last_append_ms{0};
};

// A stream as the runtime knows it: its ids in the log, its plan and its counters.
struct StreamRuntime {
  StreamPlan plan;
  store::StreamId id = 0;
  store::StreamId dead_letter_id = 0;
  StreamCounters counters;
};

// Set by the sink on a failed append; read by health. Shared by all sinks.
struct StoreHealth {
  std::atomic<std::int64_t> last_error_ms{0};
  std::atomic<std::int64_t> last_ok_ms{0};
  std::mutex mu;
  std::string last_error;  // GUARDED_BY(mu)
};

class IngestSink final : public ingest::MessageSink {
 public:
  // `streams` maps stream names to runtimes; all must outlive the sink.
  // `mqtt`: the source is MQTT, where a QoS 0 message is never acknowledged, so it need not be
  // written through before deliver() returns. Serial bytes are "consumed" on return, like an
  // acknowledgement, so serial messages always are.
  // `origin_prefix` goes before a message's origin in a dead letter's "source": the broker
  // URI and "/" for MQTT ("tcp://10.0.0.2:1883/plant/boiler/temp"), empty for serial (the
  // device path is the origin).
  IngestSink(store::Log* log, const std::map<std::string, std::unique_ptr<StreamRuntime>, std::less<>>* streams,
             StoreHealth* store_health, bool mqtt, std::string origin_prefix);

  Status deliver(const ingest::SourceMessage& message) override;
  Status make_durable() override;

 private:
  Status dead_letter(StreamRuntime& stream, const ingest::SourceMessage& message, const decode::DeadLetter& letter);
  // The stream's decoder for this sink's thread, made on the first message (a source that
  // never sees a stream costs it nothing); null only if the spec is invalid, which
  // plan_from_config already refused.
  decode::Decoder* decoder_for(StreamRuntime& stream);
  Status record_append_error(StreamRuntime& stream, const Status& st);

  store::Log* const log_;
  const std::map<std::string, std::unique_ptr<StreamRuntime>, std::less<>>* const streams_;
  StoreHealth* const store_health_;
  const bool mqtt_;
  const std::string origin_prefix_;
  std::map<std::string, std::unique_ptr<decode::Decoder>, std::less<>> decoders_;  // per stream, this sink's thread
  std::string dead_letter_buffer_;
  std::string source_buffer_;
};

}  // namespace outpost::runtime
