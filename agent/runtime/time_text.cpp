#include "agent/runtime/time_text.h"

#include <charconv>
#include <cmath>
#include <cstdio>

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

// Calendar arithmetic in int64, never time_t: Debian 12's armhf time_t is 32 bits, and timegm /
// gmtime_r there fail past 2038-01-19. H. Hinnant's days_from_civil / civil_from_days.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
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
  // Like timegm, a day past the month's end (02-31) or second 60 carries into what follows.
  std::int64_t secs = days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day)) * 86400 +
                      hour * 3600 + min * 60 + sec - offset_s;
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
  std::int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  const std::int64_t rem = secs - days * 86400;
  // civil_from_days (H. Hinnant).
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<long long>(y), m, d,
                static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60), frac);
  return buf;
}

}  // namespace outpost::runtime
