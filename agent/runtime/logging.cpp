#include "agent/runtime/logging.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace outpost::runtime {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

bool under_journald() {
  static const bool journald = std::getenv("JOURNAL_STREAM") != nullptr;
  return journald;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool parse_log_level(std::string_view text, LogLevel* out) {
  if (text == "debug") *out = LogLevel::kDebug;
  else if (text == "info") *out = LogLevel::kInfo;
  else if (text == "warning" || text == "warn") *out = LogLevel::kWarning;
  else if (text == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

void log_line(LogLevel level, std::string_view component, std::string_view message) {
  // Syslog priorities: a smaller number is more severe.
  if (static_cast<int>(level) > g_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(message.size() + component.size() + 48);
  if (under_journald()) {
    line += '<';
    line += std::to_string(static_cast<int>(level));
    line += '>';
  } else {
    auto now = std::chrono::system_clock::now();
    std::time_t secs = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    line += stamp;
    line += level_name(level);
    line += ' ';
  }
  line += component;
  line += ": ";
  for (char c : message) line += (c == '\n' ? ' ' : c);  // one record, one line
  line += '\n';
  // One write per line; a short write to a pipe of this size does not happen in practice, and
  // a failed log write has nowhere better to go.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace outpost::runtime
