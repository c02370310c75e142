// Payload decoders of the ingest path: one source message in, one record (or a clear reason why
// not) out.
//
//   auto d = decode::Decoder::create(spec);          // Result<std::unique_ptr<Decoder>>
//   decode::DecodeResult r = (*d)->decode(payload);
//   if (r.is_decoded()) append(r.decoded().payload, r.decoded().key, r.decoded().event_time_ms);
//   else if (r.is_error()) append_dead_letter(build_dead_letter(..., r.error()));
//   else /* skipped: a csv header line, counted, nothing to store */;
//
// Formats and what is stored for a decoded record (so queries see one format, JSON):
//   json  the original JSON text (validated: syntax, UTF-8, depth), surrounding whitespace
//         trimmed; declared fields are type-checked but the text is not rewritten.
//   csv   one data line of named columns, stored as a compact JSON object {"col":value,...} in
//         column order, declared fields typed, empty cells null.
//   kv    key=value pairs, stored as a compact JSON object in order of appearance, declared
//         fields typed; declared fields that are absent are added as null.
//   raw   the bytes as received; no fields, no key, ingest time.
// Undeclared csv columns / kv keys follow StreamSpec::undeclared (default: a value that is a
// JSON number literal or true/false is stored as such, anything else as a string).
//
// Threads: a Decoder owns a parser and reusable buffers and is used by ONE thread (the source's
// thread). Only counters() may be called from any thread (metrics). Views returned by decode()
// point into the caller's payload or the decoder's buffers and stay valid until the next
// decode() on the same decoder or its destruction.
//
// Memory: a payload over max_payload_bytes is rejected before it is looked at. Buffers grow
// to the largest accepted payload and are given back after a large one (see README.md), so
// steady state makes no allocation per message.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"

namespace outpost::decode {

enum class Format : std::uint8_t { kJson, kCsv, kKv, kRaw };
enum class FieldType : std::uint8_t { kDouble, kInt, kString, kBool, kTimestamp };
// How a time value is read (see event_time.h for the exact rules, incl. kAuto's guess).
enum class TimeFormat : std::uint8_t { kAuto, kUnixS, kUnixMs, kUnixUs, kUnixNs, kRfc3339 };
// What csv/kv decoding does with columns or keys that are not declared fields.
enum class Undeclared : std::uint8_t {
  kInfer,   // a JSON number literal or true/false stays a number/bool, anything else a string
  kString,  // always a string
  kDrop,    // left out of the stored object
};

// Header lines of csv payloads.
enum class CsvHeader : std::uint8_t {
  kNone,       // every line is data
  kMatch,      // a line whose cells equal the column names (case-insensitive, trimmed) is a
               // header: skipped and counted (a serial device printing its header at start-up)
  kFirstLine,  // the first line of every payload is a header, whatever it says (payloads that
               // always carry one); a payload of only that line is skipped and counted
};

// Names as written in the config: "json" "csv" "kv" "raw"; "double" "int" "string" "bool"
// "timestamp"; "auto" "unix_s" "unix_ms" "unix_us" "unix_ns" "rfc3339"; "infer" "string" "drop";
// csv header: "none" "match" "first_line".
bool parse_format(std::string_view text, Format* out);
bool parse_field_type(std::string_view text, FieldType* out);
bool parse_time_format(std::string_view text, TimeFormat* out);
bool parse_undeclared(std::string_view text, Undeclared* out);
bool parse_csv_header(std::string_view text, CsvHeader* out);
const char* format_name(Format f);
const char* field_type_name(FieldType t);
const char* time_format_name(TimeFormat f);
const char* undeclared_name(Undeclared u);
const char* csv_header_name(CsvHeader h);

inline constexpr std::size_t kDefaultMaxPayloadBytes = 1 << 20;  // 1 MiB
inline constexpr std::size_t kDefaultJsonMaxDepth = 64;

// A declared field: extracted and validated at ingest. A value of the wrong type, or a
// missing required one, makes the payload a dead letter naming the field.
struct FieldSpec {
  std::string name;  // json: the top-level member; csv: a column; kv: a key
  // json only: a dotted path into nested objects ("meta.site"; a numeric segment indexes an
  // array: "values.0"). Empty means the member called `name` (which may itself contain dots).
  std::string path;
  FieldType type = FieldType::kString;
  bool required = false;  // missing (absent, null, empty csv cell) is an error, else null
  TimeFormat time_format = TimeFormat::kAuto;  // for kTimestamp fields: how to read them
};

// Where the event time comes from. Absent (std::nullopt in StreamSpec) = ingest time.
struct TimeSpec {
  std::string field;  // json: dotted path; csv: column; kv: key
  TimeFormat format = TimeFormat::kAuto;
  // Missing time field: false (default) = the payload is a dead letter; true = the record
  // gets the ingest time (event_time_ms left empty).
  bool fallback_to_ingest_time = false;
};

struct CsvOptions {
  std::vector<std::string> columns;  // names, in order; every data line has exactly these
  char delimiter = ',';
  CsvHeader header = CsvHeader::kNone;
  bool trim_spaces = true;  // spaces/tabs around unquoted cells (and around quotes) are dropped
};

struct KvOptions {
  std::string separators = " ,;\t";  // any of these separates pairs (runs count as one)
  char assign = '=';                   // between key and value
  std::size_t max_pairs = 1000;        // more pairs in one payload is an error (bounds memory)
};

struct StreamSpec {
  std::string name;  // the stream, for messages
  Format format = Format::kJson;
  std::vector<FieldSpec> fields;
  std::optional<TimeSpec> time;
  // The record key: a field (json dotted path, csv column, kv key). Any scalar is rendered as
  // text (strings unquoted, numbers as JSON writes them, true/false). Missing or null = no key;
  // declare the field required to insist on it. Empty = records have no key.
  std::string key_field;
  Undeclared undeclared = Undeclared::kInfer;
  std::size_t max_payload_bytes = kDefaultMaxPayloadBytes;
  std::size_t json_max_depth = kDefaultJsonMaxDepth;  // nesting deeper than this is an error
  CsvOptions csv;
  KvOptions kv;
};

// Checks a spec for mistakes a config can make (csv without columns, a field that is not a
// column, duplicate fields, fields on a raw stream, a delimiter that is a quote, ...).
// Messages name the stream and the field: "stream 'env': field 'hum' is not a csv column".
Status validate_spec(const StreamSpec& spec);

// Why a payload was rejected, for metrics labels and dead letters.
enum class ErrorClass : std::uint8_t {
  kTooLarge,      // over max_payload_bytes
  kNotUtf8,       // text formats need valid UTF-8
  kSyntax,        // invalid JSON, an unterminated quote, a kv pair without '=', empty payload
  kShape,         // valid syntax, wrong shape: not an object, wrong column count, 2 data lines
  kMissingField,  // a required field (or the event time) is missing
  kFieldType,     // a declared field has a value of the wrong type
  kTime,          // the event time field does not hold a time in the declared format
};
inline constexpr std::size_t kErrorClassCount = 7;
// "too_large" "not_utf8" "syntax" "shape" "missing_field" "field_type" "time"
const char* error_class_name(ErrorClass c);

struct Decoded {
  std::optional<std::int64_t> event_time_ms;  // empty: use the ingest time
  std::optional<std::string_view> key;
  std::string_view payload;  // the record payload to store (see the table at the top)
};

struct DecodeError {
  ErrorClass error_class = ErrorClass::kSyntax;
  // Specific and self-contained: "field 'temp': expected double, got string \"abc\"",
  // "line 3: 5 columns, expected 4", "invalid JSON at byte 17: ...",
  // "payload is not valid UTF-8 at byte 12".
  std::string reason;
  std::optional<std::size_t> offset;  // byte offset into the payload, when known
};

class DecodeResult {
 public:
  enum class Kind : std::uint8_t { kDecoded, kSkipped, kError };
  static DecodeResult skipped() { return DecodeResult(Kind::kSkipped); }
  DecodeResult(Decoded d) : kind_(Kind::kDecoded), v_(d) {}  // NOLINT: implicit by design
  DecodeResult(DecodeError e) : kind_(Kind::kError), v_(std::move(e)) {}  // NOLINT

  Kind kind() const { return kind_; }
  bool is_decoded() const { return kind_ == Kind::kDecoded; }
  bool is_skipped() const { return kind_ == Kind::kSkipped; }  // csv header: nothing to store
  bool is_error() const { return kind_ == Kind::kError; }
  const Decoded& decoded() const { return std::get<Decoded>(v_); }
  const DecodeError& error() const { return std::get<DecodeError>(v_); }

 private:
  explicit DecodeResult(Kind k) : kind_(k) {}
  Kind kind_;
  std::variant<Decoded, DecodeError> v_;
};

// A snapshot of a decoder's counters (for /metrics and `outpost status`).
struct DecodeCounters {
  std::uint64_t decoded = 0;   // records produced
  std::uint64_t skipped = 0;   // csv header lines
  std::uint64_t failed = 0;    // dead letters to write; sum of failed_by_class
  std::uint64_t bytes = 0;     // payload bytes seen, all outcomes
  std::array<std::uint64_t, kErrorClassCount> failed_by_class{};  // index: ErrorClass
};

class Decoder {
 public:
  // Validates the spec (validate_spec) and builds the decoder for its format.
  static Result<std::unique_ptr<Decoder>> create(StreamSpec spec);
  virtual ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes one payload; never throws, never crashes on any bytes. Updates the counters.
  DecodeResult decode(std::string_view payload);

  const StreamSpec& spec() const { return spec_; }
  // Safe from any thread.
  DecodeCounters counters() const;

 protected:
  explicit Decoder(StreamSpec spec);
  // Called with a payload within max_payload_bytes.
  virtual DecodeResult decode_payload(std::string_view payload) = 0;
  const StreamSpec spec_;

 private:
  // Written by the decoding thread only (load+store, no read-modify-write), read by any.
  std::atomic<std::uint64_t> decoded_{0};
  std::atomic<std::uint64_t> skipped_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::array<std::atomic<std::uint64_t>, kErrorClassCount> failed_{};
};

}  // namespace outpost::decode
