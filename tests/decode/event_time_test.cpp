// Event-time parsing: every unix unit (ints and decimals, exactly), auto's guess, RFC 3339.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "agent/decode/event_time.h"

using namespace outpost::decode;

namespace {
std::optional<std::int64_t> text_ms(const std::string& text, TimeFormat f) {
  std::int64_t ms = 0;
  if (!parse_time_text(text, f, &ms)) return std::nullopt;
  return ms;
}
constexpr std::int64_t kT = 1700000000123;  // 2023-11-14T22:13:20.123Z
}  // namespace

TEST_CASE("unix numbers in every unit convert to milliseconds exactly") {
  CHECK(text_ms("1700000000", TimeFormat::kUnixS) == 1700000000000);
  CHECK(text_ms("1700000000.123", TimeFormat::kUnixS) == kT);
  CHECK(text_ms("1700000000.1239", TimeFormat::kUnixS) == kT);  // truncated, not rounded
  CHECK(text_ms("1700000000123", TimeFormat::kUnixMs) == kT);
  CHECK(text_ms("1700000000123.9", TimeFormat::kUnixMs) == kT);
  CHECK(text_ms("1700000000123456", TimeFormat::kUnixUs) == kT);
  CHECK(text_ms("1700000000123456789", TimeFormat::kUnixNs) == kT);
  CHECK(text_ms("1.700000000123e9", TimeFormat::kUnixS) == kT);
  CHECK(text_ms("+1700000000", TimeFormat::kUnixS) == 1700000000000);
  CHECK(text_ms("0", TimeFormat::kUnixS) == 0);
  CHECK(text_ms("-1.5", TimeFormat::kUnixS) == -1500);
  CHECK(text_ms("-0.0005", TimeFormat::kUnixS) == -1);  // floor toward the past
}

TEST_CASE("unix formats refuse what is not a number and what overflows") {
  CHECK_FALSE(text_ms("", TimeFormat::kUnixS));
  CHECK_FALSE(text_ms("soon", TimeFormat::kUnixMs));
  CHECK_FALSE(text_ms("12abc", TimeFormat::kUnixMs));
  CHECK_FALSE(text_ms("1e", TimeFormat::kUnixMs));
  CHECK_FALSE(text_ms(".", TimeFormat::kUnixMs));
  CHECK_FALSE(text_ms("2024-05-01T12:00:00Z", TimeFormat::kUnixS));
  CHECK_FALSE(text_ms("1e300", TimeFormat::kUnixS));
  CHECK_FALSE(text_ms("99999999999999999999999", TimeFormat::kUnixS));
  CHECK_FALSE(text_ms("nan", TimeFormat::kUnixS));
  CHECK_FALSE(text_ms("inf", TimeFormat::kUnixS));
}

TEST_CASE("auto guesses the unit by magnitude") {
  CHECK(text_ms("1700000000", TimeFormat::kAuto) == 1700000000000);
  CHECK(text_ms("1700000000.123", TimeFormat::kAuto) == kT);
  CHECK(text_ms("1700000000123", TimeFormat::kAuto) == kT);
  CHECK(text_ms("1700000000123456", TimeFormat::kAuto) == kT);
  CHECK(text_ms("1700000000123456789", TimeFormat::kAuto) == kT);
  CHECK(text_ms("1.7e9", TimeFormat::kAuto) == 1700000000000);
  CHECK(text_ms("1.7e12", TimeFormat::kAuto) == 1700000000000);
  CHECK(text_ms("2024-05-01T12:00:00Z", TimeFormat::kAuto) == 1714564800000);
  // Boundaries: 99999999999 s is year 5138; 1e11 is read as milliseconds (1973).
  CHECK(text_ms("99999999999", TimeFormat::kAuto) == 99999999999000);
  CHECK(text_ms("100000000000", TimeFormat::kAuto) == 100000000000);
  std::int64_t ms = 0;
  CHECK(integer_to_ms(1700000000, TimeFormat::kAuto, &ms));
  CHECK(ms == 1700000000000);
  CHECK(integer_to_ms(1700000000123456789, TimeFormat::kAuto, &ms));
  CHECK(ms == kT);
  CHECK(integer_to_ms(-1700000000, TimeFormat::kAuto, &ms));
  CHECK(ms == -1700000000000);
}

TEST_CASE("doubles convert through their shortest text, so decimal seconds are not off by one") {
  std::int64_t ms = 0;
  CHECK(double_to_ms(1700000000.123, TimeFormat::kUnixS, &ms));
  CHECK(ms == kT);
  CHECK(double_to_ms(1700000000.001, TimeFormat::kUnixS, &ms));
  CHECK(ms == 1700000000001);
  CHECK(double_to_ms(1.7e18, TimeFormat::kUnixNs, &ms));
  CHECK(ms == 1700000000000);
  CHECK_FALSE(double_to_ms(1e300, TimeFormat::kUnixS, &ms));
  CHECK_FALSE(double_to_ms(1700000000, TimeFormat::kRfc3339, &ms));
}

TEST_CASE("RFC 3339 with Z, offsets, fractions of any length and a space separator") {
  CHECK(text_ms("2024-05-01T12:00:00Z", TimeFormat::kRfc3339) == 1714564800000);
  CHECK(text_ms("2024-05-01t12:00:00z", TimeFormat::kRfc3339) == 1714564800000);
  CHECK(text_ms("2024-05-01 12:00:00Z", TimeFormat::kRfc3339) == 1714564800000);
  CHECK(text_ms("2024-05-01T12:00:00.250Z", TimeFormat::kRfc3339) == 1714564800250);
  CHECK(text_ms("2024-05-01T12:00:00.2Z", TimeFormat::kRfc3339) == 1714564800200);
  CHECK(text_ms("2024-05-01T12:00:00.123456789Z", TimeFormat::kRfc3339) == 1714564800123);
  CHECK(text_ms("2024-05-01T14:00:00+02:00", TimeFormat::kRfc3339) == 1714564800000);
  CHECK(text_ms("2024-05-01T14:00:00+0200", TimeFormat::kRfc3339) == 1714564800000);
  CHECK(text_ms("2024-05-01T06:30:00.5-05:30", TimeFormat::kRfc3339) == 1714564800500);
  CHECK(text_ms("1970-01-01T00:00:00Z", TimeFormat::kRfc3339) == 0);
  CHECK(text_ms("1969-12-31T23:59:59.999Z", TimeFormat::kRfc3339) == -1);
  CHECK(text_ms("2024-02-29T00:00:00Z", TimeFormat::kRfc3339) == 1709164800000);  // leap day
  CHECK(text_ms("2016-12-31T23:59:60Z", TimeFormat::kRfc3339) == 1483228799999);  // leap second
}

TEST_CASE("RFC 3339 refuses a missing zone, impossible dates and numbers") {
  CHECK_FALSE(text_ms("2024-05-01T12:00:00", TimeFormat::kRfc3339));
  CHECK_FALSE(text_ms("2024-05-01", TimeFormat::kRfc3339));
  CHECK_FALSE(text_ms("2023-02-29T00:00:00Z", TimeFormat::kRfc3339));
  CHECK_FALSE(text_ms("2024-13-01T00:00:00Z", TimeFormat::kRfc3339));
  CHECK_FALSE(text_ms("2024-05-01T24:00:00Z", TimeFormat::kRfc3339));
  CHECK_FALSE(text_ms("2024-05-01T12:00:00.Z", TimeFormat::kRfc3339));
  CHECK_FALSE(text_ms("2024-05-01T12:00:00Zjunk", TimeFormat::kRfc3339));
  CHECK_FALSE(text_ms("2024-05-01T12:00:00+2:00", TimeFormat::kRfc3339));
  CHECK_FALSE(text_ms("1700000000", TimeFormat::kRfc3339));
}

TEST_CASE("format_rfc3339_ms round-trips with the parser") {
  for (std::int64_t ms : {std::int64_t{0}, std::int64_t{-1}, kT, std::int64_t{1714564800250},
                          std::int64_t{-86400001}, std::int64_t{253402300799999}}) {
    CAPTURE(ms);
    CHECK(text_ms(format_rfc3339_ms(ms), TimeFormat::kRfc3339) == ms);
  }
  CHECK(format_rfc3339_ms(1714564800250) == "2024-05-01T12:00:00.250Z");
}
