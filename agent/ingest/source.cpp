#include "agent/ingest/source.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "agent/ingest/source_internal.h"

namespace outpost::ingest {

std::int64_t wall_time_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* source_state_name(SourceState state) {
  switch (state) {
    case SourceState::kStopped: return "stopped";
    case SourceState::kConnecting: return "connecting";
    case SourceState::kConnected: return "connected";
    case SourceState::kDisconnected: return "disconnected";
    case SourceState::kReopening: return "reopening";
    case SourceState::kStalled: return "stalled";
  }
  return "unknown";
}

SourceLogger default_source_logger() {
  return [](int level, std::string_view component, std::string_view message) {
    const char* name = level <= 3 ? "error" : level <= 4 ? "warning" : level <= 6 ? "info" : "debug";
    std::string line;
    line.reserve(component.size() + message.size() + 16);
    line.append(name).append(" ").append(component).append(": ").append(message).append("\n");
    // One write per line so lines from several threads do not interleave.
    ssize_t n = ::write(2, line.data(), line.size());
    (void)n;
  };
}

namespace internal {

MetricsBox::MetricsBox(std::string name, std::string kind, std::string endpoint) {
  m_.name = std::move(name);
  m_.kind = std::move(kind);
  m_.endpoint = std::move(endpoint);
  m_.state_since_ms = wall_time_ms();
  m_.detail = "stopped";
}

SourceMetrics MetricsBox::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return m_;
}

void MetricsBox::set_state(SourceState state, std::string detail) {
  std::lock_guard<std::mutex> lock(mu_);
  if (m_.state != state) m_.state_since_ms = wall_time_ms();
  m_.state = state;
  m_.healthy = state == SourceState::kConnected;
  m_.detail = std::move(detail);
}

SourceState MetricsBox::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return m_.state;
}

void MetricsBox::record_error(std::string message) {
  std::lock_guard<std::mutex> lock(mu_);
  ++m_.errors;
  m_.last_error = std::move(message);
  m_.last_error_time_ms = wall_time_ms();
}

void MetricsBox::record_connect_failure(std::string message) {
  std::lock_guard<std::mutex> lock(mu_);
  ++m_.connect_failures;
  m_.last_error = std::move(message);
  m_.last_error_time_ms = wall_time_ms();
}

void MetricsBox::record_sink_error(std::string message) {
  std::lock_guard<std::mutex> lock(mu_);
  ++m_.sink_errors;
  m_.last_error = std::move(message);
  m_.last_error_time_ms = wall_time_ms();
}

void MetricsBox::record_read(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  m_.read_bytes += bytes;
}

void MetricsBox::record_received(std::size_t bytes, bool duplicate) {
  std::lock_guard<std::mutex> lock(mu_);
  ++m_.received;
  m_.bytes += bytes;
  if (duplicate) ++m_.duplicates;
  m_.last_message_time_ms = wall_time_ms();
  m_.last_message_steady_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count();
}

void MetricsBox::record_delivered(bool malformed) {
  std::lock_guard<std::mutex> lock(mu_);
  ++m_.delivered;
  if (malformed) ++m_.malformed;
}

void MetricsBox::record_connected(bool first) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!first) ++m_.reconnects;
}

}  // namespace internal
}  // namespace outpost::ingest
