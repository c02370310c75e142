// The json decoder: simdjson DOM (full validation of syntax and UTF-8, depth-limited), declared
// fields checked in place, the original text stored.
#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "agent/decode/decode_internal.h"
#include "agent/decode/event_time.h"
#include "agent/decode/json_check.h"
#include "agent/decode/json_text.h"

namespace outpost::decode::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::size_t kInitialCapacity = 4096;

// A copy of the payload followed by SIMDJSON_PADDING bytes, reused across messages.
class PaddedBuffer {
 public:
  const char* fill(std::string_view s) {
    const std::size_t need = s.size() + simdjson::SIMDJSON_PADDING;
    if (need > capacity_) {
      const std::size_t cap = std::max(need, std::min(capacity_ * 2, kRetainBytes));
      data_.reset(new char[cap]);
      capacity_ = cap;
    }
    if (!s.empty()) std::memcpy(data_.get(), s.data(), s.size());
    std::memset(data_.get() + s.size(), 0, simdjson::SIMDJSON_PADDING);
    return data_.get();
  }
  void release_if_large() {
    if (capacity_ > kRetainBytes) {
      data_.reset();
      capacity_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
};

struct PathField {
  FieldSpec spec;
  std::vector<std::string> segments;
  std::string label;  // field_label(spec)
};

std::vector<std::string> split_path(const std::string& name, const std::string& path) {
  std::vector<std::string> out;
  if (path.empty()) {
    out.push_back(name);
    return out;
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = path.find('.', start);
    out.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

bool is_index(std::string_view s, std::size_t* index) {
  if (s.empty() || s.size() > 9) return false;
  std::size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  *index = v;
  return true;
}

// Walks `segments` from `root`; false if any step is missing or not a container.
bool lookup(element root, const std::vector<std::string>& segments, element* out) {
  element cur = root;
  for (const auto& seg : segments) {
    const element_type t = cur.type();
    if (t == element_type::OBJECT) {
      if (cur.get_object().at_key(seg).get(cur) != simdjson::SUCCESS) return false;
    } else if (t == element_type::ARRAY) {
      std::size_t idx;
      if (!is_index(seg, &idx) || cur.get_array().at(idx).get(cur) != simdjson::SUCCESS) return false;
    } else {
      return false;
    }
  }
  *out = cur;
  return true;
}

void append_number_text(std::string* out, element v) {
  char buf[64];
  std::to_chars_result r{};
  switch (v.type()) {
    case element_type::INT64: r = std::to_chars(buf, buf + sizeof buf, v.get_int64().value_unsafe()); break;
    case element_type::UINT64: r = std::to_chars(buf, buf + sizeof buf, v.get_uint64().value_unsafe()); break;
    default: r = std::to_chars(buf, buf + sizeof buf, v.get_double().value_unsafe()); break;
  }
  out->append(buf, r.ptr);
}

// "string \"abc\"", "number 3.5", "bool true", "object {\"a\":1}", "array [1,2]".
std::string describe(element v) {
  std::string out;
  switch (v.type()) {
    case element_type::STRING:
      out = "string " + quoted_excerpt(v.get_string().value_unsafe());
      break;
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      out = "number ";
      append_number_text(&out, v);
      break;
    case element_type::BOOL: out = v.get_bool().value_unsafe() ? "bool true" : "bool false"; break;
    case element_type::NULL_VALUE: out = "null"; break;
    case element_type::OBJECT:
    case element_type::ARRAY: {
      std::string text = simdjson::minify(v);
      if (text.size() > 40) text = text.substr(0, 40) + "...";
      out = (v.type() == element_type::OBJECT ? "object " : "array ") + text;
      break;
    }
  }
  return out;
}

const char* kind_name(element_type t) {
  switch (t) {
    case element_type::OBJECT: return "an object";
    case element_type::ARRAY: return "an array";
    case element_type::STRING: return "a string";
    case element_type::BOOL: return "a bool";
    case element_type::NULL_VALUE: return "null";
    default: return "a number";
  }
}

// A time from a JSON value in `format`.
bool element_to_ms(element v, TimeFormat format, std::int64_t* ms) {
  switch (v.type()) {
    case element_type::INT64: return integer_to_ms(v.get_int64().value_unsafe(), format, ms);
    case element_type::UINT64: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_uint64().value_unsafe());
      return number_text_to_ms(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)), format, ms);
    }
    case element_type::DOUBLE: return double_to_ms(v.get_double().value_unsafe(), format, ms);
    case element_type::STRING: return parse_time_text(v.get_string().value_unsafe(), format, ms);
    default: return false;
  }
}

bool integral_double(double d) {
  return std::isfinite(d) && std::trunc(d) == d && d >= -9.2233720368547758e18 && d < 9.2233720368547758e18;
}

class JsonDecoder final : public Decoder {
 public:
  explicit JsonDecoder(StreamSpec spec) : Decoder(std::move(spec)) {
    for (const auto& f : spec_.fields) {
      fields_.push_back(PathField{f, split_path(f.name, f.path), field_label(f)});
    }
    // Event time and key are dotted paths (a plain name is a one-segment path).
    if (spec_.time) time_path_ = split_path(spec_.time->field, spec_.time->field);
    if (!spec_.key_field.empty()) key_path_ = split_path(spec_.key_field, spec_.key_field);
    need_object_ = !fields_.empty() || spec_.time || !spec_.key_field.empty();
    reset_parser();
  }

 protected:
  DecodeResult decode_payload(std::string_view payload) override {
    DecodeResult r = decode_json(payload);
    if (payload.size() > kRetainBytes) {
      // Give back what a big payload made the parser and the buffer allocate (see README).
      buffer_.release_if_large();
      reset_parser();
    }
    return r;
  }

 private:
  void reset_parser() {
    // Capacity grows on demand up to max_payload_bytes; the depth limit is ours (+1: simdjson
    // counts the document root as a level).
    parser_ = simdjson::dom::parser(std::max<std::size_t>(spec_.max_payload_bytes, kInitialCapacity));
    // An allocation failure here is retried by parse(), which then reports MEMALLOC.
    if (parser_.allocate(kInitialCapacity, spec_.json_max_depth + 1) != simdjson::SUCCESS) {
      parser_ = simdjson::dom::parser(std::max<std::size_t>(spec_.max_payload_bytes, kInitialCapacity));
    }
  }

  DecodeResult decode_json(std::string_view payload) {
    // Leading/trailing whitespace (a serial line's "\r\n") is not part of the record.
    const std::string_view text = trim_json_whitespace(payload);
    const std::size_t lead = static_cast<std::size_t>(text.data() - payload.data());
    if (text.empty()) return make_error(ErrorClass::kSyntax, "empty payload (no JSON value)", 0);
    const char* buf = buffer_.fill(text);
    element doc;
    const simdjson::error_code err = parser_.parse(buf, text.size(), false).get(doc);
    if (err != simdjson::SUCCESS) return syntax_error(payload, text, lead, err);

    if (need_object_ && doc.type() != element_type::OBJECT) {
      return make_error(ErrorClass::kShape, std::string("JSON payload is ") + kind_name(doc.type()) +
                                                ", expected an object holding the declared fields");
    }
    for (const auto& f : fields_) {
      element v;
      const bool present = lookup(doc, f.segments, &v) && v.type() != element_type::NULL_VALUE;
      if (!present) {
        if (f.spec.required) return make_error(ErrorClass::kMissingField, f.label + " is missing");
        continue;
      }
      if (auto e = check_type(f, v)) return std::move(*e);
    }

    Decoded d;
    d.payload = text;
    if (spec_.time) {
      element v;
      const TimeSpec& ts = *spec_.time;
      if (!lookup(doc, time_path_, &v) || v.type() == element_type::NULL_VALUE) {
        if (!ts.fallback_to_ingest_time) {
          return make_error(ErrorClass::kMissingField, "event-time field '" + ts.field + "' is missing");
        }
      } else {
        std::int64_t ms;
        if (!element_to_ms(v, ts.format, &ms)) {
          return make_error(ErrorClass::kTime, "event-time field '" + ts.field + "': expected " +
                                                   time_expectation(ts.format) + ", got " + describe(v));
        }
        d.event_time_ms = ms;
      }
    }
    if (!key_path_.empty()) {
      element v;
      if (lookup(doc, key_path_, &v)) {
        key_.clear();
        switch (v.type()) {
          case element_type::NULL_VALUE: break;
          case element_type::STRING: key_.assign(v.get_string().value_unsafe()); d.key = key_; break;
          case element_type::BOOL: key_ = v.get_bool().value_unsafe() ? "true" : "false"; d.key = key_; break;
          case element_type::OBJECT:
          case element_type::ARRAY:
            return make_error(ErrorClass::kFieldType,
                              "key field '" + spec_.key_field + "': expected a scalar, got " + describe(v));
          default: append_number_text(&key_, v); d.key = key_; break;
        }
      }
    }
    return d;
  }

  std::optional<DecodeError> check_type(const PathField& f, element v) {
    const element_type t = v.type();
    bool ok = false;
    switch (f.spec.type) {
      case FieldType::kDouble: ok = t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE; break;
      case FieldType::kInt:
        ok = t == element_type::INT64 || t == element_type::UINT64 ||
             (t == element_type::DOUBLE && integral_double(v.get_double().value_unsafe()));
        break;
      case FieldType::kString: ok = t == element_type::STRING; break;
      case FieldType::kBool: ok = t == element_type::BOOL; break;
      case FieldType::kTimestamp: {
        std::int64_t ms;
        ok = element_to_ms(v, f.spec.time_format, &ms);
        if (!ok) {
          return make_error(ErrorClass::kFieldType, f.label + ": expected a timestamp (" +
                                                        time_expectation(f.spec.time_format) + "), got " +
                                                        describe(v));
        }
        break;
      }
    }
    if (ok) return std::nullopt;
    return make_error(ErrorClass::kFieldType,
                      f.label + ": expected " + field_type_name(f.spec.type) + ", got " + describe(v));
  }

  DecodeError syntax_error(std::string_view payload, std::string_view text, std::size_t lead,
                           simdjson::error_code err) {
    if (err == simdjson::UTF8_ERROR) {
      if (auto e = check_utf8(payload)) return *e;
    }
    if (err == simdjson::MEMALLOC) {
      return make_error(ErrorClass::kTooLarge, "out of memory parsing a JSON payload of " +
                                                   std::to_string(payload.size()) + " bytes");
    }
    if (auto e = check_json(text, spec_.json_max_depth)) {
      const std::size_t at = lead + e->offset;
      switch (e->kind) {
        case JsonSyntaxError::Kind::kUtf8:
          return make_error(ErrorClass::kNotUtf8, "payload is not valid UTF-8 at byte " + std::to_string(at), at);
        case JsonSyntaxError::Kind::kDepth:
          return make_error(ErrorClass::kShape, "JSON at byte " + std::to_string(at) + " is " + e->message, at);
        case JsonSyntaxError::Kind::kSyntax:
          return make_error(ErrorClass::kSyntax, "invalid JSON at byte " + std::to_string(at) + ": " + e->message, at);
      }
    }
    if (err == simdjson::DEPTH_ERROR) {
      return make_error(ErrorClass::kShape,
                        "JSON nested deeper than " + std::to_string(spec_.json_max_depth) + " levels");
    }
    // simdjson refused what our checker accepts (e.g. a number beyond 64 bits).
    return make_error(ErrorClass::kSyntax, std::string("invalid JSON: ") + simdjson::error_message(err));
  }

  simdjson::dom::parser parser_;
  PaddedBuffer buffer_;
  std::vector<PathField> fields_;
  std::vector<std::string> time_path_;
  std::vector<std::string> key_path_;
  std::string key_;
  bool need_object_ = false;
};

}  // namespace

std::unique_ptr<Decoder> make_json_decoder(StreamSpec spec) { return std::make_unique<JsonDecoder>(std::move(spec)); }

}  // namespace outpost::decode::internal
