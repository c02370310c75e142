#include "agent/query/config_check.h"

#include <string>

namespace outpost::query {

StreamSchema schema_of(const config::StreamConfig& stream) {
  StreamSchema s;
  s.name = stream.name;
  s.time_field = stream.time_field;
  s.key_field = stream.key_field;
  for (const auto& f : stream.fields) {
    ColumnDecl d;
    d.name = f.name;
    switch (f.type) {
      case config::FieldType::kDouble: d.type = ColumnType::kDouble; break;
      case config::FieldType::kInt: d.type = ColumnType::kInt; break;
      case config::FieldType::kString: d.type = ColumnType::kString; break;
      case config::FieldType::kBool: d.type = ColumnType::kBool; break;
      case config::FieldType::kTimestamp: d.type = ColumnType::kTimestamp; break;
    }
    s.fields.push_back(std::move(d));
  }
  return s;
}

std::vector<config::SqlIssue> check_query_sql(const config::QueryConfig& query, const config::Config& config) {
  std::vector<StreamSchema> schemas;
  for (const auto& st : config.streams) schemas.push_back(schema_of(st));
  // Result, late and dead-letter streams hold JSON objects too but declare no fields: their
  // members are typed by their JSON values.
  for (const auto& name : config.all_stream_names()) {
    if (config.find_stream(name)) continue;
    StreamSchema s;
    s.name = name;
    schemas.push_back(std::move(s));
  }
  Catalog catalog = [&schemas](std::string_view name) -> const StreamSchema* {
    for (const auto& s : schemas)
      if (s.name == name) return &s;
    return nullptr;
  };
  std::vector<config::SqlIssue> issues;
  auto r = compile(query.sql, catalog);
  if (const auto* err = std::get_if<SqlError>(&r)) {
    issues.push_back({err->message, err->offset, false});
    return issues;
  }
  const auto& q = std::get<std::shared_ptr<const Query>>(r);
  if (q->input_stream() == query.result_stream || q->input_stream() == query.name) {
    issues.push_back({"a query cannot read its own result stream '" + q->input_stream() + "'", std::nullopt, false});
  }
  if (query.late_policy == config::LatePolicy::kUpdate && !q->windowed()) {
    issues.push_back({"late_policy 'update' has no effect on a query without a window", std::nullopt, true});
  }
  return issues;
}

void register_config_sql_check() { config::register_sql_check(&check_query_sql); }

}  // namespace outpost::query
