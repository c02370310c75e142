// Internals shared by the sources; not part of the public API.
#pragma once

#include <mutex>
#include <string>

#include "agent/ingest/source.h"

namespace outpost::ingest::internal {

// The counters of one source behind a mutex. Writers: the source's threads; readers: anyone
// through snapshot(). The lock is held only for a few field updates.
class MetricsBox {
 public:
  MetricsBox(std::string name, std::string kind, std::string endpoint);

  SourceMetrics snapshot() const;

  // Changes state and the health detail in one step.
  void set_state(SourceState state, std::string detail);
  SourceState state() const;
  void record_error(std::string message);  // errors++ and last_error
  void record_connect_failure(std::string message);
  void record_sink_error(std::string message);
  void record_received(std::size_t bytes, bool duplicate);
  void record_read(std::size_t bytes);  // read_bytes += bytes
  void record_delivered(bool malformed);
  void record_connected(bool first);  // reconnects++ unless first

 private:
  mutable std::mutex mu_;
  SourceMetrics m_;  // GUARDED_BY(mu_)
};

}  // namespace outpost::ingest::internal
