#include "agent/http/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

namespace outpost::http {
namespace {

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Integers print exactly; other values keep full precision.
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
  }
  return buf;
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void MetricsWriter::family(std::string_view name, Type type, std::string_view help) {
  current_ = std::string(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {
    if (c == '\\') out_ += "\\\\";
    else if (c == '\n') out_ += "\\n";
    else out_ += c;
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += type == Type::kCounter ? " counter\n" : " gauge\n";
}

void MetricsWriter::sample(const Labels& labels, double value) {
  out_ += current_;
  if (!labels.empty()) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      out_ += escape_label_value(v);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

void MetricsWriter::counter(std::string_view name, std::string_view help, double value, const Labels& labels) {
  family(name, Type::kCounter, help);
  sample(labels, value);
}

void MetricsWriter::gauge(std::string_view name, std::string_view help, double value, const Labels& labels) {
  family(name, Type::kGauge, help);
  sample(labels, value);
}

ProcessStats read_process_stats() {
  ProcessStats s;
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0, rss_pages = 0;
  if (statm >> size_pages >> rss_pages) {
    s.rss_bytes = rss_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    s.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    s.peak_rss_bytes = static_cast<std::uint64_t>(ru.ru_maxrss) * 1024;
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++s.open_fds;
    }
    closedir(d);
    if (s.open_fds > 0) --s.open_fds;  // the directory stream itself
  }
  return s;
}

}  // namespace outpost::http
