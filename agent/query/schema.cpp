// StreamSchema as JSON text: how a stream's time field, key field and declared fields are kept
// beside its data (see agent/runtime/query_host.h, save_stream_schema).
#include <simdjson.h>

#include <string>

#include "agent/decode/json_text.h"
#include "agent/query/query.h"

namespace outpost::query {
namespace {

const char* column_type_name(ColumnType t) {
  switch (t) {
    case ColumnType::kString: return "string";
    case ColumnType::kInt: return "int";
    case ColumnType::kDouble: return "double";
    case ColumnType::kBool: return "bool";
    case ColumnType::kTimestamp: return "timestamp";
  }
  return "string";
}

bool column_type_of(std::string_view name, ColumnType* t) {
  for (auto c : {ColumnType::kString, ColumnType::kInt, ColumnType::kDouble, ColumnType::kBool,
                 ColumnType::kTimestamp}) {
    if (name == column_type_name(c)) {
      *t = c;
      return true;
    }
  }
  return false;
}

}  // namespace

std::string schema_to_json(const StreamSchema& schema) {
  std::string out = "{\"time_field\":";
  decode::append_json_string(&out, schema.time_field);
  out += ",\"key_field\":";
  decode::append_json_string(&out, schema.key_field);
  out += ",\"fields\":[";
  for (std::size_t i = 0; i < schema.fields.size(); ++i) {
    if (i) out += ',';
    out += "{\"name\":";
    decode::append_json_string(&out, schema.fields[i].name);
    out += ",\"type\":\"";
    out += column_type_name(schema.fields[i].type);
    out += "\"}";
  }
  return out + "]}";
}

std::optional<StreamSchema> schema_from_json(std::string_view stream, std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(json.data(), json.size()).get_object().get(obj) != simdjson::SUCCESS) return std::nullopt;
  StreamSchema s;
  s.name = std::string(stream);
  std::string_view text;
  if (obj["time_field"].get_string().get(text) != simdjson::SUCCESS) return std::nullopt;
  s.time_field = std::string(text);
  if (obj["key_field"].get_string().get(text) != simdjson::SUCCESS) return std::nullopt;
  s.key_field = std::string(text);
  simdjson::dom::array fields;
  if (obj["fields"].get_array().get(fields) != simdjson::SUCCESS) return std::nullopt;
  for (simdjson::dom::element f : fields) {
    ColumnDecl d;
    std::string_view type;
    if (f["name"].get_string().get(text) != simdjson::SUCCESS ||
        f["type"].get_string().get(type) != simdjson::SUCCESS || !column_type_of(type, &d.type)) {
      return std::nullopt;
    }
    d.name = std::string(text);
    s.fields.push_back(std::move(d));
  }
  return s;
}

}  // namespace outpost::query
