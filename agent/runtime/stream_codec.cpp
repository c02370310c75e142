#include "agent/runtime/stream_codec.h"

#include "agent/runtime/time_text.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstdio>

#include <cmath>
#include <ctime>

namespace outpost::runtime {
namespace {

// The stream's time format as the shared time parser's unit.
TimeUnit unit_of(TimeFormat f) {
  switch (f) {
    case TimeFormat::kUnixS: return TimeUnit::kSeconds;
    case TimeFormat::kUnixMs: return TimeUnit::kMillis;
    case TimeFormat::kUnixUs: return TimeUnit::kMicros;
    case TimeFormat::kUnixNs: return TimeUnit::kNanos;
    case TimeFormat::kRfc3339: return TimeUnit::kRfc3339;
    case TimeFormat::kAuto: break;
  }
  return TimeUnit::kAuto;
}

std::string shorten(std::string_view s) {
  return s.size() <= 40 ? std::string(s) : std::string(s.substr(0, 40)) + "...";
}

}  // namespace

struct StreamCodec::Impl {
  StreamCodecSpec spec;
  simdjson::dom::parser parser;
  std::string key_buf;
  std::string key_pointer;
  std::string time_pointer;
  std::vector<std::string> field_pointers;
  std::string converted;              // csv/kv as a JSON object
  std::vector<std::string> cells;     // csv/kv scratch
  std::vector<std::string> names;

  const FieldSpec* field(std::string_view name) const {
    for (const auto& f : spec.fields) if (f.name == name) return &f;
    return nullptr;
  }
  bool to_json(std::string_view payload, std::string* reason);
  bool check_fields(simdjson::dom::element doc, std::string* reason);
};

namespace {

const char* type_name(FieldType t) {
  switch (t) {
    case FieldType::kDouble: return "double";
    case FieldType::kInt: return "int";
    case FieldType::kString: return "string";
    case FieldType::kBool: return "bool";
    case FieldType::kTimestamp: return "timestamp";
  }
  return "value";
}

bool is_number(std::string_view s, bool integer_only) {
  if (s.empty()) return false;
  if (integer_only) {
    std::int64_t v;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
  }
  double v;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(v);
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
    else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); out += b; }
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

// A csv/kv text value as JSON, typed by its declared field (or guessed when undeclared).
// A value that does not fit its type is written as a string, so the field check names it.
std::string typed_value(std::string_view v, const FieldSpec* f) {
  FieldType t = f ? f->type : (is_number(v, false) ? FieldType::kDouble : FieldType::kString);
  switch (t) {
    case FieldType::kDouble:
    case FieldType::kInt:
    case FieldType::kTimestamp:
      return is_number(v, false) ? std::string(v) : quote(v);
    case FieldType::kBool:
      if (v == "true" || v == "1") return "true";
      if (v == "false" || v == "0") return "false";
      return quote(v);
    case FieldType::kString:
      return quote(v);
  }
  return quote(v);
}

}  // namespace

bool StreamCodec::Impl::to_json(std::string_view line, std::string* reason) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  cells.clear();
  names.clear();
  if (spec.format == PayloadFormat::kCsv) {
    // RFC 4180 style: quoted cells may hold the delimiter and doubled quotes.
    std::string cell;
    bool quoted = false, was_quoted = false;
    for (std::size_t i = 0; i <= line.size(); ++i) {
      if (i == line.size() || (!quoted && line[i] == spec.csv_delimiter)) {
        if (quoted) { *reason = "csv: unterminated quote"; return false; }
        cells.push_back(cell);
        cell.clear();
        was_quoted = false;
        continue;
      }
      char c = line[i];
      if (quoted) {
        if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') { cell += '"'; ++i; }
        else if (c == '"') quoted = false;
        else cell += c;
      } else if (c == '"' && cell.empty() && !was_quoted) {
        quoted = was_quoted = true;
      } else {
        cell += c;
      }
    }
    if (cells.size() != spec.csv_columns.size()) {
      *reason = "csv: " + std::to_string(cells.size()) + " columns, expected " + std::to_string(spec.csv_columns.size());
      return false;
    }
    names = spec.csv_columns;
  } else {
    std::size_t i = 0;
    auto is_sep = [&](char c) { return spec.kv_separators.find(c) != std::string::npos; };
    while (i < line.size()) {
      while (i < line.size() && is_sep(line[i])) ++i;
      if (i >= line.size()) break;
      std::size_t k0 = i;
      while (i < line.size() && line[i] != spec.kv_assign && !is_sep(line[i])) ++i;
      if (i >= line.size() || line[i] != spec.kv_assign || i == k0) {
        *reason = "kv: '" + std::string(line.substr(k0, std::min<std::size_t>(i - k0 + 1, 40))) + "' is not key" +
                  spec.kv_assign + "value";
        return false;
      }
      names.emplace_back(line.substr(k0, i - k0));
      ++i;
      std::string v;
      if (i < line.size() && line[i] == '"') {
        ++i;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) ++i;
          v += line[i++];
        }
        if (i >= line.size()) { *reason = "kv: unterminated quote in the value of '" + names.back() + "'"; return false; }
        ++i;
      } else {
        while (i < line.size() && !is_sep(line[i])) v += line[i++];
      }
      cells.push_back(std::move(v));
    }
    if (cells.empty()) { *reason = "kv: no key=value pairs"; return false; }
  }
  converted = "{";
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) converted += ',';
    converted += quote(names[i]);
    converted += ':';
    converted += typed_value(cells[i], field(names[i]));
  }
  converted += '}';
  return true;
}

bool StreamCodec::Impl::check_fields(simdjson::dom::element doc, std::string* reason) {
  for (std::size_t i = 0; i < spec.fields.size(); ++i) {
    const FieldSpec& f = spec.fields[i];
    simdjson::dom::element v;
    if (doc.at_pointer(field_pointers[i]).get(v) != simdjson::SUCCESS || v.is_null()) {
      if (f.required) { *reason = "field '" + f.name + "' is missing"; return false; }
      continue;
    }
    bool ok = false;
    switch (f.type) {
      case FieldType::kDouble: ok = v.is_number(); break;
      case FieldType::kInt: ok = v.is_int64() || v.is_uint64(); break;
      case FieldType::kString: ok = v.is_string(); break;
      case FieldType::kBool: ok = v.is_bool(); break;
      case FieldType::kTimestamp: {
        std::int64_t ms;
        std::string_view s;
        ok = v.is_number() || (v.get(s) == simdjson::SUCCESS && parse_time_text(s, TimeUnit::kRfc3339, &ms));
        break;
      }
    }
    if (!ok) {
      std::string got = simdjson::minify(v);
      if (got.size() > 40) got = got.substr(0, 40) + "...";
      const char* kind = v.is_string() ? "string " : v.is_bool() ? "bool " : v.is_number() ? "number " : "";
      *reason = "field '" + f.name + "': expected " + type_name(f.type) + ", got " + kind + got;
      return false;
    }
  }
  return true;
}

namespace {
// "a.b" -> "/a/b" (JSON pointer), escaping ~ and /.
std::string to_pointer(const std::string& dotted) {
  if (dotted.empty()) return {};
  std::string out = "/";
  for (char c : dotted) {
    if (c == '.') out += '/';
    else if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}
}  // namespace

StreamCodec::StreamCodec(StreamCodecSpec spec) : impl_(std::make_unique<Impl>()) {
  impl_->spec = std::move(spec);
  impl_->key_pointer = to_pointer(impl_->spec.key_field);
  impl_->time_pointer = to_pointer(impl_->spec.time_field);
  for (const auto& f : impl_->spec.fields) impl_->field_pointers.push_back(to_pointer(f.name));
}
StreamCodec::~StreamCodec() = default;

bool StreamCodec::decode(std::string_view payload, DecodedRecord* out, std::string* reason) {
  Impl& m = *impl_;
  out->payload = payload;
  out->key.reset();
  out->event_time_ms.reset();
  if (payload.size() > m.spec.max_payload_bytes) {
    *reason = "payload of " + std::to_string(payload.size()) + " bytes is over the stream's limit of " +
              std::to_string(m.spec.max_payload_bytes);
    return false;
  }
  if (m.spec.format == PayloadFormat::kRaw) return true;
  if (m.spec.format == PayloadFormat::kCsv || m.spec.format == PayloadFormat::kKv) {
    if (!m.to_json(payload, reason)) return false;
    payload = m.converted;
    out->payload = payload;
  }

  simdjson::dom::element doc;
  auto err = m.parser.parse(payload.data(), payload.size(), true).get(doc);
  if (err) {
    *reason = std::string("invalid JSON: ") + simdjson::error_message(err);
    return false;
  }
  if (!doc.is_object()) {
    *reason = "JSON payload is not an object";
    return false;
  }
  if (!m.check_fields(doc, reason)) return false;
  if (!m.key_pointer.empty()) {
    simdjson::dom::element k;
    if (doc.at_pointer(m.key_pointer).get(k) == simdjson::SUCCESS && !k.is_null()) {
      std::string_view s;
      if (k.get(s) == simdjson::SUCCESS) m.key_buf.assign(s);
      else m.key_buf = simdjson::minify(k);
      out->key = std::string_view(m.key_buf);
    }
  }
  if (!m.time_pointer.empty()) {
    simdjson::dom::element t;
    if (doc.at_pointer(m.time_pointer).get(t) != simdjson::SUCCESS || t.is_null()) {
      *reason = "field '" + m.spec.time_field + "' (event time) is missing";
      return false;
    }
    std::int64_t ms = 0;
    std::string_view s;
    double d;
    if (t.get(s) == simdjson::SUCCESS) {
      // A time in a string: RFC 3339 (or, with a unix format, digits in quotes).
      if (!parse_time_text(s, m.spec.time_format == TimeFormat::kAuto ? TimeUnit::kRfc3339 : unit_of(m.spec.time_format), &ms)) {
        *reason = "field '" + m.spec.time_field + "': expected a time, got string \"" + shorten(s) + "\"";
        return false;
      }
    } else if (t.get(d) == simdjson::SUCCESS) {
      if (m.spec.time_format == TimeFormat::kRfc3339 || !number_to_ms(d, unit_of(m.spec.time_format), &ms)) {
        *reason = "field '" + m.spec.time_field + "': number " + simdjson::minify(t) + " is not a valid time here";
        return false;
      }
    } else {
      *reason = "field '" + m.spec.time_field + "': expected a time, got " + shorten(simdjson::minify(t));
      return false;
    }
    out->event_time_ms = ms;
  }
  return true;
}

}  // namespace outpost::runtime
