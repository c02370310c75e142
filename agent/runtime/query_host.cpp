#include "agent/runtime/query_host.h"

namespace outpost::runtime {

// The continuous query engine (agent/query) is not part of this build yet; the config loader
// rejects `queries:` with a clear message, so create() is only reached by a programming error.
Result<std::unique_ptr<QueryHost>> QueryHost::create(store::Log*, const QueryPlan& plan) {
  return Status::invalid_argument("query " + plan.name + ": continuous queries are not available in this build yet");
}

Result<std::string> run_historical_query(store::Log*, const std::string&) {
  return Status::invalid_argument("historical queries are not available in this build yet");
}

}  // namespace outpost::runtime
