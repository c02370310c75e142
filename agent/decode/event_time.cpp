#include "agent/decode/event_time.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace outpost::decode {
namespace {

constexpr std::int64_t kPow10[19] = {1,
                                     10,
                                     100,
                                     1000,
                                     10000,
                                     100000,
                                     1000000,
                                     10000000,
                                     100000000,
                                     1000000000,
                                     10000000000,
                                     100000000000,
                                     1000000000000,
                                     10000000000000,
                                     100000000000000,
                                     1000000000000000,
                                     10000000000000000,
                                     100000000000000000,
                                     1000000000000000000};

// Decimal exponent that turns a value in `f` into milliseconds.
int ms_shift(TimeFormat f) {
  switch (f) {
    case TimeFormat::kUnixS: return 3;
    case TimeFormat::kUnixMs: return 0;
    case TimeFormat::kUnixUs: return -3;
    case TimeFormat::kUnixNs: return -6;
    default: return 0;
  }
}

// kAuto by the number of digits of the integer part (0 for |v| < 1).
TimeFormat guess_unit(int integer_digits) {
  if (integer_digits <= 11) return TimeFormat::kUnixS;   // < 1e11
  if (integer_digits <= 14) return TimeFormat::kUnixMs;  // < 1e14
  if (integer_digits <= 17) return TimeFormat::kUnixUs;  // < 1e17
  return TimeFormat::kUnixNs;
}

// floor(sign * d * 10^t) into *ms; `sticky` says nonzero digits were dropped below d.
bool scale_to_ms(bool negative, std::uint64_t d, int t, bool sticky, std::int64_t* ms) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t q;
  bool inexact = sticky;
  if (t >= 0) {
    if (d == 0) {
      q = 0;
    } else {
      if (t > 18) return false;
      const auto p = static_cast<std::uint64_t>(kPow10[t]);
      if (d > kMax / p) return false;
      q = d * p;
    }
  } else {
    const int k = -t;
    if (k > 18) {
      q = 0;
      inexact = inexact || d != 0;
    } else {
      const auto p = static_cast<std::uint64_t>(kPow10[k]);
      q = d / p;
      inexact = inexact || (d % p) != 0;
    }
  }
  if (q > kMax) return false;
  auto v = static_cast<std::int64_t>(q);
  if (negative) {
    v = -v;
    if (inexact) {
      if (v == std::numeric_limits<std::int64_t>::min()) return false;
      --v;
    }
  }
  *ms = v;
  return true;
}

bool two_digits(std::string_view s, std::size_t pos, int* out) {
  if (pos + 2 > s.size()) return false;
  const char a = s[pos], b = s[pos + 1];
  if (a < '0' || a > '9' || b < '0' || b > '9') return false;
  *out = (a - '0') * 10 + (b - '0');
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

unsigned days_in_month(int y, int m) {
  static constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return kDays[m - 1];
}

}  // namespace

bool number_text_to_ms(std::string_view s, TimeFormat format, std::int64_t* ms) {
  if (format == TimeFormat::kRfc3339) return false;
  std::size_t i = 0;
  const std::size_t n = s.size();
  bool negative = false;
  if (i < n && (s[i] == '-' || s[i] == '+')) {
    negative = s[i] == '-';
    ++i;
  }
  std::uint64_t d = 0;
  int significant = 0;       // digits kept in d
  int exp10 = 0;             // value = d * 10^exp10 (before the explicit exponent)
  int integer_digits = 0;    // significant digits of the integer part
  bool sticky = false;
  bool any_digit = false;
  auto take = [&](char c, bool fraction) {
    any_digit = true;
    const int v = c - '0';
    if (significant == 0 && v == 0) {
      if (fraction) --exp10;  // leading zeros of a fraction shift the scale
      return;
    }
    if (!fraction) ++integer_digits;
    if (significant < 19) {
      d = d * 10 + static_cast<std::uint64_t>(v);
      ++significant;
      if (fraction) --exp10;
    } else {
      if (!fraction) ++exp10;  // a dropped integer digit still counts as a power of ten
      if (v != 0) sticky = true;
    }
  };
  while (i < n && s[i] >= '0' && s[i] <= '9') take(s[i++], false);
  if (i < n && s[i] == '.') {
    ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') take(s[i++], true);
  }
  if (!any_digit) return false;
  int explicit_exp = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    if (i >= n || s[i] < '0' || s[i] > '9') return false;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (explicit_exp < 10000) explicit_exp = explicit_exp * 10 + (s[i] - '0');
      ++i;
    }
    if (eneg) explicit_exp = -explicit_exp;
  }
  if (i != n) return false;
  if (format == TimeFormat::kAuto) {
    const int digits = d == 0 ? 0 : std::max(0, integer_digits + explicit_exp +
                                                    (integer_digits == 0 ? (significant + exp10) : 0));
    format = guess_unit(digits);
  }
  return scale_to_ms(negative, d, exp10 + explicit_exp + ms_shift(format), sticky, ms);
}

bool integer_to_ms(std::int64_t v, TimeFormat format, std::int64_t* ms) {
  if (format == TimeFormat::kRfc3339) return false;
  const bool negative = v < 0;
  const std::uint64_t mag = negative ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  if (format == TimeFormat::kAuto) {
    int digits = 0;
    for (std::uint64_t m = mag; m != 0; m /= 10) ++digits;
    format = guess_unit(digits);
  }
  return scale_to_ms(negative, mag, ms_shift(format), false, ms);
}

bool double_to_ms(double v, TimeFormat format, std::int64_t* ms) {
  if (!std::isfinite(v)) return false;
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return false;
  return number_text_to_ms(std::string_view(buf, static_cast<std::size_t>(end - buf)), format, ms);
}

bool parse_rfc3339(std::string_view s, std::int64_t* ms) {
  // YYYY-MM-DDTHH:MM:SS
  if (s.size() < 20) return false;
  int y1, y2, mon, day, hour, min, sec;
  if (!two_digits(s, 0, &y1) || !two_digits(s, 2, &y2) || s[4] != '-' || !two_digits(s, 5, &mon) || s[7] != '-' ||
      !two_digits(s, 8, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !two_digits(s, 11, &hour) ||
      s[13] != ':' || !two_digits(s, 14, &min) || s[16] != ':' || !two_digits(s, 17, &sec)) {
    return false;
  }
  const int year = y1 * 100 + y2;
  if (mon < 1 || mon > 12 || day < 1 || static_cast<unsigned>(day) > days_in_month(year, mon) || hour > 23 ||
      min > 59 || sec > 60) {
    return false;
  }
  std::size_t pos = 19;
  std::int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return false;
  }
  if (sec == 60) {  // a leap second: the last millisecond of the minute
    sec = 59;
    frac_ms = 999;
  }
  std::int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const bool minus = s[pos] == '-';
    int oh, om;
    if (!two_digits(s, pos + 1, &oh)) return false;
    std::size_t mpos = pos + 3;
    if (mpos < s.size() && s[mpos] == ':') ++mpos;
    if (!two_digits(s, mpos, &om) || oh > 23 || om > 59) return false;
    offset_s = (oh * 3600 + om * 60) * (minus ? -1 : 1);
    pos = mpos + 2;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day));
  const std::int64_t secs = days * 86400 + hour * 3600 + min * 60 + sec - offset_s;
  *ms = secs * 1000 + frac_ms;
  return true;
}

bool parse_time_text(std::string_view text, TimeFormat format, std::int64_t* ms) {
  switch (format) {
    case TimeFormat::kRfc3339: return parse_rfc3339(text, ms);
    case TimeFormat::kAuto: return number_text_to_ms(text, format, ms) || parse_rfc3339(text, ms);
    default: return number_text_to_ms(text, format, ms);
  }
}

std::string format_rfc3339_ms(std::int64_t ms) {
  std::int64_t secs = ms / 1000;
  std::int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // civil_from_days (H. Hinnant).
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                static_cast<long long>(rem % 60), static_cast<long long>(frac));
  return buf;
}

}  // namespace outpost::decode
