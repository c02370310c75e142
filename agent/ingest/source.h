// Ingest sources: where raw sensor bytes enter Outpost.
//
// A Source (MQTT in mqtt_source.h, serial in serial_source.h) turns what it receives into
// SourceMessages and hands each one to a MessageSink. The sink (the runtime's: decode, append
// to the store, dead-letter what does not decode) decides nothing about acknowledgement: the
// source acknowledges a message to its peer (MQTT PUBACK/PUBCOMP) or consumes serial bytes only
// after MessageSink::deliver() returned ok, i.e. after the record is written to the operating
// system (store::AppendDurability::kWritten). That is docs/SEMANTICS.md 0; README.md in this
// folder gives the exact guarantees and the threads.
//
// Threads: each source owns its threads (see its header). deliver() and make_durable() are
// called from those threads, one message at a time per source; a sink shared by several sources
// must be thread-safe. metrics() may be called from any thread at any time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/backoff.h"
#include "base/status.h"

namespace outpost::ingest {

// One message as a source received it. The views are valid only during deliver().
struct SourceMessage {
  std::string_view source;   // the source's configured name, e.g. "plant-broker"
  std::string_view stream;   // target stream configured for what matched (subscription/device)
  std::string_view origin;   // the MQTT topic or the serial device path
  std::string_view payload;  // raw bytes, not validated (NUL, invalid UTF-8 pass through)
  std::int64_t receive_time_ms = 0;  // wall clock when the source got it

  // MQTT only.
  int qos = 0;
  bool retained = false;
  bool duplicate = false;  // DUP flag: the broker may have sent it before (QoS 1 redelivery)

  // Set when the source itself found the bytes unusable (a serial line over max_line_bytes, a
  // partial line cut by a device disconnect). The sink should dead-letter it with this reason;
  // payload then holds what was kept of the bytes.
  bool malformed = false;
  std::string_view malformed_reason;
};

// Where sources put messages. Implemented by the runtime (decode + append) and by tests.
class MessageSink {
 public:
  virtual ~MessageSink() = default;

  // Stores the message (or its dead-letter record). Contract: returns ok only once the record
  // has been appended with at least store::AppendDurability::kWritten, so that a process crash
  // right after cannot lose it; the source acknowledges the message only after that. A non-ok
  // Status means nothing usable was stored: the source does not acknowledge or consume the
  // message and retries it after a backoff (e.g. Status::full while the disk quota rejects).
  virtual Status deliver(const SourceMessage& message) = 0;

  // Returns once everything delivered so far is durable (group commit fdatasync'd, e.g.
  // store::Log::flush()). Called after each deliver() only with ack mode kDurable.
  virtual Status make_durable() = 0;
};

// When a source acknowledges / consumes a message.
enum class AckMode : std::uint8_t {
  kWritten,  // after deliver() (written to the OS): kill -9 loses nothing acknowledged; a
             // power cut may lose up to flush.interval of acknowledged messages.
  kDurable,  // after deliver() and make_durable() (fdatasync'd): nothing acknowledged is lost
             // even to a power cut; throughput is bounded by the fsync latency.
};

// Reconnect and reopen delays (base/backoff.h: jittered per instance).
using base::Backoff;
using base::BackoffOptions;

enum class SourceState : std::uint8_t {
  kStopped,       // not started, or stopped
  kConnecting,    // first connection attempt in progress (MQTT)
  kConnected,     // receiving (MQTT connected and subscribed; serial device open)
  kDisconnected,  // MQTT broker unreachable or refused us; retrying with backoff
  kReopening,     // serial device gone or failing to open; retrying with backoff
  kStalled,       // connected, but the sink refuses messages; nothing is acknowledged
};
const char* source_state_name(SourceState state);

// A consistent snapshot of a source's counters and health.
struct SourceMetrics {
  std::string name;
  std::string kind;      // "mqtt" or "serial"
  std::string endpoint;  // broker URI or device path
  SourceState state = SourceState::kStopped;
  std::uint64_t received = 0;    // messages/frames received from the peer
  std::uint64_t delivered = 0;   // accepted by the sink (acknowledged / consumed)
  std::uint64_t malformed = 0;   // delivered flagged malformed (serial over-long/partial lines)
  std::uint64_t duplicates = 0;  // received with the MQTT DUP flag (possible redeliveries)
  std::uint64_t bytes = 0;       // payload bytes received
  // Bytes read from the peer before framing: for a serial device every byte read, including a
  // line not complete yet (a test or an operator can tell "read and held" from "never read");
  // for MQTT the payload bytes, as `bytes`.
  std::uint64_t read_bytes = 0;
  std::uint64_t reconnects = 0;  // successful connections/opens after the first
  std::uint64_t connect_failures = 0;  // failed connection/open attempts
  std::uint64_t errors = 0;      // connection losses, read errors
  std::uint64_t sink_errors = 0; // deliver()/make_durable() failures (message retried)
  std::int64_t last_message_time_ms = 0;  // wall clock of the last received message; 0 = none
  // The same instant on the monotonic clock (steady_clock ms), for ages: health.source_silence
  // must not be fooled when NTP sets the wall clock back or forward.
  std::int64_t last_message_steady_ms = 0;
  std::int64_t state_since_ms = 0;        // wall clock of the last state change
  std::string last_error;                 // human-readable, names broker/device and cause
  std::int64_t last_error_time_ms = 0;

  // For /healthz: false while disconnected, reopening or stalled. `detail` says why, e.g.
  // "mqtt broker down: plant-broker (tcp://10.0.0.5:1883): connection refused, retry in 4s".
  bool healthy = false;
  std::string detail;
};

// Log sink for a source's own events (connect, loss, errors). level: 3 error, 4 warning,
// 6 info, 7 debug (syslog numbers, as agent/runtime/logging.h). component e.g. "mqtt[plant]".
using SourceLogger =
    std::function<void(int level, std::string_view component, std::string_view message)>;
// Writes "component: message" lines to stderr; used when no logger is given.
SourceLogger default_source_logger();

class Source {
 public:
  virtual ~Source() = default;  // stops the source

  // Starts the source's threads and returns; connection/open failures do not fail start()
  // (they are retried and visible in metrics()). Fails only on invalid options.
  virtual Status start() = 0;
  // Stops receiving and joins the source's threads. Nothing unacknowledged is acknowledged by
  // stopping. Idempotent.
  virtual void stop() = 0;
  virtual SourceMetrics metrics() const = 0;
  virtual const std::string& name() const = 0;
};

// Wall-clock milliseconds since the Unix epoch.
std::int64_t wall_time_ms();

}  // namespace outpost::ingest
