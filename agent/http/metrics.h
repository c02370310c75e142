// Prometheus text exposition format (version 0.0.4), built at scrape time.
//
// The daemon asks each module for a snapshot of its counters and writes them here; nothing is
// registered globally. Families keep their samples together, as the format requires.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outpost::http {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsWriter {
 public:
  enum class Type { kCounter, kGauge };

  // Starts a family. Names follow Prometheus conventions: outpost_<module>_<what>_<unit>,
  // counters end in _total.
  void family(std::string_view name, Type type, std::string_view help);
  // A sample of the current family.
  void sample(const Labels& labels, double value);
  void sample(double value) { sample({}, value); }

  // One-sample families, the common case.
  void counter(std::string_view name, std::string_view help, double value, const Labels& labels = {});
  void gauge(std::string_view name, std::string_view help, double value, const Labels& labels = {});

  const std::string& text() const { return out_; }

 private:
  std::string out_;
  std::string current_;
};

// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

// This process's resident set, CPU time and open file descriptors, from /proc/self.
struct ProcessStats {
  std::uint64_t rss_bytes = 0;
  std::uint64_t peak_rss_bytes = 0;
  double cpu_seconds = 0;
  std::uint64_t open_fds = 0;
};
ProcessStats read_process_stats();

}  // namespace outpost::http
