// The HTTP surface of the daemon (cpp-httplib), loopback by default.
//
//   GET /metrics         Prometheus text format
//   GET /healthz         200 or 503 with a JSON body naming each unhealthy part
//   GET /v1/streams      JSON: the local log's streams and their stats
//   GET /v1/status       JSON: what `outpost status` prints
//   GET /v1/query?sql=   JSON rows of a historical query (for Grafana JSON/Infinity sources)
//
// Threads: the server runs its own listener thread and a small worker pool; handlers are
// called on those threads, so the callbacks given here must be thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/status.h"

namespace outpost::http {

struct Health {
  bool healthy = true;
  std::string json;  // {"status":"ok"|"unhealthy","checks":{...}}
};

struct Handlers {
  std::function<std::string()> metrics;
  std::function<Health()> health;
  std::function<std::string()> streams;
  std::function<std::string()> status;
  // Runs a historical query; the Status message is returned to the client as a 400 error.
  std::function<Result<std::string>(const std::string& sql)> query;
};

class Server {
 public:
  // listen is "host:port"; port 0 picks a free port (see port()).
  static Result<std::unique_ptr<Server>> start(const std::string& listen, Handlers handlers);
  virtual ~Server() = default;  // stops the listener and joins its thread
  virtual int port() const = 0;
  virtual std::string address() const = 0;  // "127.0.0.1:8470"
};

}  // namespace outpost::http
