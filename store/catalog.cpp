#include "store/catalog.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "store/env.h"
#include "store/filename.h"

namespace outpost::store {

void SqliteDeleter::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void StmtDeleter::operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }

namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS streams(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  retention_ms INTEGER NOT NULL DEFAULT 0,
  retention_bytes INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS segments(
  stream_id INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  records INTEGER NOT NULL,
  stored_bytes INTEGER NOT NULL,
  raw_bytes INTEGER NOT NULL,
  min_event_ms INTEGER NOT NULL, max_event_ms INTEGER NOT NULL,
  min_ingest_ms INTEGER NOT NULL, max_ingest_ms INTEGER NOT NULL,
  sealed INTEGER NOT NULL,
  sealed_clock_ms INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'live',
  PRIMARY KEY(stream_id, first_seq));
CREATE TABLE IF NOT EXISTS cursors(
  stream_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(stream_id, name));
CREATE TABLE IF NOT EXISTS checkpoints(
  query TEXT PRIMARY KEY,
  input_stream TEXT NOT NULL, input_seq INTEGER NOT NULL,
  output_stream TEXT NOT NULL, output_seq INTEGER NOT NULL,
  watermark_ms INTEGER NOT NULL,
  state BLOB NOT NULL,
  saved_wall_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dropped_ranges(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL,
  first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  reason TEXT NOT NULL,
  wall_time_ms INTEGER NOT NULL);
)sql";

std::int64_t i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }
std::uint64_t u64(std::int64_t v) { return static_cast<std::uint64_t>(v); }
std::string text(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<std::size_t>(sqlite3_column_bytes(s, col)))
           : std::string();
}
void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

constexpr const char* kTables[] = {"streams", "segments", "cursors", "checkpoints", "meta", "dropped_ranges"};

// SQLite's companion files of a database: "-journal", "-wal", "-shm".
std::filesystem::path with_suffix(const std::filesystem::path& p, const char* suffix) {
  return std::filesystem::path(p.string() + suffix);
}

Status exec_on(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    std::string m = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    return Status::io_error("catalog: " + m);
  }
  return Status::ok();
}

Result<SqlitePtr> open_db(const std::string& name, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  SqlitePtr db(raw);
  if (rc != SQLITE_OK) {
    return Status::io_error(name + ": cannot open catalog: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), 5000);
  return db;
}

Status schema_error(sqlite3* db) {
  std::string why = sqlite3_errmsg(db);
  switch (sqlite3_extended_errcode(db)) {
    case SQLITE_READONLY_ROLLBACK:
      why = "a hot rollback journal is beside it (a writer was killed mid-transaction; the next writer rolls it back)";
      break;
    case SQLITE_READONLY_RECOVERY:
      why = "its -wal needs recovering, which takes write access (the next writer does it)";
      break;
    default:
      break;
  }
  return Status::io_error("catalog: reading the schema: " + why);
}

// The tables of kTables the database lacks. Reading the schema also makes SQLite look at the
// file: a file that is not a database, or a hot rollback journal a read-only connection may not
// roll back, fails here.
Result<std::vector<std::string>> missing_tables(sqlite3* db) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &raw, nullptr) != SQLITE_OK) {
    return schema_error(db);
  }
  StmtPtr s(raw);
  std::vector<std::string> have;
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) have.push_back(text(raw, 0));
  if (rc != SQLITE_DONE) return schema_error(db);
  std::vector<std::string> missing;
  for (const char* t : kTables) {
    if (std::find(have.begin(), have.end(), t) == have.end()) missing.emplace_back(t);
  }
  return missing;
}

// A file path as a SQLite URI path: '%', '?' and '#' would otherwise end or escape it.
std::string uri_path(const std::filesystem::path& p) {
  std::string out;
  for (char c : p.string()) {
    if (c == '%' || c == '?' || c == '#') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
  return out;
}

}  // namespace

Status Catalog::create(const std::filesystem::path& path, Env* env) {
  const auto tmp = temp_path(path);
  const auto where = [&](Status st) { return st.with_context("creating catalog " + path.string()); };
  // Leftovers of a creation cut short are rebuilt from scratch. Companions of a catalog.db that
  // no longer exists must go too: SQLite would apply a stale -wal or -journal to the new file.
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    OUTPOST_RETURN_IF_ERROR(where(env->remove_file(with_suffix(tmp, suffix))));
  }
  bool removed_stale = false;
  for (const char* suffix : {"-journal", "-wal", "-shm"}) {
    const auto p = with_suffix(path, suffix);
    if (env->exists(p)) {
      OUTPOST_RETURN_IF_ERROR(where(env->remove_file(p)));
      removed_stale = true;
    }
  }
  if (removed_stale) OUTPOST_RETURN_IF_ERROR(where(env->sync_dir(path.parent_path())));
  {
    auto db = open_db(tmp.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!db) return where(db.status());
    // No journal and no syncs: until the rename nobody reads this file, and a crash before it
    // leaves a leftover the next creation removes. The schema and then the switch to WAL (a
    // header change) go straight into the main file; one fsync below makes it durable before
    // its name is.
    std::string sql = std::string("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN;") + kSchema +
                      "COMMIT; PRAGMA journal_mode=WAL;";
    OUTPOST_RETURN_IF_ERROR(where(exec_on(db->get(), sql.c_str())));
    if (sqlite3_close(db->release()) != SQLITE_OK) return where(Status::io_error("catalog: close failed"));
  }
  // Closing the last connection of a WAL database removes its (here empty) -wal and -shm.
  for (const char* suffix : {"-wal", "-shm"}) OUTPOST_RETURN_IF_ERROR(where(env->remove_file(with_suffix(tmp, suffix))));
  {
    auto f = env->open_appendable(tmp);
    if (!f) return where(f.status());
    OUTPOST_RETURN_IF_ERROR(where((*f)->sync()));
  }
  OUTPOST_RETURN_IF_ERROR(where(env->rename_file(tmp, path)));
  return where(env->sync_dir(path.parent_path()));
}

Result<std::unique_ptr<Catalog>> Catalog::open(const std::filesystem::path& path, bool read_only, Env* env,
                                               std::vector<std::string>* repairs) {
  if (env == nullptr) env = Env::posix();
  if (read_only) {
    if (!env->exists(path)) return Status::not_found(path.string() + ": no catalog");
    auto db = open_db(path.string(), SQLITE_OPEN_READONLY);
    Result<std::vector<std::string>> missing = db ? missing_tables(db->get()) : Result<std::vector<std::string>>(db.status());
    if (!missing && !env->exists(with_suffix(path, "-wal")) && !env->exists(with_suffix(path, "-journal"))) {
      // Without -wal and -journal no writer is running (a writer's connection keeps its -wal)
      // and the file alone is the catalog: read it as immutable, which needs no -shm (a reader
      // without write access to the directory cannot create one). A writer that starts later
      // is not seen by this connection; open() reads all it needs at once.
      auto imm = open_db("file:" + uri_path(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
      if (imm) {
        auto again = missing_tables(imm->get());
        if (again) {
          db = std::move(imm);
          missing = std::move(again);
        }
      }
    }
    if (!missing) return missing.status().with_context(path.string());
    if (!missing->empty()) {
      return Status::corruption(path.string() + ": catalog lacks table(s) " + join(*missing) +
                                " (its writer was killed while creating them; the next writer adds them)");
    }
    return std::unique_ptr<Catalog>(new Catalog(std::move(*db), true));
  }
  if (!env->exists(path)) OUTPOST_RETURN_IF_ERROR(create(path, env));
  auto db = open_db(path.string(), SQLITE_OPEN_READWRITE);
  if (!db) return db.status();
  std::unique_ptr<Catalog> c(new Catalog(std::move(*db), false));
  Status st = c->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  if (!st.is_ok()) return st.with_context(path.string());
  auto missing = missing_tables(c->db_.get());
  if (!missing) return missing.status().with_context(path.string());
  if (!missing->empty()) {
    st = c->exec((std::string("BEGIN IMMEDIATE;") + kSchema + "COMMIT;").c_str());
    if (!st.is_ok()) {
      (void)c->exec("ROLLBACK");
      return st.with_context(path.string());
    }
    if (repairs) {
      repairs->push_back("catalog " + path.string() + " lacked table(s) " + join(*missing) + ": created");
    }
  }
  return c;
}

Status Catalog::error(const char* what) {
  return Status::io_error(std::string("catalog: ") + what + ": " + sqlite3_errmsg(db_.get()));
}

Status Catalog::check_writable() {
  if (read_only_) return Status::invalid_argument("catalog opened read-only");
  return Status::ok();
}

Status Catalog::exec(const char* sql) { return exec_on(db_.get(), sql); }

Result<StmtPtr> Catalog::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql, -1, &s, nullptr) != SQLITE_OK) return error("prepare");
  return StmtPtr(s);
}

#define OUTPOST_PREPARE(var, sql)   \
  auto var##_r = prepare(sql);      \
  if (!var##_r) return var##_r.status(); \
  sqlite3_stmt* var = var##_r->get()

Result<std::vector<StreamRow>> Catalog::streams() {
  std::lock_guard lock(mu_);
  OUTPOST_PREPARE(s, "SELECT id, name, retention_ms, retention_bytes FROM streams ORDER BY id");
  std::vector<StreamRow> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    StreamRow r;
    r.id = sqlite3_column_int64(s, 0);
    r.name = text(s, 1);
    r.options.retention_ms = sqlite3_column_int64(s, 2);
    r.options.retention_bytes = u64(sqlite3_column_int64(s, 3));
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return error("list streams");
  return out;
}

Result<std::int64_t> Catalog::upsert_stream(const std::string& name, const StreamOptions& o) {
  std::lock_guard lock(mu_);
  OUTPOST_RETURN_IF_ERROR(check_writable());
  OUTPOST_PREPARE(s,
      "INSERT INTO streams(name, retention_ms, retention_bytes) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(name) DO UPDATE SET retention_ms = ?2, retention_bytes = ?3 RETURNING id");
  bind_text(s, 1, name);
  sqlite3_bind_int64(s, 2, o.retention_ms);
  sqlite3_bind_int64(s, 3, i64(o.retention_bytes));
  if (sqlite3_step(s) != SQLITE_ROW) return error("upsert stream");
  std::int64_t id = sqlite3_column_int64(s, 0);
  sqlite3_step(s);
  return id;
}

Result<std::vector<SegmentRow>> Catalog::segments(std::int64_t stream_id) {
  std::lock_guard lock(mu_);
  OUTPOST_PREPARE(s,
      "SELECT first_seq, last_seq, records, stored_bytes, raw_bytes, min_event_ms, max_event_ms, "
      "min_ingest_ms, max_ingest_ms, sealed, sealed_clock_ms, state FROM segments "
      "WHERE stream_id = ?1 ORDER BY first_seq");
  sqlite3_bind_int64(s, 1, stream_id);
  std::vector<SegmentRow> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    SegmentRow r;
    r.stream_id = stream_id;
    r.first_seq = u64(sqlite3_column_int64(s, 0));
    r.last_seq = u64(sqlite3_column_int64(s, 1));
    r.records = u64(sqlite3_column_int64(s, 2));
    r.stored_bytes = u64(sqlite3_column_int64(s, 3));
    r.raw_bytes = u64(sqlite3_column_int64(s, 4));
    r.min_event_ms = sqlite3_column_int64(s, 5);
    r.max_event_ms = sqlite3_column_int64(s, 6);
    r.min_ingest_ms = sqlite3_column_int64(s, 7);
    r.max_ingest_ms = sqlite3_column_int64(s, 8);
    r.sealed = sqlite3_column_int64(s, 9) != 0;
    r.sealed_clock_ms = sqlite3_column_int64(s, 10);
    r.state = text(s, 11);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return error("list segments");
  return out;
}

Status Catalog::upsert_segment(const SegmentRow& r) {
  std::lock_guard lock(mu_);
  OUTPOST_RETURN_IF_ERROR(check_writable());
  OUTPOST_PREPARE(s,
      "INSERT OR REPLACE INTO segments(stream_id, first_seq, last_seq, records, stored_bytes, "
      "raw_bytes, min_event_ms, max_event_ms, min_ingest_ms, max_ingest_ms, sealed, "
      "sealed_clock_ms, state) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)");
  sqlite3_bind_int64(s, 1, r.stream_id);
  sqlite3_bind_int64(s, 2, i64(r.first_seq));
  sqlite3_bind_int64(s, 3, i64(r.last_seq));
  sqlite3_bind_int64(s, 4, i64(r.records));
  sqlite3_bind_int64(s, 5, i64(r.stored_bytes));
  sqlite3_bind_int64(s, 6, i64(r.raw_bytes));
  sqlite3_bind_int64(s, 7, r.min_event_ms);
  sqlite3_bind_int64(s, 8, r.max_event_ms);
  sqlite3_bind_int64(s, 9, r.min_ingest_ms);
  sqlite3_bind_int64(s, 10, r.max_ingest_ms);
  sqlite3_bind_int64(s, 11, r.sealed ? 1 : 0);
  sqlite3_bind_int64(s, 12, r.sealed_clock_ms);
  bind_text(s, 13, r.state);
  if (sqlite3_step(s) != SQLITE_DONE) return error("upsert segment");
  return Status::ok();
}

Status Catalog::delete_segment(std::int64_t stream_id, std::uint64_t first_seq) {
  std::lock_guard lock(mu_);
  OUTPOST_RETURN_IF_ERROR(check_writable());
  OUTPOST_PREPARE(s, "DELETE FROM segments WHERE stream_id = ?1 AND first_seq = ?2");
  sqlite3_bind_int64(s, 1, stream_id);
  sqlite3_bind_int64(s, 2, i64(first_seq));
  if (sqlite3_step(s) != SQLITE_DONE) return error("delete segment");
  return Status::ok();
}

Status Catalog::mark_deleting(const std::vector<SegmentRow>& rows, const std::vector<DroppedRange>& dropped) {
  std::lock_guard lock(mu_);
  OUTPOST_RETURN_IF_ERROR(check_writable());
  auto upd = prepare("UPDATE segments SET state = 'deleting' WHERE stream_id = ?1 AND first_seq = ?2");
  if (!upd) return upd.status();
  auto ins = prepare("INSERT INTO dropped_ranges(stream, first_seq, last_seq, reason, wall_time_ms) "
                     "VALUES(?1, ?2, ?3, ?4, ?5)");
  if (!ins) return ins.status();
  // One transaction: the segments are forgotten and the losses recorded together, durably,
  // before any file is unlinked.
  OUTPOST_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
  auto fail = [&](const char* what) {
    Status st = error(what);
    (void)exec("ROLLBACK");
    return st;
  };
  for (const auto& r : rows) {
    sqlite3_stmt* s = upd->get();
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, r.stream_id);
    sqlite3_bind_int64(s, 2, i64(r.first_seq));
    if (sqlite3_step(s) != SQLITE_DONE) return fail("mark segment deleting");
  }
  for (const auto& d : dropped) {
    sqlite3_stmt* s = ins->get();
    sqlite3_reset(s);
    bind_text(s, 1, d.stream);
    sqlite3_bind_int64(s, 2, i64(d.first_seq));
    sqlite3_bind_int64(s, 3, i64(d.last_seq));
    bind_text(s, 4, d.reason);
    sqlite3_bind_int64(s, 5, d.wall_time_ms);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("record dropped range");
  }
  upd->reset();
  ins->reset();
  Status c = exec("COMMIT");
  if (!c.is_ok()) {
    (void)exec("ROLLBACK");
    return c;
  }
  return Status::ok();
}

Status Catalog::add_dropped(const DroppedRange& d) { return mark_deleting({}, {d}); }

Result<std::vector<DroppedRange>> Catalog::dropped(std::int64_t after_id, const std::string* stream) {
  std::lock_guard lock(mu_);
  OUTPOST_PREPARE(s,
      "SELECT id, stream, first_seq, last_seq, reason, wall_time_ms FROM dropped_ranges "
      "WHERE id > ?1 AND (?2 IS NULL OR stream = ?2) ORDER BY id");
  sqlite3_bind_int64(s, 1, after_id);
  if (stream) bind_text(s, 2, *stream);
  std::vector<DroppedRange> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    DroppedRange d;
    d.id = sqlite3_column_int64(s, 0);
    d.stream = text(s, 1);
    d.first_seq = u64(sqlite3_column_int64(s, 2));
    d.last_seq = u64(sqlite3_column_int64(s, 3));
    d.reason = text(s, 4);
    d.wall_time_ms = sqlite3_column_int64(s, 5);
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return error("list dropped ranges");
  return out;
}

Result<std::vector<CursorRow>> Catalog::cursors(std::int64_t stream_id) {
  std::lock_guard lock(mu_);
  OUTPOST_PREPARE(s, "SELECT name, seq FROM cursors WHERE stream_id = ?1");
  sqlite3_bind_int64(s, 1, stream_id);
  std::vector<CursorRow> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    out.push_back(CursorRow{stream_id, text(s, 0), u64(sqlite3_column_int64(s, 1))});
  }
  if (rc != SQLITE_DONE) return error("list cursors");
  return out;
}

Status Catalog::put_cursor(std::int64_t stream_id, const std::string& name, std::uint64_t seq, bool only_if_exists) {
  std::lock_guard lock(mu_);
  OUTPOST_RETURN_IF_ERROR(check_writable());
  const char* sql = only_if_exists
                        ? "UPDATE cursors SET seq = ?3 WHERE stream_id = ?1 AND name = ?2"
                        : "INSERT INTO cursors(stream_id, name, seq) VALUES(?1, ?2, ?3) "
                          "ON CONFLICT(stream_id, name) DO NOTHING";
  OUTPOST_PREPARE(s, sql);
  sqlite3_bind_int64(s, 1, stream_id);
  bind_text(s, 2, name);
  sqlite3_bind_int64(s, 3, i64(seq));
  if (sqlite3_step(s) != SQLITE_DONE) return error("store cursor");
  if (only_if_exists && sqlite3_changes(db_.get()) == 0) {
    return Status::not_found("cursor '" + name + "' is not registered");
  }
  return Status::ok();
}

Status Catalog::delete_cursor(std::int64_t stream_id, const std::string& name) {
  std::lock_guard lock(mu_);
  OUTPOST_RETURN_IF_ERROR(check_writable());
  OUTPOST_PREPARE(s, "DELETE FROM cursors WHERE stream_id = ?1 AND name = ?2");
  sqlite3_bind_int64(s, 1, stream_id);
  bind_text(s, 2, name);
  if (sqlite3_step(s) != SQLITE_DONE) return error("delete cursor");
  return Status::ok();
}

Result<std::optional<std::uint64_t>> Catalog::cursor(std::int64_t stream_id, const std::string& name) {
  std::lock_guard lock(mu_);
  OUTPOST_PREPARE(s, "SELECT seq FROM cursors WHERE stream_id = ?1 AND name = ?2");
  sqlite3_bind_int64(s, 1, stream_id);
  bind_text(s, 2, name);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return std::optional<std::uint64_t>(u64(sqlite3_column_int64(s, 0)));
  if (rc != SQLITE_DONE) return error("read cursor");
  return std::optional<std::uint64_t>();
}

Status Catalog::save_checkpoint(const Checkpoint& c, std::int64_t wall_ms) {
  std::lock_guard lock(mu_);
  OUTPOST_RETURN_IF_ERROR(check_writable());
  // One statement is one transaction: state, input and output sequences land together.
  OUTPOST_PREPARE(s,
      "INSERT OR REPLACE INTO checkpoints(query, input_stream, input_seq, output_stream, "
      "output_seq, watermark_ms, state, saved_wall_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
  bind_text(s, 1, c.query);
  bind_text(s, 2, c.input_stream);
  sqlite3_bind_int64(s, 3, i64(c.input_seq));
  bind_text(s, 4, c.output_stream);
  sqlite3_bind_int64(s, 5, i64(c.output_seq));
  sqlite3_bind_int64(s, 6, c.watermark_ms);
  sqlite3_bind_blob(s, 7, c.state.data(), static_cast<int>(c.state.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 8, wall_ms);
  if (sqlite3_step(s) != SQLITE_DONE) return error("save checkpoint");
  return Status::ok();
}

Result<std::optional<Checkpoint>> Catalog::load_checkpoint(const std::string& query) {
  std::lock_guard lock(mu_);
  OUTPOST_PREPARE(s,
      "SELECT input_stream, input_seq, output_stream, output_seq, watermark_ms, state "
      "FROM checkpoints WHERE query = ?1");
  bind_text(s, 1, query);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<Checkpoint>();
  if (rc != SQLITE_ROW) return error("load checkpoint");
  Checkpoint c;
  c.query = query;
  c.input_stream = text(s, 0);
  c.input_seq = u64(sqlite3_column_int64(s, 1));
  c.output_stream = text(s, 2);
  c.output_seq = u64(sqlite3_column_int64(s, 3));
  c.watermark_ms = sqlite3_column_int64(s, 4);
  const void* blob = sqlite3_column_blob(s, 5);
  c.state.assign(static_cast<const char*>(blob), static_cast<std::size_t>(sqlite3_column_bytes(s, 5)));
  return std::optional<Checkpoint>(std::move(c));
}

Status Catalog::set_meta(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  OUTPOST_RETURN_IF_ERROR(check_writable());
  OUTPOST_PREPARE(s, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)");
  bind_text(s, 1, key);
  bind_text(s, 2, value);
  if (sqlite3_step(s) != SQLITE_DONE) return error("set meta");
  return Status::ok();
}

Result<std::optional<std::string>> Catalog::meta(const std::string& key) {
  std::lock_guard lock(mu_);
  OUTPOST_PREPARE(s, "SELECT value FROM meta WHERE key = ?1");
  bind_text(s, 1, key);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return std::optional<std::string>(text(s, 0));
  if (rc != SQLITE_DONE) return error("read meta");
  return std::optional<std::string>();
}

}  // namespace outpost::store
