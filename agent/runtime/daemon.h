// The daemon behind `outpost run`: sources -> decode -> append, continuous queries, sync and
// the HTTP surface, on one libuv loop that owns signals, timers and systemd notification.
//
// Threads:
//   - the loop thread (the caller of run()) owns the Daemon: start, reload, stop, health, the
//     watchdog and STATUS= text;
//   - each source owns its threads and calls its IngestSink (decode + append) on them;
//   - the Log owns its flusher; each query runner and each mirror owns one thread;
//   - the HTTP server owns its threads and reads snapshots (metrics(), health()) only.
// Shutdown order (SIGTERM/SIGINT): stop sources (nothing more is acknowledged), flush the log,
// stop queries (checkpoint), stop sync (cursors committed for what was confirmed), close.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/runtime/plan.h"
#include "store/log.h"
#include "base/status.h"

namespace outpost::runtime {

class Daemon {
 public:
  // Runs `plan`; `reload` produces the next plan on SIGHUP (a failed reload keeps the running
  // one).
  Daemon(Plan plan, PlanLoader reload);
  ~Daemon();

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Opens the log, creates streams, starts sources, queries, sync and HTTP, then runs the loop
  // until SIGTERM/SIGINT (or request_stop()). SIGHUP reloads the config. Returns the exit code:
  // 0 after a clean shutdown, 3 when start-up failed (the reason is logged).
  int run();

  // Thread-safe; makes run() shut down as on SIGTERM.
  void request_stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::runtime
