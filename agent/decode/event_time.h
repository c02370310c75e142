// Event-time parsing: unix numbers in s/ms/us/ns (integers or decimals) and RFC 3339, to int64
// milliseconds since the epoch. Conversions are exact (decimal text is read digit by digit, not
// through a double) and round toward negative infinity: 1700000000.1239 s -> 1700000000123 ms,
// -0.5 ms -> -1 ms.
//
// kAuto:
//   numbers (or strings holding a number) by magnitude of the integer part:
//     |v| < 1e11 -> seconds (up to year 5138), < 1e14 -> milliseconds, < 1e17 -> microseconds,
//     else nanoseconds. Every time between 1973 and 5138 is read right in any unit.
//   other strings: RFC 3339.
// kRfc3339: "2024-05-01T12:00:00Z", "2024-05-01t12:00:00.123456+02:00", "2024-05-01 12:00:00Z"
//   (RFC 3339 allows a space), offsets +hh:mm or +hhmm, any number of fractional digits
//   (truncated to ms), second 60 (a leap second) reads as :59.999. A zone is required.
// kUnix*: a number, or a string holding one ("1700000000"); never RFC 3339.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/decode/decoder.h"

namespace outpost::decode {

// A number written as text (JSON number syntax, plus a leading '+'), in `format` (kRfc3339
// refuses numbers). False if it is not a number or the result does not fit in int64 ms.
bool number_text_to_ms(std::string_view text, TimeFormat format, std::int64_t* ms);
// An integer in `format`, exactly.
bool integer_to_ms(std::int64_t v, TimeFormat format, std::int64_t* ms);
// A double (e.g. from a JSON parser that has no text), via its shortest round-trip text, so
// 1700000000.123 gives ...123 and not ...122.
bool double_to_ms(double v, TimeFormat format, std::int64_t* ms);
// RFC 3339 only.
bool parse_rfc3339(std::string_view text, std::int64_t* ms);
// A time as text in `format`: for kAuto a number or RFC 3339; for kUnix* a number; for
// kRfc3339 RFC 3339.
bool parse_time_text(std::string_view text, TimeFormat format, std::int64_t* ms);

// "2024-05-01T12:00:00.250Z"
std::string format_rfc3339_ms(std::int64_t ms);

}  // namespace outpost::decode
