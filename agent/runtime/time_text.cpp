#include "agent/runtime/time_text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace outpost::runtime {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool parse_rfc3339(std::string_view s, std::int64_t* ms) {
  int year, mon, day, hour, min, sec;
  if (!digits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, &mon) || s[7] != '-' ||
      !digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, &hour) ||
      s[13] != ':' || !digits(s, 14, 2, &min) || s[16] != ':' || !digits(s, 17, 2, &sec)) {
    return false;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return false;
  std::size_t pos = 19;
  std::int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 0) frac_ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return false;
  }
  std::int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, &om)) return false;
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return false;  // RFC 3339 requires a zone
  }
  if (pos != s.size()) return false;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::int64_t secs = static_cast<std::int64_t>(timegm(&tm)) - offset_s;
  *ms = secs * 1000 + frac_ms;
  return true;
}

}  // namespace

bool parse_time_unit(std::string_view text, TimeUnit* out) {
  if (text == "auto") *out = TimeUnit::kAuto;
  else if (text == "unix_s") *out = TimeUnit::kSeconds;
  else if (text == "unix_ms") *out = TimeUnit::kMillis;
  else if (text == "unix_us") *out = TimeUnit::kMicros;
  else if (text == "unix_ns") *out = TimeUnit::kNanos;
  else if (text == "rfc3339") *out = TimeUnit::kRfc3339;
  else return false;
  return true;
}

bool number_to_ms(double v, TimeUnit unit, std::int64_t* ms) {
  if (!std::isfinite(v)) return false;
  if (unit == TimeUnit::kAuto) {
    double a = std::fabs(v);
    unit = a < 1e11 ? TimeUnit::kSeconds : a < 1e14 ? TimeUnit::kMillis : a < 1e17 ? TimeUnit::kMicros : TimeUnit::kNanos;
  }
  double r;
  switch (unit) {
    case TimeUnit::kSeconds: r = v * 1000.0; break;
    case TimeUnit::kMillis: r = v; break;
    case TimeUnit::kMicros: r = v / 1000.0; break;
    case TimeUnit::kNanos: r = v / 1e6; break;
    default: return false;
  }
  if (std::fabs(r) > 9.2e18) return false;
  *ms = static_cast<std::int64_t>(std::floor(r));
  return true;
}

bool parse_time_text(std::string_view text, TimeUnit unit, std::int64_t* ms) {
  if (unit != TimeUnit::kRfc3339) {
    double v;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc() && p == text.data() + text.size()) return number_to_ms(v, unit, ms);
    if (unit != TimeUnit::kAuto) return false;
  }
  return parse_rfc3339(text, ms);
}

std::string format_rfc3339_ms(std::int64_t ms) {
  std::int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int frac = static_cast<int>(ms - secs * 1000);
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

}  // namespace outpost::runtime
