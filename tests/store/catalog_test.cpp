// The catalog after a kill -9 at any instant of a data dir's life (issue 14, part 3), made
// deterministic: each case builds, by hand, one state a killed writer can leave behind (or an
// older version could) and checks that a read-only opener reads the segment files' records
// without needing write access or reporting an error, and that the next writer repairs it.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <string>
#include <vector>

#include "store/catalog.h"
#include "store/filename.h"
#include "tests/store/test_util.h"

using namespace outpost;
using namespace outpost::store;
using namespace outpost::store::test;

namespace {

Options read_only(const std::filesystem::path& dir) {
  Options o = small_options(dir);
  o.read_only = true;
  return o;
}

// Writes records 1..n to `stream` (payload sensor_line(seq - 1)) and closes the log.
void fill(const std::filesystem::path& dir, const std::string& stream, std::uint64_t n) {
  auto log = must_open(small_options(dir));
  auto id = log->open_stream(stream);
  REQUIRE(id.is_ok());
  const std::uint64_t before = log->last_seq(*id);
  for (std::uint64_t seq = before + 1; seq <= before + n; ++seq) {
    std::string p = sensor_line(seq - 1);
    AppendRecord r;
    r.payload = p;
    REQUIRE(log->append(*id, r).is_ok());
  }
  REQUIRE(log->flush().is_ok());
}

// Every record of `stream`, checked to be 1..n with the payloads fill() wrote.
void check_records(Log& log, const std::string& stream, std::uint64_t n) {
  auto id = log.find_stream(stream);
  REQUIRE_MESSAGE(id.is_ok(), id.status().to_string());
  auto all = read_all(log, *id);
  CHECK(all.damage.empty());
  REQUIRE(all.records.size() == n);
  for (std::uint64_t i = 0; i < n; ++i) {
    CHECK(all.records[i].seq == i + 1);
    CHECK(all.records[i].payload == sensor_line(i));
  }
}

void remove_catalog(const std::filesystem::path& dir) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::filesystem::remove(dir / (std::string("catalog.db") + suffix));
  }
}

void sql(const std::filesystem::path& db_path, const std::string& text) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  char* msg = nullptr;
  int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &msg);
  std::string m = msg ? msg : "";
  sqlite3_free(msg);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, m);
}

std::vector<std::string> tables(const std::filesystem::path& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1, &s,
                             nullptr) == SQLITE_OK);
  std::vector<std::string> out;
  while (sqlite3_step(s) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

const std::vector<std::string> kAllTables = {"checkpoints", "cursors", "dropped_ranges", "meta", "segments",
                                             "sqlite_sequence", "streams"};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

}  // namespace

TEST_CASE("a new catalog appears whole: every table, WAL mode, no temporary file left") {
  TempDir dir;
  fill(dir.path(), "s", 10);
  CHECK(tables(dir.path() / "catalog.db") == kAllTables);
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    CHECK_FALSE(std::filesystem::exists(dir.path() / (std::string("catalog.db.tmp") + suffix)));
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((dir.path() / "catalog.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))) == "wal");
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST_CASE("leftovers of a catalog creation cut short are ignored by readers and replaced by the next writer") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "streams");
  write_file(dir.path() / "catalog.db.tmp", "SQLite format 3");  // torn mid-creation
  write_file(dir.path() / "catalog.db.tmp-journal", std::string(512, '\x7f'));
  // A -wal or -journal without its catalog.db belongs to no database; applied to a new
  // catalog it would corrupt it.
  write_file(dir.path() / "catalog.db-wal", std::string(4096, '\x5a'));
  write_file(dir.path() / "catalog.db-journal", std::string(4096, '\x5a'));
  {
    RecoveryReport report;
    auto log = must_open(read_only(dir.path()), &report);
    CHECK(log->stream_names().empty());
    CHECK(report.catalog_repairs.empty());
    auto damage = log->verify();
    REQUIRE(damage.is_ok());
    CHECK(damage->empty());
  }
  fill(dir.path(), "s", 100);
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    CHECK_FALSE(std::filesystem::exists(dir.path() / (std::string("catalog.db.tmp") + suffix)));
  }
  CHECK_FALSE(std::filesystem::exists(dir.path() / "catalog.db-journal"));
  CHECK(tables(dir.path() / "catalog.db") == kAllTables);
  auto log = must_open(read_only(dir.path()));
  check_records(*log, "s", 100);
}

TEST_CASE("a catalog without its tables, empty, or not a database: readers read the files, writers repair it") {
  // What the catalog looked like when a writer was killed while creating it one statement at
  // a time: a zero-length file, a header-only WAL database, a schema cut off after two tables.
  // Plus a file that is not a database at all, which only readers can do without.
  const std::vector<std::pair<std::string, std::string>> variants = {
      {"zero-length", ""},
      {"no tables", "PRAGMA journal_mode=WAL; PRAGMA user_version=0;"},
      {"two tables", "PRAGMA journal_mode=WAL; CREATE TABLE streams(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
                     "retention_ms INTEGER NOT NULL DEFAULT 0, retention_bytes INTEGER NOT NULL DEFAULT 0);"
                     "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"},
      {"not a database", ""},
  };
  for (const auto& [name, text] : variants) {
    CAPTURE(name);
    TempDir dir;
    fill(dir.path(), "s", 20000);  // several segments
    REQUIRE(segment_files(dir.path(), "s").size() >= 2);
    remove_catalog(dir.path());
    if (name == "not a database") {
      write_file(dir.path() / "catalog.db", std::string(8192, 'x'));
    } else {
      write_file(dir.path() / "catalog.db", "");
      if (!text.empty()) sql(dir.path() / "catalog.db", text);
    }
    {
      RecoveryReport report;
      auto log = must_open(read_only(dir.path()), &report);
      CAPTURE(joined(report.catalog_repairs));
      REQUIRE(report.catalog_repairs.size() == 1);
      CHECK(report.catalog_repairs[0].find("read from the segment files") != std::string::npos);
      CHECK(report.corrupt_blocks.empty());
      check_records(*log, "s", 20000);
      auto damage = log->verify();
      REQUIRE(damage.is_ok());
      CHECK(damage->empty());
      auto st = log->stats(*log->find_stream("s"));
      REQUIRE(st.is_ok());
      CHECK(st->records == 20000);
      CHECK(st->last_seq == 20000);
    }
    if (name == "not a database") {
      CHECK_FALSE(Log::open(small_options(dir.path())).is_ok());  // the writer does not guess
      continue;
    }
    {
      RecoveryReport report;
      auto log = must_open(small_options(dir.path()), &report);
      CAPTURE(joined(report.catalog_repairs));
      REQUIRE_FALSE(report.catalog_repairs.empty());
      CHECK(report.catalog_repairs[0].find("lacked table") != std::string::npos);
      check_records(*log, "s", 20000);
    }
    CHECK(tables(dir.path() / "catalog.db") == kAllTables);
    fill(dir.path(), "s", 10);
    RecoveryReport again;
    auto log = must_open(read_only(dir.path()), &again);
    CHECK(again.catalog_repairs.empty());
    check_records(*log, "s", 20010);
  }
}

TEST_CASE("a hot rollback journal beside the catalog is no error for a reader; the next writer rolls it back") {
  TempDir dir, crashed;
  fill(dir.path(), "s", 500);
  // The image of a process killed inside a rollback-journal write transaction whose dirty
  // pages already spilled into catalog.db: copy the directory while the transaction is open.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((dir.path() / "catalog.db").c_str(), &db) == SQLITE_OK);
  auto exec = [&](const char* text) {
    char* msg = nullptr;
    int rc = sqlite3_exec(db, text, nullptr, nullptr, &msg);
    std::string m = msg ? msg : "";
    sqlite3_free(msg);
    REQUIRE_MESSAGE(rc == SQLITE_OK, m);
  };
  exec("PRAGMA journal_mode=DELETE; PRAGMA cache_size=2; BEGIN IMMEDIATE;");
  exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
       "INSERT INTO meta(key, value) SELECT 'junk' || i, printf('%.1000c', 'j') FROM n;");
  std::filesystem::copy(dir.path(), crashed.path(),
                        std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  exec("ROLLBACK;");
  sqlite3_close(db);
  REQUIRE(std::filesystem::exists(crashed.path() / "catalog.db-journal"));
  REQUIRE(std::filesystem::file_size(crashed.path() / "catalog.db-journal") > 0);
  {
    RecoveryReport report;
    auto log = must_open(read_only(crashed.path()), &report);
    CAPTURE(joined(report.catalog_repairs));
    check_records(*log, "s", 500);
    auto damage = log->verify();
    REQUIRE(damage.is_ok());
    CHECK(damage->empty());
    // The reader left the journal alone: rolling back is the writer's job.
    CHECK(std::filesystem::exists(crashed.path() / "catalog.db-journal"));
  }
  {
    auto log = must_open(small_options(crashed.path()));
    auto junk = log->meta("junk1");
    REQUIRE(junk.is_ok());
    CHECK_FALSE(junk->has_value());  // rolled back
    check_records(*log, "s", 500);
  }
  CHECK_FALSE(std::filesystem::exists(crashed.path() / "catalog.db-journal"));
  fill(crashed.path(), "s", 5);
  RecoveryReport again;
  auto log = must_open(read_only(crashed.path()), &again);
  CHECK(again.catalog_repairs.empty());
  check_records(*log, "s", 505);
}

TEST_CASE("no catalog at all: an empty dir reads as an empty log, segment files are read without one") {
  TempDir dir;
  {
    auto log = must_open(read_only(dir.path()));  // a data dir nothing was written to yet
    CHECK(log->stream_names().empty());
    CHECK(log->verify()->empty());
  }
  std::filesystem::create_directories(dir.path() / "streams");
  {
    RecoveryReport report;
    auto log = must_open(read_only(dir.path()), &report);
    CHECK(log->stream_names().empty());
    CHECK(report.catalog_repairs.empty());
  }
  fill(dir.path(), "s", 20000);
  remove_catalog(dir.path());
  RecoveryReport report;
  auto log = must_open(read_only(dir.path()), &report);
  REQUIRE(report.catalog_repairs.size() == 1);
  CHECK(report.catalog_repairs[0].find("no catalog") != std::string::npos);
  check_records(*log, "s", 20000);
  CHECK(log->verify()->empty());
  CHECK(log->dropped_ranges().empty());
  auto cursor = log->cursor(*log->find_stream("s"), "c");
  REQUIRE(cursor.is_ok());
  CHECK_FALSE(cursor->has_value());
}

TEST_CASE("a stream with no directory or a torn first segment yet reads as an empty stream") {
  TempDir dir;
  fill(dir.path(), "s", 10);
  // "u": the catalog row is committed, the writer died before making the directory.
  {
    auto cat = Catalog::open(dir.path() / "catalog.db", false);
    REQUIRE(cat.is_ok());
    REQUIRE((*cat)->upsert_stream("u", {}).is_ok());
  }
  // "t": the writer died between creating the first segment file and writing its header.
  {
    auto cat = Catalog::open(dir.path() / "catalog.db", false);
    REQUIRE((*cat)->upsert_stream("t", {}).is_ok());
  }
  std::filesystem::create_directories(dir.path() / "streams" / "t");
  write_file(dir.path() / "streams" / "t" / segment_file_name(1), "");
  {
    RecoveryReport report;
    auto log = must_open(read_only(dir.path()), &report);
    CHECK(report.corrupt_blocks.empty());
    CHECK(report.catalog_repairs.empty());
    for (const char* name : {"t", "u"}) {
      CAPTURE(name);
      auto id = log->find_stream(name);
      REQUIRE(id.is_ok());
      CHECK(read_all(*log, *id).records.empty());
      auto st = log->stats(*id);
      REQUIRE(st.is_ok());
      CHECK(st->records == 0);
    }
    check_records(*log, "s", 10);
    auto damage = log->verify();
    REQUIRE(damage.is_ok());
    CHECK(damage->empty());
  }
  fill(dir.path(), "t", 7);
  fill(dir.path(), "u", 8);
  auto log = must_open(read_only(dir.path()));
  auto t = read_all(*log, *log->find_stream("t")).records;
  REQUIRE(t.size() == 7);
  CHECK(t.front().seq == 1);
  auto u = read_all(*log, *log->find_stream("u")).records;
  REQUIRE(u.size() == 8);
  CHECK(u.front().seq == 1);
}

TEST_CASE("a read-only open gives a stream the catalog does not know an id of its own") {
  TempDir dir;
  fill(dir.path(), "b", 20);  // catalog id 1
  fill(dir.path(), "a", 30);  // catalog id 2
  sql(dir.path() / "catalog.db", "DELETE FROM segments WHERE stream_id = 2; DELETE FROM streams WHERE name = 'a';");
  auto log = must_open(read_only(dir.path()));
  REQUIRE(log->stream_names().size() == 2);
  check_records(*log, "a", 30);
  check_records(*log, "b", 20);
}
