#include "agent/runtime/stream_codec.h"

#include "agent/runtime/time_text.h"

#include <simdjson.h>

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
};

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
