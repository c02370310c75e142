// The SQLite catalog (data_dir/catalog.db, WAL, synchronous=FULL): streams, segments,
// cursors, checkpoints, meta, dropped ranges. Schema in store/FORMAT.md. Internal to store/.
//
// Invariant: catalog.db, once it exists, holds every table. It is built complete under
// catalog.db.tmp and renamed into place (then the directory is fsync'd), so a process killed
// at any instant leaves either no catalog.db or a whole one (LevelDB SetCurrentFile).
//
// Thread-safety: all methods lock one mutex; a Catalog may be shared by the flusher and user
// threads. The segment files are the truth; the catalog is reconciled with them at open.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/log.h"

struct sqlite3;
struct sqlite3_stmt;

namespace outpost::store {

class Env;

struct SqliteDeleter {
  void operator()(sqlite3* db) const;
};
struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const;
};
using SqlitePtr = std::unique_ptr<sqlite3, SqliteDeleter>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

struct StreamRow {
  std::int64_t id = 0;
  std::string name;
  StreamOptions options;
};

struct SegmentRow {
  std::int64_t stream_id = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;  // first_seq - 1 when empty
  std::uint64_t records = 0;
  std::uint64_t stored_bytes = 0;
  std::uint64_t raw_bytes = 0;
  std::int64_t min_event_ms = 0, max_event_ms = 0, min_ingest_ms = 0, max_ingest_ms = 0;
  bool sealed = false;
  std::int64_t sealed_clock_ms = 0;
  std::string state = "live";  // "live" or "deleting"
};

struct CursorRow {
  std::int64_t stream_id = 0;
  std::string name;
  std::uint64_t seq = 0;
};

class Catalog {
 public:
  // Read-write: opens the catalog, creating it (atomically, see above) if missing. An
  // existing catalog that lacks tables (one created table by table, cut short) gets them in one
  // transaction, and a line saying so is appended to *repairs.
  // Read-only: never writes. Status::not_found if there is no catalog file; any other error
  // (not a database, tables missing, a hot rollback journal it may not roll back) means the
  // catalog cannot be used as it is, and the caller reads the segment files instead.
  // env: used for the creation's file operations (nullptr = Env::posix()); SQLite does its own
  // I/O through its VFS.
  static Result<std::unique_ptr<Catalog>> open(const std::filesystem::path& path, bool read_only,
                                               Env* env = nullptr,
                                               std::vector<std::string>* repairs = nullptr);

  Result<std::vector<StreamRow>> streams();
  Result<std::int64_t> upsert_stream(const std::string& name, const StreamOptions& o);
  Result<std::vector<SegmentRow>> segments(std::int64_t stream_id);
  Status upsert_segment(const SegmentRow& r);
  Status delete_segment(std::int64_t stream_id, std::uint64_t first_seq);
  // In one transaction: marks the segments "deleting" and records the dropped ranges.
  Status mark_deleting(const std::vector<SegmentRow>& rows, const std::vector<DroppedRange>& dropped);
  Status add_dropped(const DroppedRange& d);
  Result<std::vector<DroppedRange>> dropped(std::int64_t after_id, const std::string* stream);

  Result<std::vector<CursorRow>> cursors(std::int64_t stream_id);
  Status put_cursor(std::int64_t stream_id, const std::string& name, std::uint64_t seq, bool only_if_exists);
  Status delete_cursor(std::int64_t stream_id, const std::string& name);
  Result<std::optional<std::uint64_t>> cursor(std::int64_t stream_id, const std::string& name);

  Status save_checkpoint(const Checkpoint& c, std::int64_t wall_ms);
  Result<std::optional<Checkpoint>> load_checkpoint(const std::string& query);

  Status set_meta(const std::string& key, const std::string& value);
  Result<std::optional<std::string>> meta(const std::string& key);

 private:
  explicit Catalog(SqlitePtr db, bool read_only) : db_(std::move(db)), read_only_(read_only) {}
  // Builds a complete catalog under a temporary name and renames it to path.
  static Status create(const std::filesystem::path& path, Env* env);
  Status exec(const char* sql);
  Result<StmtPtr> prepare(const char* sql);
  Status error(const char* what);
  Status check_writable();

  std::mutex mu_;
  SqlitePtr db_;
  bool read_only_;
};

}  // namespace outpost::store
