// Hooks the SQL compiler into config loading (`outpost check`, `outpost run`): each query's SQL
// is compiled against the streams declared in the same config, and problems are reported at
// the `sql:` value with their line and column inside the SQL.
#pragma once

#include <vector>

#include "agent/config/config.h"
#include "agent/query/query.h"

namespace outpost::query {

// The schema of a declared stream as the compiler sees it (fields, time and key field).
StreamSchema schema_of(const config::StreamConfig& stream);

// Checks one query of a loaded config; what register_config_sql_check() installs.
std::vector<config::SqlIssue> check_query_sql(const config::QueryConfig& query, const config::Config& config);

// Registers check_query_sql with config::register_sql_check. Call once at startup, before any
// config is loaded (not thread-safe, like register_sql_check itself).
void register_config_sql_check();

}  // namespace outpost::query
