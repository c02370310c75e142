// Every file name of a log directory is made and parsed here (LevelDB filename.h):
//   <data_dir>/LOCK                                  flock'd by the read-write opener
//   <data_dir>/catalog.db (+ -wal, -shm)             SQLite catalog
//   <data_dir>/catalog.db.tmp                        the catalog while it is built, then renamed
//   <data_dir>/streams/<stream>/                     one directory per stream
//   <data_dir>/streams/<stream>/<first_seq:020>.seg  segment, named by its first sequence
//   <data_dir>/streams/<stream>/<first_seq:020>.jnl  intake journal, named by its first sequence
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace outpost::store {

inline constexpr std::size_t kMaxStreamNameBytes = 200;

// A stream name is 1..200 characters of [A-Za-z0-9_.-] and not "." or "..".
// Returns an empty string if valid, else a message naming the problem.
std::string check_stream_name(std::string_view name);

std::filesystem::path lock_path(const std::filesystem::path& data_dir);
std::filesystem::path catalog_path(const std::filesystem::path& data_dir);
// Where a file is built before it is renamed to final_path: final_path + ".tmp".
std::filesystem::path temp_path(const std::filesystem::path& final_path);
std::filesystem::path streams_dir(const std::filesystem::path& data_dir);
std::filesystem::path stream_dir(const std::filesystem::path& data_dir, std::string_view stream);

std::string segment_file_name(std::uint64_t first_seq);
std::string journal_file_name(std::uint64_t first_seq);

enum class FileKind { kSegment, kJournal };
struct ParsedName {
  FileKind kind;
  std::uint64_t first_seq;
};
// Parses "<20 digits>.seg" / "<20 digits>.jnl"; nullopt for anything else.
std::optional<ParsedName> parse_file_name(std::string_view name);

}  // namespace outpost::store
