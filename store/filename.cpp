#include "store/filename.h"

#include <cstdio>

namespace outpost::store {

std::string check_stream_name(std::string_view name) {
  if (name.empty()) return "stream name is empty";
  if (name.size() > kMaxStreamNameBytes) {
    return "stream name is " + std::to_string(name.size()) + " characters long (at most " +
           std::to_string(kMaxStreamNameBytes) + ")";
  }
  if (name == "." || name == "..") return "stream name '" + std::string(name) + "' is reserved";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return "stream name '" + std::string(name) +
             "' has a character outside [A-Za-z0-9_.-]";
    }
  }
  return {};
}

std::filesystem::path lock_path(const std::filesystem::path& d) { return d / "LOCK"; }
std::filesystem::path catalog_path(const std::filesystem::path& d) { return d / "catalog.db"; }
std::filesystem::path temp_path(const std::filesystem::path& p) { return std::filesystem::path(p.string() + ".tmp"); }
std::filesystem::path streams_dir(const std::filesystem::path& d) { return d / "streams"; }
std::filesystem::path stream_dir(const std::filesystem::path& d, std::string_view s) {
  return streams_dir(d) / std::string(s);
}

static std::string padded(std::uint64_t v, const char* ext) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%020llu%s", static_cast<unsigned long long>(v), ext);
  return buf;
}
std::string segment_file_name(std::uint64_t first_seq) { return padded(first_seq, ".seg"); }
std::string journal_file_name(std::uint64_t first_seq) { return padded(first_seq, ".jnl"); }

std::optional<ParsedName> parse_file_name(std::string_view name) {
  if (name.size() != 24 || name[20] != '.') return std::nullopt;
  std::string_view ext = name.substr(21);
  FileKind kind;
  if (ext == "seg") kind = FileKind::kSegment;
  else if (ext == "jnl") kind = FileKind::kJournal;
  else return std::nullopt;
  std::uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (~0ull - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  if (v == 0) return std::nullopt;
  return ParsedName{kind, v};
}

}  // namespace outpost::store
