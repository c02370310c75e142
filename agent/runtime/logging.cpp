#include "agent/runtime/logging.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/decode/event_time.h"

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
    // 64-bit milliseconds and agent/decode's civil-date conversion rather than time_t + gmtime:
    // time_t is 32 bits in the armhf build (Pi OS 32-bit).
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch()).count();
    std::string stamp = decode::format_rfc3339_ms(now_ms);
    stamp += ' ';
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
