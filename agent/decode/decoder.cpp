#include "agent/decode/decoder.h"

#include <set>

#include "agent/decode/decode_internal.h"
#include "agent/decode/json_check.h"
#include "agent/decode/json_text.h"

namespace outpost::decode {

namespace {

template <typename E, std::size_t N>
bool parse_name(std::string_view text, const std::pair<const char*, E> (&table)[N], E* out) {
  for (const auto& [name, value] : table) {
    if (text == name) {
      *out = value;
      return true;
    }
  }
  return false;
}

template <typename E, std::size_t N>
const char* name_of(E value, const std::pair<const char*, E> (&table)[N]) {
  for (const auto& [name, v] : table) {
    if (v == value) return name;
  }
  return "?";
}

constexpr std::pair<const char*, Format> kFormats[] = {
    {"json", Format::kJson}, {"csv", Format::kCsv}, {"kv", Format::kKv}, {"raw", Format::kRaw}};
constexpr std::pair<const char*, FieldType> kFieldTypes[] = {{"double", FieldType::kDouble},
                                                             {"int", FieldType::kInt},
                                                             {"string", FieldType::kString},
                                                             {"bool", FieldType::kBool},
                                                             {"timestamp", FieldType::kTimestamp}};
constexpr std::pair<const char*, TimeFormat> kTimeFormats[] = {
    {"auto", TimeFormat::kAuto},       {"unix_s", TimeFormat::kUnixS},   {"unix_ms", TimeFormat::kUnixMs},
    {"unix_us", TimeFormat::kUnixUs},  {"unix_ns", TimeFormat::kUnixNs}, {"rfc3339", TimeFormat::kRfc3339}};
constexpr std::pair<const char*, Undeclared> kUndeclared[] = {
    {"infer", Undeclared::kInfer}, {"string", Undeclared::kString}, {"drop", Undeclared::kDrop}};
constexpr std::pair<const char*, CsvHeader> kCsvHeaders[] = {
    {"none", CsvHeader::kNone}, {"match", CsvHeader::kMatch}, {"first_line", CsvHeader::kFirstLine}};
constexpr std::pair<const char*, ErrorClass> kErrorClasses[] = {
    {"too_large", ErrorClass::kTooLarge},       {"not_utf8", ErrorClass::kNotUtf8},
    {"syntax", ErrorClass::kSyntax},            {"shape", ErrorClass::kShape},
    {"missing_field", ErrorClass::kMissingField}, {"field_type", ErrorClass::kFieldType},
    {"time", ErrorClass::kTime}};
static_assert(std::size(kErrorClasses) == kErrorClassCount);

}  // namespace

bool parse_format(std::string_view text, Format* out) { return parse_name(text, kFormats, out); }
bool parse_field_type(std::string_view text, FieldType* out) { return parse_name(text, kFieldTypes, out); }
bool parse_time_format(std::string_view text, TimeFormat* out) { return parse_name(text, kTimeFormats, out); }
bool parse_undeclared(std::string_view text, Undeclared* out) { return parse_name(text, kUndeclared, out); }
bool parse_csv_header(std::string_view text, CsvHeader* out) { return parse_name(text, kCsvHeaders, out); }
const char* csv_header_name(CsvHeader h) { return name_of(h, kCsvHeaders); }
const char* format_name(Format f) { return name_of(f, kFormats); }
const char* field_type_name(FieldType t) { return name_of(t, kFieldTypes); }
const char* time_format_name(TimeFormat f) { return name_of(f, kTimeFormats); }
const char* undeclared_name(Undeclared u) { return name_of(u, kUndeclared); }
const char* error_class_name(ErrorClass c) { return name_of(c, kErrorClasses); }

Status validate_spec(const StreamSpec& spec) {
  const std::string where = "stream '" + spec.name + "'";
  auto bad = [&](const std::string& what) { return Status::invalid_argument(where + ": " + what); };
  if (spec.max_payload_bytes == 0) return bad("max payload size must be at least 1 byte");
  if (spec.format == Format::kJson && (spec.json_max_depth == 0 || spec.json_max_depth > kJsonCheckMaxDepth)) {
    return bad("json max depth must be between 1 and " + std::to_string(kJsonCheckMaxDepth));
  }
  if (spec.format == Format::kRaw) {
    if (!spec.fields.empty()) return bad("a raw stream has no fields (field '" + spec.fields[0].name + "')");
    if (spec.time) return bad("a raw stream has no event-time field (uses the ingest time)");
    if (!spec.key_field.empty()) return bad("a raw stream has no key field");
    return Status::ok();
  }
  std::set<std::string> names;
  for (const auto& f : spec.fields) {
    if (f.name.empty()) return bad("a field has an empty name");
    if (!names.insert(f.name).second) return bad("field '" + f.name + "' is declared twice");
    if (!f.path.empty() && spec.format != Format::kJson) {
      return bad("field '" + f.name + "': a path ('" + f.path + "') is only for json streams");
    }
    if (!f.path.empty()) {
      if (f.path.front() == '.' || f.path.back() == '.' || f.path.find("..") != std::string::npos) {
        return bad("field '" + f.name + "': path '" + f.path + "' has an empty segment");
      }
    }
  }
  if (spec.time && spec.time->field.empty()) return bad("the event-time field name is empty");
  if (spec.format == Format::kCsv) {
    const auto& c = spec.csv;
    if (c.columns.empty()) return bad("a csv stream needs its column names");
    std::set<std::string> cols;
    for (const auto& col : c.columns) {
      if (col.empty()) return bad("a csv column has an empty name");
      if (!cols.insert(col).second) return bad("csv column '" + col + "' is named twice");
    }
    if (c.delimiter == '"' || c.delimiter == '\n' || c.delimiter == '\r') {
      return bad("the csv delimiter cannot be a quote or a line break");
    }
    for (const auto& f : spec.fields) {
      if (!cols.count(f.name)) return bad("field '" + f.name + "' is not a csv column");
    }
    if (spec.time && !cols.count(spec.time->field)) {
      return bad("event-time field '" + spec.time->field + "' is not a csv column");
    }
    if (!spec.key_field.empty() && !cols.count(spec.key_field)) {
      return bad("key field '" + spec.key_field + "' is not a csv column");
    }
  }
  if (spec.format == Format::kKv) {
    const auto& k = spec.kv;
    if (k.separators.empty()) return bad("kv needs at least one pair separator");
    if (k.separators.find(k.assign) != std::string::npos) {
      return bad(std::string("the kv assign character '") + k.assign + "' is also a separator");
    }
    if (k.assign == '"' || k.separators.find('"') != std::string::npos) {
      return bad("a kv separator or assign character cannot be a quote");
    }
  }
  return Status::ok();
}

// ---- Decoder base ----

Decoder::Decoder(StreamSpec spec) : spec_(std::move(spec)) {}
Decoder::~Decoder() = default;

Result<std::unique_ptr<Decoder>> Decoder::create(StreamSpec spec) {
  Status st = validate_spec(spec);
  if (!st.is_ok()) return st;
  switch (spec.format) {
    case Format::kJson: return internal::make_json_decoder(std::move(spec));
    case Format::kCsv: return internal::make_csv_decoder(std::move(spec));
    case Format::kKv: return internal::make_kv_decoder(std::move(spec));
    case Format::kRaw: return internal::make_raw_decoder(std::move(spec));
  }
  return Status::invalid_argument("unknown format");
}

namespace {
// Single writer: a plain load + store keeps the hot path free of locked instructions.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
}  // namespace

DecodeResult Decoder::decode(std::string_view payload) {
  bump(bytes_, payload.size());
  if (payload.size() > spec_.max_payload_bytes) {
    bump(failed_[static_cast<std::size_t>(ErrorClass::kTooLarge)]);
    return internal::make_error(ErrorClass::kTooLarge,
                                "payload of " + std::to_string(payload.size()) + " bytes is over the limit of " +
                                    std::to_string(spec_.max_payload_bytes) + " bytes (max payload size)");
  }
  DecodeResult r = decode_payload(payload);
  switch (r.kind()) {
    case DecodeResult::Kind::kDecoded: bump(decoded_); break;
    case DecodeResult::Kind::kSkipped: bump(skipped_); break;
    case DecodeResult::Kind::kError: bump(failed_[static_cast<std::size_t>(r.error().error_class)]); break;
  }
  return r;
}

DecodeCounters Decoder::counters() const {
  DecodeCounters c;
  c.decoded = decoded_.load(std::memory_order_relaxed);
  c.skipped = skipped_.load(std::memory_order_relaxed);
  c.bytes = bytes_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kErrorClassCount; ++i) {
    c.failed_by_class[i] = failed_[i].load(std::memory_order_relaxed);
    c.failed += c.failed_by_class[i];
  }
  return c;
}

// ---- raw ----

namespace internal {
namespace {
class RawDecoder final : public Decoder {
 public:
  explicit RawDecoder(StreamSpec spec) : Decoder(std::move(spec)) {}

 protected:
  DecodeResult decode_payload(std::string_view payload) override {
    Decoded d;
    d.payload = payload;
    return d;
  }
};
}  // namespace

std::unique_ptr<Decoder> make_raw_decoder(StreamSpec spec) { return std::make_unique<RawDecoder>(std::move(spec)); }

// ---- shared helpers ----

std::string field_label(const FieldSpec& f) {
  if (f.path.empty() || f.path == f.name) return "field '" + f.name + "'";
  return "field '" + f.name + "' (" + f.path + ")";
}

std::string quoted_excerpt(std::string_view s) {
  constexpr std::size_t kMax = 40;
  if (s.size() <= kMax) return json_quote(s);
  std::size_t cut = kMax;
  // Back off continuation bytes so a multi-byte character is not split.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  std::string out = json_quote(s.substr(0, cut));
  out.insert(out.size() - 1, "...");
  return out;
}

DecodeError make_error(ErrorClass c, std::string reason, std::optional<std::size_t> offset) {
  DecodeError e;
  e.error_class = c;
  e.reason = std::move(reason);
  e.offset = offset;
  return e;
}

std::optional<DecodeError> check_utf8(std::string_view payload) {
  std::size_t at = 0;
  if (is_valid_utf8(payload, &at)) return std::nullopt;
  return make_error(ErrorClass::kNotUtf8, "payload is not valid UTF-8 at byte " + std::to_string(at), at);
}

const char* time_expectation(TimeFormat f) {
  switch (f) {
    case TimeFormat::kAuto: return "a time (unix number or RFC 3339)";
    case TimeFormat::kUnixS: return "a unix_s number";
    case TimeFormat::kUnixMs: return "a unix_ms number";
    case TimeFormat::kUnixUs: return "a unix_us number";
    case TimeFormat::kUnixNs: return "a unix_ns number";
    case TimeFormat::kRfc3339: return "an RFC 3339 time";
  }
  return "a time";
}

}  // namespace internal
}  // namespace outpost::decode
