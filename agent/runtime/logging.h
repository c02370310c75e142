// One-line log records on stderr, in a form journald understands.
//
// Under systemd (JOURNAL_STREAM set) each line starts with the syslog priority in angle
// brackets ("<4>"), which journald turns into the record's priority, and carries no timestamp
// (journald adds its own). Elsewhere a line starts with an RFC 3339 UTC timestamp and the level
// name. Every line names the component that speaks: "mqtt[plant-broker]: connected ...".
//
// Thread-safe: each record is one write(2) of a whole line, so lines from several threads never
// interleave.
#pragma once

#include <string_view>

namespace outpost::runtime {

enum class LogLevel : int { kDebug = 7, kInfo = 6, kWarning = 4, kError = 3 };

// Records below this level are dropped. Default kInfo.
void set_log_level(LogLevel level);
bool parse_log_level(std::string_view text, LogLevel* out);

void log_line(LogLevel level, std::string_view component, std::string_view message);

inline void log_info(std::string_view component, std::string_view message) {
  log_line(LogLevel::kInfo, component, message);
}
inline void log_warning(std::string_view component, std::string_view message) {
  log_line(LogLevel::kWarning, component, message);
}
inline void log_error(std::string_view component, std::string_view message) {
  log_line(LogLevel::kError, component, message);
}
inline void log_debug(std::string_view component, std::string_view message) {
  log_line(LogLevel::kDebug, component, message);
}

}  // namespace outpost::runtime
