// Times as people type them on the command line: RFC 3339 or unix numbers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::runtime {

enum class TimeUnit { kAuto, kSeconds, kMillis, kMicros, kNanos, kRfc3339 };

// "auto", "unix_s", "unix_ms", "unix_us", "unix_ns", "rfc3339".
bool parse_time_unit(std::string_view text, TimeUnit* out);

// A number in `unit` to milliseconds. kAuto guesses by magnitude: below 1e11 seconds, below
// 1e14 milliseconds, below 1e17 microseconds, else nanoseconds (dates 1973..5138 are told apart).
bool number_to_ms(double value, TimeUnit unit, std::int64_t* ms);

// RFC 3339 ("2024-05-01T12:00:00.250Z", "2024-05-01T14:00:00+02:00") or, unless unit is
// kRfc3339, a number in `unit`. Milliseconds since the epoch; false if it is neither.
bool parse_time_text(std::string_view text, TimeUnit unit, std::int64_t* ms);

// "2024-05-01T12:00:00.250Z"
std::string format_rfc3339_ms(std::int64_t ms);

}  // namespace outpost::runtime
