// Times typed on the command line (`outpost log cat --since/--until`) and printed by it: RFC 3339
// both ways, including dates past 2038, which a 32-bit time_t (Debian 12 armhf, Pi OS 32-bit)
// cannot hold; the conversions must not go through time_t.
#include <doctest/doctest.h>

#include <cstdint>

#include "agent/runtime/time_text.h"

using namespace outpost::runtime;

namespace {

std::int64_t parse(const char* text) {
  std::int64_t ms = -1;
  REQUIRE_MESSAGE(parse_time_text(text, TimeUnit::kAuto, &ms), text);
  return ms;
}

}  // namespace

TEST_CASE("RFC 3339 parses to unix milliseconds, zones and fractions applied") {
  CHECK(parse("1970-01-01T00:00:00Z") == 0);
  CHECK(parse("2024-05-01T12:00:00.250Z") == 1'714'564'800'250);
  CHECK(parse("2024-05-01T14:00:00+02:00") == 1'714'564'800'000);
  CHECK(parse("1969-12-31T23:59:59Z") == -1000);
  CHECK(parse("2024-02-29T00:00:00Z") == 1'709'164'800'000);
}

TEST_CASE("dates past 2038-01-19 parse and print exactly, also with a 32-bit time_t") {
  CHECK(parse("2038-01-19T03:14:08Z") == 2'147'483'648'000);  // one second past INT32_MAX
  CHECK(parse("2040-06-01T00:00:00Z") == 2'222'121'600'000);
  CHECK(parse("2106-02-07T06:28:16Z") == 4'294'967'296'000);  // past UINT32_MAX seconds
  CHECK(parse("9999-12-31T23:59:59.999Z") == 253'402'300'799'999);
  CHECK(format_rfc3339_ms(2'147'483'648'000) == "2038-01-19T03:14:08.000Z");
  CHECK(format_rfc3339_ms(4'294'967'296'000) == "2106-02-07T06:28:16.000Z");
  CHECK(format_rfc3339_ms(253'402'300'799'999) == "9999-12-31T23:59:59.999Z");
}

TEST_CASE("formatting round-trips and handles times before 1970") {
  CHECK(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339_ms(1'714'564'800'250) == "2024-05-01T12:00:00.250Z");
  CHECK(format_rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
  for (std::int64_t ms : {std::int64_t{-86'400'001}, std::int64_t{951'782'400'123}, std::int64_t{3'000'000'000'000}}) {
    CHECK(parse(format_rfc3339_ms(ms).c_str()) == ms);
  }
}
