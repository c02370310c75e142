#include "agent/runtime/stream_codec.h"

#include <simdjson.h>

#include <cmath>
#include <ctime>

namespace outpost::runtime {
namespace {

bool two(std::string_view s, std::size_t i, int* v) {
  if (i + 2 > s.size() || s[i] < '0' || s[i] > '9' || s[i + 1] < '0' || s[i + 1] > '9') return false;
  *v = (s[i] - '0') * 10 + (s[i + 1] - '0');
  return true;
}

// RFC 3339 with a zone ('Z' or +hh:mm), optional fraction; milliseconds since the epoch.
bool rfc3339_ms(std::string_view s, std::int64_t* ms) {
  int c, y, mo, d, h, mi, se;
  if (s.size() < 20 || !two(s, 0, &c) || !two(s, 2, &y) || s[4] != '-' || !two(s, 5, &mo) || s[7] != '-' ||
      !two(s, 8, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !two(s, 11, &h) || s[13] != ':' ||
      !two(s, 14, &mi) || s[16] != ':' || !two(s, 17, &se)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
  std::size_t i = 19;
  std::int64_t frac = 0;
  if (i < s.size() && s[i] == '.') {
    int scale = 100;
    std::size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (scale) frac += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return false;
  }
  std::int64_t off = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh, om;
    if (!two(s, i + 1, &oh) || !two(s, i + 4, &om)) return false;
    off = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return false;
  }
  if (i != s.size()) return false;
  std::tm tm{};
  tm.tm_year = c * 100 + y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  *ms = (static_cast<std::int64_t>(timegm(&tm)) - off) * 1000 + frac;
  return true;
}

bool number_ms(double v, TimeFormat f, std::int64_t* ms) {
  if (!std::isfinite(v)) return false;
  if (f == TimeFormat::kAuto) {
    double a = std::fabs(v);
    f = a < 1e11 ? TimeFormat::kUnixS : a < 1e14 ? TimeFormat::kUnixMs : a < 1e17 ? TimeFormat::kUnixUs : TimeFormat::kUnixNs;
  }
  double r;
  switch (f) {
    case TimeFormat::kUnixS: r = v * 1e3; break;
    case TimeFormat::kUnixMs: r = v; break;
    case TimeFormat::kUnixUs: r = v / 1e3; break;
    case TimeFormat::kUnixNs: r = v / 1e6; break;
    default: return false;
  }
  if (std::fabs(r) > 9.2e18) return false;
  *ms = static_cast<std::int64_t>(std::floor(r));
  return true;
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
    bool ok = false;
    if (t.get(s) == simdjson::SUCCESS) {
      if (m.spec.time_format == TimeFormat::kRfc3339 || m.spec.time_format == TimeFormat::kAuto) ok = rfc3339_ms(s, &ms);
      if (!ok) {
        *reason = "field '" + m.spec.time_field + "': expected a time, got string \"" + shorten(s) + "\"";
        return false;
      }
    } else if (t.get(d) == simdjson::SUCCESS) {
      if (m.spec.time_format == TimeFormat::kRfc3339 || !number_ms(d, m.spec.time_format, &ms)) {
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
