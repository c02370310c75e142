// How the runtime turns a source message into a record of its stream: validate the payload
// for the stream's format, take the key and the event time from declared fields.
//
// One StreamCodec per (stream, source thread): it owns a parser and buffers and is not
// thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::runtime {

enum class PayloadFormat {
  kJson,  // stored as received (validated)
  kCsv,   // one line of delimited columns, stored as a JSON object of the named columns
  kKv,    // key=value pairs, stored as a JSON object
  kRaw,   // stored as received, any bytes, no fields
};
enum class FieldType { kDouble, kInt, kString, kBool, kTimestamp };
enum class TimeFormat { kAuto, kUnixS, kUnixMs, kUnixUs, kUnixNs, kRfc3339 };

// A declared field: extracted and type-checked at ingest; a record that fails goes to the
// dead-letter stream with the field named.
struct FieldSpec {
  std::string name;  // dotted path into the JSON object ("meta.site"); a csv column or kv key
  FieldType type = FieldType::kString;
  bool required = false;
};

struct StreamCodecSpec {
  PayloadFormat format = PayloadFormat::kJson;
  std::vector<FieldSpec> fields;
  std::vector<std::string> csv_columns;  // csv: the column names, in order
  char csv_delimiter = ',';
  std::string kv_separators = " ,;\t";   // kv: what separates pairs
  char kv_assign = '=';
  std::string key_field;   // dotted path into the JSON object; empty = no key
  std::string time_field;  // dotted path; empty = event time is the ingest time
  TimeFormat time_format = TimeFormat::kAuto;
  std::size_t max_payload_bytes = 1 << 20;
};

struct DecodedRecord {
  std::optional<std::int64_t> event_time_ms;
  std::optional<std::string_view> key;  // valid until the next decode()
  std::string_view payload;             // what to store: the original bytes, or for csv/kv the
                                        // JSON object made of them; valid until the next decode()
};

class StreamCodec {
 public:
  explicit StreamCodec(StreamCodecSpec spec);
  ~StreamCodec();
  // Ok: *out filled. Error: a clear reason naming the field or byte offset
  // ("field 'ts': expected a time, got string \"soon\"", "invalid JSON at byte 17: ...").
  bool decode(std::string_view payload, DecodedRecord* out, std::string* reason);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::runtime
