// Durations, sizes, rates, did-you-mean, MQTT topic filters, and the small value types of
// config.h.
#include <algorithm>
#include <charconv>
#include <limits>

#include "agent/config/config.h"

namespace outpost::config {
namespace {

// A whole decimal number that is all of `text`, without sign or spaces.
std::optional<std::uint64_t> whole_number(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t limit) {
  if (a != 0 && b > limit / a) return std::nullopt;
  return a * b;
}

}  // namespace

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  // "ms" before "m" and "s": the longest unit that matches wins.
  static constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  for (const auto& [unit, mul] : kUnits) {
    if (!ends_with(text, unit)) continue;
    auto n = whole_number(text.substr(0, text.size() - unit.size()));
    if (!n) continue;
    auto ms = checked_mul(*n, mul, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    if (!ms) return std::nullopt;
    return static_cast<std::int64_t>(*ms);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_size_bytes(std::string_view text) {
  if (auto n = whole_number(text)) return n;
  static constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {
      {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
      {"KB", 1000ull},     {"MB", 1000'000ull}, {"GB", 1000'000'000ull}, {"TB", 1000'000'000'000ull},
      {"B", 1}};
  for (const auto& [unit, mul] : kUnits) {
    if (!ends_with(text, unit)) continue;
    auto n = whole_number(text.substr(0, text.size() - unit.size()));
    if (!n) continue;
    return checked_mul(*n, mul, std::numeric_limits<std::uint64_t>::max());
  }
  return std::nullopt;
}

std::optional<Rate> parse_rate(std::string_view text) {
  if (!ends_with(text, "/s")) return std::nullopt;
  std::string_view amount = text.substr(0, text.size() - 2);
  Rate r;
  if (auto n = whole_number(amount)) {
    r.records_per_s = static_cast<double>(*n);
    return r;
  }
  if (amount.empty() || !(amount.back() == 'B')) return std::nullopt;  // "5MB/s", "1MiB/s", "100B/s"
  auto bytes = parse_size_bytes(amount);
  if (!bytes) return std::nullopt;
  r.bytes_per_s = static_cast<double>(*bytes);
  return r;
}

std::string format_duration_ms(std::int64_t ms) {
  static constexpr std::pair<const char*, std::int64_t> kUnits[] = {
      {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}};
  if (ms == 0) return "0s";
  for (const auto& [unit, mul] : kUnits) {
    if (ms % mul == 0) return std::to_string(ms / mul) + unit;
  }
  return std::to_string(ms) + "ms";
}

std::string check_topic_filter(std::string_view filter) {
  if (filter.empty()) return "a topic filter must not be empty";
  if (filter.size() > 65535) return "a topic filter is at most 65535 bytes";
  if (filter.find('\0') != std::string_view::npos) return "a topic filter must not contain a NUL byte";
  std::string_view rest = filter;
  if (rest.substr(0, 7) == "$share/") {
    rest.remove_prefix(7);
    std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) {
      return "a shared subscription is $share/<group>/<filter>";
    }
    std::string_view group = rest.substr(0, slash);
    if (group.find_first_of("+#") != std::string_view::npos) {
      return "the share group name '" + std::string(group) + "' must not contain + or #";
    }
    rest.remove_prefix(slash + 1);
    if (rest.empty()) return "a shared subscription needs a filter after $share/<group>/";
  }
  std::size_t start = 0;
  while (true) {
    std::size_t slash = rest.find('/', start);
    std::string_view level = rest.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    bool last = slash == std::string_view::npos;
    if (level.find('#') != std::string_view::npos) {
      if (level != "#") return "'#' must be a whole level (e.g. sensors/#), not part of '" + std::string(level) + "'";
      if (!last) return "'#' must be the last level of a topic filter";
    }
    if (level.find('+') != std::string_view::npos && level != "+") {
      return "'+' must be a whole level (e.g. sensors/+/temp), not part of '" + std::string(level) + "'";
    }
    if (last) break;
    start = slash + 1;
  }
  return {};
}

std::string Diagnostic::to_string() const {
  std::string s = file;
  if (at.line > 0) s += ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
  s += ": ";
  if (severity == Severity::kWarning) s += "warning: ";
  return s + message;
}

std::size_t LoadResult::error_count() const {
  return static_cast<std::size_t>(
      std::count_if(diagnostics.begin(), diagnostics.end(), [](const Diagnostic& d) { return d.is_error(); }));
}

std::string LoadResult::report() const {
  std::string out;
  for (const auto& d : diagnostics) {
    if (!out.empty()) out += '\n';
    out += d.to_string();
  }
  return out;
}

const StreamConfig* Config::find_stream(std::string_view name) const {
  for (const auto& s : streams) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> Config::all_stream_names() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& n) {
    if (!n.empty() && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  };
  for (const auto& s : streams) add(s.name);
  for (const auto& s : streams) add(s.dead_letter);
  for (const auto& q : queries) add(q.result_stream);
  for (const auto& q : queries) add(q.late_stream);
  return out;
}

namespace {
SqlCheck& sql_check_slot() {
  static SqlCheck check;
  return check;
}
}  // namespace

void register_sql_check(SqlCheck check) { sql_check_slot() = std::move(check); }
const SqlCheck& registered_sql_check() { return sql_check_slot(); }

}  // namespace outpost::config
