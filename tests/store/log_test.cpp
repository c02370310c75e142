// Behaviour of the Log through its public API: appends, reads, follow, rolls, reopen,
// cursors, checkpoints, meta, retention and quota, locking, read-only access, the intake
// journal after kill -9, catalog repair, and I/O errors reported as Status.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "store/catalog.h"
#include "store/clock.h"
#include "store/fault_injection_env.h"
#include "store/filename.h"
#include "tests/store/test_util.h"

using namespace outpost;
using namespace outpost::store;
using namespace outpost::store::test;

namespace {

StreamId must_stream(Log& log, std::string_view name, StreamOptions so = {}) {
  auto id = log.open_stream(name, so);
  REQUIRE_MESSAGE(id.is_ok(), id.status().to_string());
  return *id;
}

void append_n(Log& log, StreamId id, std::uint64_t first_index, std::uint64_t n,
              AppendDurability d = AppendDurability::kBuffered) {
  for (std::uint64_t i = first_index; i < first_index + n; ++i) {
    std::string p = sensor_line(i);
    AppendRecord r;
    r.payload = p;
    r.event_time_ms = static_cast<std::int64_t>(1'700'000'000'000 + i * 10);
    auto s = log.append(id, r, d);
    REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
  }
}

template <typename F>
bool eventually(F f, int ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return f();
}

}  // namespace

TEST_CASE("appended records read back with dense sequences from 1, keys and times intact") {
  TempDir dir;
  auto log = must_open(small_options(dir.path()));
  auto id = must_stream(*log, "raw");
  std::vector<std::pair<StreamId, std::uint64_t>> notified;
  std::mutex mu;
  log->set_durable_listener([&](StreamId s, std::uint64_t seq) {
    std::lock_guard lock(mu);
    notified.emplace_back(s, seq);
  });
  for (int i = 0; i < 1000; ++i) {
    std::string p = sensor_line(static_cast<std::uint64_t>(i));
    std::string k = "k" + std::to_string(i % 7);
    AppendRecord r;
    r.payload = p;
    if (i % 2) r.key = k;
    if (i % 3) r.event_time_ms = 5000 + i;
    auto seq = log->append(id, r);
    REQUIRE(seq.is_ok());
    CHECK(*seq == static_cast<std::uint64_t>(i + 1));
  }
  CHECK(log->last_seq(id) == 1000);
  REQUIRE(log->flush().is_ok());
  CHECK(log->durable_seq(id) == 1000);
  {
    std::lock_guard lock(mu);
    REQUIRE_FALSE(notified.empty());
    CHECK(notified.back() == std::make_pair(id, std::uint64_t{1000}));
  }
  auto all = read_all(*log, id);
  CHECK(all.damage.empty());
  REQUIRE(all.records.size() == 1000);
  std::int64_t prev_ingest = 0;
  for (int i = 0; i < 1000; ++i) {
    const Rec& r = all.records[static_cast<std::size_t>(i)];
    CHECK(r.seq == static_cast<std::uint64_t>(i + 1));
    CHECK(r.payload == sensor_line(static_cast<std::uint64_t>(i)));
    CHECK(r.has_key == (i % 2 == 1));
    if (i % 2) CHECK(r.key == "k" + std::to_string(i % 7));
    CHECK(r.event == (i % 3 ? 5000 + i : r.ingest));
    CHECK(r.ingest >= prev_ingest);
    prev_ingest = r.ingest;
  }
  auto st = log->stats(id);
  REQUIRE(st.is_ok());
  CHECK(st->records == 1000);
  CHECK(st->first_seq == 1);
  CHECK(st->last_seq == 1000);
  CHECK(st->durable_seq == 1000);
  CHECK(st->stored_bytes < st->raw_bytes);
  CHECK(log->total_stored_bytes() >= st->stored_bytes);
  auto v = log->verify();
  REQUIRE(v.is_ok());
  CHECK(v->empty());
}

TEST_CASE("bad stream names and oversized records are refused with invalid_argument") {
  TempDir dir;
  auto log = must_open(small_options(dir.path()));
  CHECK(log->open_stream("a/b").status().code() == Status::Code::kInvalidArgument);
  CHECK(log->open_stream("").status().code() == Status::Code::kInvalidArgument);
  auto id = must_stream(*log, "s");
  std::string huge(9u << 20, 'x');
  AppendRecord r;
  r.payload = huge;
  CHECK(log->append(id, r).status().code() == Status::Code::kInvalidArgument);
  CHECK(log->append(999, AppendRecord{}).status().code() == Status::Code::kNotFound);
  // A record larger than a block still fits in its own block.
  std::string big(100'000, 'y');
  r.payload = big;
  REQUIRE(log->append(id, r).is_ok());
  REQUIRE(log->flush().is_ok());
  auto all = read_all(*log, id);
  REQUIRE(all.records.size() == 1);
  CHECK(all.records[0].payload == big);
}

TEST_CASE("readers see only durable records; flush makes them visible") {
  TempDir dir;
  auto o = small_options(dir.path());
  o.flush_interval_ms = 3'600'000;
  auto log = must_open(o);
  auto id = must_stream(*log, "s");
  append_n(*log, id, 0, 10);
  CHECK(log->durable_seq(id) == 0);
  CHECK(read_all(*log, id).records.empty());
  REQUIRE(log->flush().is_ok());
  CHECK(read_all(*log, id).records.size() == 10);
}

TEST_CASE("reads by sequence range and by event-time range return exactly the matching records") {
  TempDir dir;
  auto log = must_open(small_options(dir.path()));
  auto id = must_stream(*log, "s");
  for (int i = 0; i < 3000; ++i) {
    std::string p = sensor_line(static_cast<std::uint64_t>(i));
    AppendRecord r;
    r.payload = p;
    r.event_time_ms = 100'000 + i * 10;  // seq s has event time 100000 + (s-1)*10
    REQUIRE(log->append(id, r).is_ok());
  }
  REQUIRE(log->flush().is_ok());
  ReadOptions o;
  o.from_seq = 1234;
  o.to_seq = 2345;
  auto got = read_all(*log, id, o);
  REQUIRE(got.records.size() == 2345 - 1234 + 1);
  CHECK(got.records.front().seq == 1234);
  CHECK(got.records.back().seq == 2345);
  ReadOptions t;
  t.since_ms = 100'000 + 500 * 10;
  t.until_ms = 100'000 + 700 * 10;  // exclusive
  got = read_all(*log, id, t);
  REQUIRE(got.records.size() == 200);
  CHECK(got.records.front().seq == 501);
  CHECK(got.records.back().seq == 700);
  ReadOptions none;
  none.since_ms = 0;
  none.until_ms = 1000;
  CHECK(read_all(*log, id, none).records.empty());
  ReadOptions beyond;
  beyond.from_seq = 5000;
  CHECK(read_all(*log, id, beyond).records.empty());
}

TEST_CASE("segments roll at segment_bytes into a new empty segment named by the next sequence") {
  TempDir dir;
  auto log = must_open(small_options(dir.path()));
  auto id = must_stream(*log, "s");
  append_n(*log, id, 0, 20000);
  REQUIRE(log->flush().is_ok());
  auto files = segment_files(dir.path(), "s");
  REQUIRE(files.size() >= 3);
  for (std::size_t i = 1; i < files.size(); ++i) {
    auto p = parse_file_name(files[i].filename().string());
    REQUIRE(p);
    CHECK(p->first_seq > 1);
  }
  auto st = log->stats(id);
  REQUIRE(st.is_ok());
  CHECK(st->segments == files.size());
  CHECK(st->records == 20000);
  auto all = read_all(*log, id);
  REQUIRE(all.records.size() == 20000);
  for (std::size_t i = 0; i < all.records.size(); ++i) REQUIRE(all.records[i].seq == i + 1);
}

TEST_CASE("sequences stay dense across reopen and ingest time never goes back when the wall clock does") {
  TempDir dir;
  ManualClock clock;
  auto o = small_options(dir.path());
  o.clock = &clock;
  {
    auto log = must_open(o);
    auto id = must_stream(*log, "s");
    append_n(*log, id, 0, 500);
  }  // destructor flushes
  clock.set_wall_ms(86'400'000);  // the board rebooted without an RTC: 1970
  {
    auto log = must_open(o);
    auto id = log->find_stream("s");
    REQUIRE(id.is_ok());
    CHECK(log->last_seq(*id) == 500);
    CHECK(log->durable_seq(*id) == 500);
    append_n(*log, *id, 500, 500);
    REQUIRE(log->flush().is_ok());
    auto all = read_all(*log, *id);
    REQUIRE(all.records.size() == 1000);
    for (std::size_t i = 0; i < 1000; ++i) CHECK(all.records[i].seq == i + 1);
    CHECK(all.records[999].ingest >= all.records[499].ingest);
  }
}

TEST_CASE("a follow reader wakes up after a group commit and sees the new records") {
  TempDir dir;
  auto log = must_open(small_options(dir.path()));
  auto id = must_stream(*log, "s");
  append_n(*log, id, 0, 5);
  REQUIRE(log->flush().is_ok());
  ReadOptions o;
  o.follow = true;
  auto r = log->read(id, o);
  REQUIRE(r.is_ok());
  RecordView v;
  std::vector<std::uint64_t> seen;
  while ((*r)->next(&v) == Reader::Next::kRecord) seen.push_back(v.seq);
  CHECK(seen.size() == 5);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    append_n(*log, id, 5, 7);
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (seen.size() < 12 && std::chrono::steady_clock::now() < deadline) {
    if ((*r)->wait(1000)) {
      while ((*r)->next(&v) == Reader::Next::kRecord) seen.push_back(v.seq);
    }
  }
  writer.join();
  REQUIRE(seen.size() == 12);
  for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i + 1);
}

TEST_CASE("cursors register, commit, read back and survive reopen; unknown cursors are not found") {
  TempDir dir;
  auto o = small_options(dir.path());
  {
    auto log = must_open(o);
    auto id = must_stream(*log, "s");
    CHECK_FALSE(log->cursor(id, "sync:central")->has_value());
    CHECK(log->commit_cursor(id, "sync:central", 5).code() == Status::Code::kNotFound);
    REQUIRE(log->register_cursor(id, "sync:central").is_ok());
    CHECK(**log->cursor(id, "sync:central") == 0);
    REQUIRE(log->commit_cursor(id, "sync:central", 42).is_ok());
    REQUIRE(log->register_cursor(id, "sync:central").is_ok());  // again: keeps its position
    CHECK(**log->cursor(id, "sync:central") == 42);
    REQUIRE(log->register_cursor(id, "query:q").is_ok());
    REQUIRE(log->unregister_cursor(id, "query:q").is_ok());
    CHECK_FALSE(log->cursor(id, "query:q")->has_value());
  }
  auto log = must_open(o);
  auto id = *log->find_stream("s");
  CHECK(**log->cursor(id, "sync:central") == 42);
}

TEST_CASE("checkpoints save input, output, watermark and state together and load after reopen") {
  TempDir dir;
  auto o = small_options(dir.path());
  Checkpoint c;
  c.query = "per_minute";
  c.input_stream = "raw";
  c.input_seq = 1000;
  c.output_stream = "per_minute";
  c.output_seq = 17;
  c.watermark_ms = 1'700'000'060'000;
  c.state = std::string("\0binary\xff state", 14);
  {
    auto log = must_open(o);
    CHECK_FALSE(log->load_checkpoint("per_minute")->has_value());
    REQUIRE(log->save_checkpoint(c).is_ok());
    c.input_seq = 2000;
    c.output_seq = 30;
    REQUIRE(log->save_checkpoint(c).is_ok());  // replaces as a whole
  }
  auto log = must_open(o);
  auto got = log->load_checkpoint("per_minute");
  REQUIRE(got.is_ok());
  REQUIRE(got->has_value());
  const Checkpoint& g = **got;
  CHECK(g.input_stream == "raw");
  CHECK(g.input_seq == 2000);
  CHECK(g.output_stream == "per_minute");
  CHECK(g.output_seq == 30);
  CHECK(g.watermark_ms == c.watermark_ms);
  CHECK(g.state == c.state);
}

TEST_CASE("meta values persist across reopen") {
  TempDir dir;
  auto o = small_options(dir.path());
  {
    auto log = must_open(o);
    REQUIRE(log->set_meta("sync:gaps_reported:central", "7").is_ok());
  }
  auto log = must_open(o);
  CHECK(**log->meta("sync:gaps_reported:central") == "7");
  CHECK_FALSE(log->meta("nope")->has_value());
}

TEST_CASE("a second read-write open of the same directory is busy") {
  TempDir dir;
  auto log = must_open(small_options(dir.path()));
  auto second = Log::open(small_options(dir.path()));
  REQUIRE_FALSE(second.is_ok());
  CHECK(second.status().code() == Status::Code::kBusy);
  CHECK(second.status().message().find("LOCK") != std::string::npos);
}

TEST_CASE("age retention runs on the persisted log clock, not on wall time") {
  TempDir dir;
  ManualClock clock;
  auto o = small_options(dir.path());
  o.clock = &clock;
  StreamOptions so;
  so.retention_ms = 10'000;
  {
    auto log = must_open(o);
    auto id = must_stream(*log, "s", so);
    append_n(*log, id, 0, 20000);
    REQUIRE(log->flush().is_ok());
    const auto segs = log->stats(id)->segments;
    REQUIRE(segs >= 3);
    clock.advance_wall_ms(365LL * 86'400'000);  // NTP jumps a year forward
    REQUIRE(log->enforce_retention().is_ok());
    CHECK(log->stats(id)->segments == segs);
    clock.set_wall_ms(0);  // and back
    clock.advance_steady_ms(6'000);
    REQUIRE(log->enforce_retention().is_ok());
    CHECK(log->stats(id)->segments == segs);
    CHECK(log->log_clock_ms() >= 6'000);
  }
  // The clock persists: 6 s before the restart + 5 s after = past the 10 s retention.
  ManualClock clock2(0, 500);  // steady time restarts after a reboot
  o.clock = &clock2;
  auto log = must_open(o);
  auto id = *log->find_stream("s");
  CHECK(log->log_clock_ms() >= 6'000);
  clock2.advance_steady_ms(5'000);
  REQUIRE(log->enforce_retention().is_ok());
  auto st = log->stats(id);
  CHECK(st->segments == 1);  // only the active segment is left
  CHECK(st->last_seq == 20000);
  CHECK(log->dropped_ranges().empty());  // ordinary retention is not a loss
  // Sequences continue densely although every record file is gone.
  append_n(*log, id, 20000, 3);
  REQUIRE(log->flush().is_ok());
  auto all = read_all(*log, id);
  REQUIRE_FALSE(all.records.empty());
  CHECK(all.records.back().seq == 20003);
  log.reset();
  auto again = must_open(o);
  CHECK(again->last_seq(*again->find_stream("s")) == 20003);
}

TEST_CASE("the log clock is saved after 5, 10, 20 min of running time then every 10 min: a power cut loses at most that") {
  // Each save is a catalog transaction (WAL frames + fdatasync + -shm pages): an SD card pays
  // for every one, so the clock is not saved every few seconds (issue 7). What a power cut
  // would leave is what a read-only open beside the running log sees: the last saved value.
  TempDir dir;
  ManualClock clock(1'700'000'000'000, 1'000);
  auto o = small_options(dir.path());
  o.clock = &clock;
  auto log = must_open(o);
  auto id = must_stream(*log, "s");
  auto saved = [&] {
    ManualClock still(1'700'000'000'000, 0);  // a reader whose steady time does not move
    auto ro_options = o;
    ro_options.read_only = true;
    ro_options.clock = &still;
    auto ro = must_open(ro_options);
    return ro->log_clock_ms();
  };
  // Group commits in between never save the clock before it is due.
  auto commit_at = [&](std::int64_t running_ms) {
    clock.advance_steady_ms(running_ms + 1'000 - clock.steady_ms());
    append_n(*log, id, 0, 3);
    REQUIRE(log->flush().is_ok());
  };
  CHECK(saved() == 0);  // saved at open
  commit_at(30'000);
  CHECK(saved() == 0);
  commit_at(299'000);
  CHECK(saved() == 0);
  commit_at(301'000);
  CHECK(saved() == 301'000);  // 5 min
  commit_at(600'000);
  CHECK(saved() == 301'000);
  commit_at(603'000);
  CHECK(saved() == 603'000);  // 301 s of running time at the last save, so due 301 s later
  commit_at(1'202'000);
  CHECK(saved() == 603'000);
  commit_at(1'204'000);
  CHECK(saved() == 1'204'000);  // 600 s later, not 603: the interval is capped at 10 min
  // Long running: every 10 min, not later.
  commit_at(3'600'000);
  CHECK(saved() == 3'600'000);
  commit_at(3'600'000 + 599'000);
  CHECK(saved() == 3'600'000);
  commit_at(3'600'000 + 600'000);
  CHECK(saved() == 4'200'000);
  // A clean close saves it whatever the schedule.
  commit_at(4'200'000 + 5'000);
  log.reset();
  CHECK(saved() == 4'205'000);
}

TEST_CASE("size retention deletes the oldest sealed segments but never what a cursor still needs") {
  TempDir dir;
  auto o = small_options(dir.path());
  StreamOptions so;
  so.retention_bytes = 100 << 10;
  auto log = must_open(o);
  auto id = must_stream(*log, "s", so);
  REQUIRE(log->register_cursor(id, "sync:c").is_ok());
  append_n(*log, id, 0, 30000);
  REQUIRE(log->flush().is_ok());
  REQUIRE(log->enforce_retention().is_ok());
  auto before = log->stats(id);
  CHECK(before->first_seq == 1);  // the cursor holds everything
  REQUIRE(log->commit_cursor(id, "sync:c", 30000).is_ok());
  REQUIRE(log->enforce_retention().is_ok());
  auto after = log->stats(id);
  CHECK(after->stored_bytes <= (100u << 10) + (64u << 10) + 8192);
  CHECK(after->first_seq > 1);
  CHECK(log->dropped_ranges().empty());
  auto all = read_all(*log, id);
  REQUIRE_FALSE(all.records.empty());
  CHECK(all.records.front().seq == after->first_seq);
  CHECK(all.records.back().seq == 30000);
}

TEST_CASE("the quota drops the oldest segments past cursors and records the dropped ranges") {
  TempDir dir;
  auto o = small_options(dir.path());
  o.quota_bytes = 200 << 10;
  auto log = must_open(o);
  auto a = must_stream(*log, "a");
  auto b = must_stream(*log, "b");
  REQUIRE(log->register_cursor(a, "sync:c").is_ok());  // never commits
  append_n(*log, a, 0, 30000);
  append_n(*log, b, 0, 30000);
  REQUIRE(log->flush().is_ok());
  REQUIRE(log->enforce_retention().is_ok());
  CHECK(log->total_stored_bytes() <= o.quota_bytes);
  auto dropped = log->dropped_ranges();
  REQUIRE_FALSE(dropped.empty());
  bool saw_a = false;
  for (auto& d : dropped) {
    CHECK(d.reason == "quota");
    CHECK(d.first_seq >= 1);
    CHECK(d.last_seq >= d.first_seq);
    saw_a = saw_a || d.stream == "a";
  }
  CHECK(saw_a);
  auto sa = log->stats(a);
  CHECK(sa->first_seq > 1);
  CHECK_FALSE(sa->dropped.empty());
  // Ids increase: a consumer can ask only for what is new.
  CHECK(log->dropped_ranges(dropped.back().id).empty());
  // Reading from 1 starts at the oldest kept record.
  auto all = read_all(*log, a);
  REQUIRE_FALSE(all.records.empty());
  CHECK(all.records.front().seq == sa->first_seq);
}

TEST_CASE("with kRejectNew a full quota refuses appends with Status::full") {
  TempDir dir;
  auto o = small_options(dir.path());
  o.quota_bytes = 100 << 10;
  o.on_full = FullPolicy::kRejectNew;
  auto log = must_open(o);
  auto id = must_stream(*log, "s");
  Status last;
  for (int round = 0; round < 100 && last.is_ok(); ++round) {
    for (int i = 0; i < 2000; ++i) {
      std::string p = sensor_line(static_cast<std::uint64_t>(i));
      auto r = log->append(id, AppendRecord{std::nullopt, std::nullopt, p});
      if (!r.is_ok()) {
        last = r.status();
        break;
      }
    }
    (void)log->flush();
  }
  CHECK(last.code() == Status::Code::kFull);
  CHECK(last.message().find("quota") != std::string::npos);
  CHECK(log->dropped_ranges().empty());
  CHECK(read_all(*log, id).records.front().seq == 1);  // nothing was deleted
}

TEST_CASE("a read-only open beside a running writer reads, refuses appends and follows growth") {
  TempDir dir;
  auto o = small_options(dir.path());
  auto writer = must_open(o);
  auto wid = must_stream(*writer, "s");
  append_n(*writer, wid, 0, 100);
  REQUIRE(writer->flush().is_ok());
  Options ro = o;
  ro.read_only = true;
  auto reader_log = must_open(ro);
  auto rid = reader_log->find_stream("s");
  REQUIRE(rid.is_ok());
  CHECK(reader_log->append(*rid, AppendRecord{}).status().code() == Status::Code::kInvalidArgument);
  ReadOptions ropt;
  ropt.follow = true;
  auto r = reader_log->read(*rid, ropt);
  REQUIRE(r.is_ok());
  RecordView v;
  std::uint64_t next = 1;
  while ((*r)->next(&v) == Reader::Next::kRecord) CHECK(v.seq == next++);
  CHECK(next == 101);
  append_n(*writer, wid, 100, 20000);  // also rolls segments
  REQUIRE(writer->flush().is_ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (next <= 20100 && std::chrono::steady_clock::now() < deadline) {
    Reader::Next n;
    while ((n = (*r)->next(&v)) == Reader::Next::kRecord) REQUIRE(v.seq == next++);
    REQUIRE(n == Reader::Next::kEnd);
    if (next <= 20100) (*r)->wait(500);
  }
  CHECK(next == 20101);
  auto dmg = reader_log->verify();
  REQUIRE(dmg.is_ok());
  CHECK(dmg->empty());
  auto st = reader_log->stats(*rid);
  REQUIRE(st.is_ok());
}

TEST_CASE("kWritten records survive kill -9 before any group commit via the intake journal") {
  TempDir dir;
  auto o = small_options(dir.path());
  o.flush_interval_ms = 3'600'000;
  o.flush_bytes = 1ull << 40;
  {
    auto log = must_open(o);
    auto id = must_stream(*log, "s");
    append_n(*log, id, 0, 50);
    REQUIRE(log->flush().is_ok());
  }
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto log = Log::open(o);
    if (!log.is_ok()) ::_exit(2);
    auto id = (*log)->find_stream("s");
    for (std::uint64_t i = 50; i < 350; ++i) {
      std::string p = sensor_line(i);
      AppendRecord r;
      r.payload = p;
      r.key = "k";
      if (!(*log)->append(*id, r, AppendDurability::kWritten).is_ok()) ::_exit(3);
    }
    char c = 'x';
    (void)!::write(fds[1], &c, 1);
    for (;;) ::pause();  // killed here, without destructor or flush
  }
  ::close(fds[1]);
  char c = 0;
  REQUIRE(::read(fds[0], &c, 1) == 1);
  ::close(fds[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  RecoveryReport report;
  auto log = must_open(o, &report);
  CHECK(report.journal_records_replayed == 300);
  auto id = *log->find_stream("s");
  CHECK(log->last_seq(id) == 350);
  CHECK(log->durable_seq(id) == 350);
  auto all = read_all(*log, id);
  CHECK(all.damage.empty());
  REQUIRE(all.records.size() == 350);
  for (std::uint64_t i = 0; i < 350; ++i) {
    CHECK(all.records[i].seq == i + 1);
    CHECK(all.records[i].payload == sensor_line(i));
  }
  CHECK(all.records[200].key == "k");
  // The journal is gone once its records are in a segment.
  for (auto& e : std::filesystem::directory_iterator(dir.path() / "streams/s")) {
    CHECK(e.path().extension() != ".jnl");
  }
  append_n(*log, id, 350, 1);
  CHECK(log->last_seq(id) == 351);
}

TEST_CASE("a torn intake journal tail is cut and the whole records before it are replayed") {
  TempDir dir;
  auto o = small_options(dir.path());
  o.flush_interval_ms = 3'600'000;
  o.flush_bytes = 1ull << 40;
  {
    auto log = must_open(o);
    must_stream(*log, "s");
  }
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto log = Log::open(o);
    if (!log.is_ok()) ::_exit(2);
    auto id = (*log)->find_stream("s");
    for (std::uint64_t i = 0; i < 10; ++i) {
      std::string p = sensor_line(i);
      if (!(*log)->append(*id, AppendRecord{std::nullopt, std::nullopt, p}, AppendDurability::kWritten).is_ok()) ::_exit(3);
    }
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::filesystem::path jnl;
  for (auto& e : std::filesystem::directory_iterator(dir.path() / "streams/s")) {
    if (e.path().extension() == ".jnl") jnl = e.path();
  }
  REQUIRE_FALSE(jnl.empty());
  auto size = std::filesystem::file_size(jnl);
  std::filesystem::resize_file(jnl, size - 5);  // the last record's write was torn
  RecoveryReport report;
  auto log = must_open(o, &report);
  CHECK(report.journal_records_replayed == 9);
  CHECK(report.truncated_tails.size() == 1);
  auto id = *log->find_stream("s");
  auto all = read_all(*log, id);
  REQUIRE(all.records.size() == 9);
  CHECK(all.records.back().payload == sensor_line(8));
}

TEST_CASE("catalog repair: a segment missing from the catalog is scanned and added back") {
  TempDir dir;
  auto o = small_options(dir.path());
  {
    auto log = must_open(o);
    auto id = must_stream(*log, "s");
    REQUIRE(log->register_cursor(id, "c").is_ok());
    append_n(*log, id, 0, 20000);
  }
  std::filesystem::remove(dir.path() / "catalog.db");
  std::filesystem::remove(dir.path() / "catalog.db-wal");
  std::filesystem::remove(dir.path() / "catalog.db-shm");
  RecoveryReport report;
  auto log = must_open(o, &report);
  CHECK_FALSE(report.catalog_repairs.empty());
  auto id = log->find_stream("s");
  REQUIRE(id.is_ok());
  auto st = log->stats(*id);
  CHECK(st->records == 20000);
  CHECK(read_all(*log, *id).records.size() == 20000);
  // Once repaired, a second open has nothing to repair.
  log.reset();
  RecoveryReport again;
  log = must_open(o, &again);
  CHECK(again.catalog_repairs.empty());
}

TEST_CASE("catalog repair: a missing segment file is recorded as a dropped range and readers skip it") {
  TempDir dir;
  auto o = small_options(dir.path());
  {
    auto log = must_open(o);
    auto id = must_stream(*log, "s");
    append_n(*log, id, 0, 20000);
  }
  auto files = segment_files(dir.path(), "s");
  REQUIRE(files.size() >= 3);
  auto second = parse_file_name(files[1].filename().string())->first_seq;
  auto third = parse_file_name(files[2].filename().string())->first_seq;
  std::filesystem::remove(files[1]);
  RecoveryReport report;
  auto log = must_open(o, &report);
  REQUIRE(report.catalog_repairs.size() == 1);
  CHECK(report.catalog_repairs[0].find("missing") != std::string::npos);
  auto dropped = log->dropped_ranges();
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].reason == "missing segment file");
  CHECK(dropped[0].first_seq == second);
  CHECK(dropped[0].last_seq == third - 1);
  auto id = *log->find_stream("s");
  auto all = read_all(*log, id);
  CHECK(all.records.size() == 20000 - (third - second));
  for (auto& r : all.records) CHECK((r.seq < second || r.seq >= third));
  CHECK(log->last_seq(id) == 20000);
}

TEST_CASE("catalog repair: a row whose range disagrees with its file is rescanned and fixed") {
  TempDir dir;
  auto o = small_options(dir.path());
  std::int64_t sid = 0;
  {
    auto log = must_open(o);
    sid = must_stream(*log, "s");
    append_n(*log, sid, 0, 20000);
  }
  {
    auto cat = Catalog::open(dir.path() / "catalog.db", false);
    REQUIRE(cat.is_ok());
    auto rows = (*cat)->segments(sid);
    REQUIRE(rows->size() >= 2);
    SegmentRow r = (*rows)[0];
    r.last_seq += 5;
    r.stored_bytes += 100;
    r.records = 1;
    REQUIRE((*cat)->upsert_segment(r).is_ok());
  }
  RecoveryReport report;
  auto log = must_open(o, &report);
  REQUIRE(report.catalog_repairs.size() == 1);
  CHECK(report.catalog_repairs[0].find("rescanned") != std::string::npos);
  CHECK(log->stats(sid)->records == 20000);
}

TEST_CASE("retention delete ordering: a crash on either side of the unlink recovers cleanly") {
  for (bool file_already_gone : {false, true}) {
    CAPTURE(file_already_gone);
    TempDir dir;
    auto o = small_options(dir.path());
    std::int64_t sid = 0;
    std::uint64_t first_kept = 0;
    {
      auto log = must_open(o);
      sid = must_stream(*log, "s");
      append_n(*log, sid, 0, 20000);
    }
    auto files = segment_files(dir.path(), "s");
    REQUIRE(files.size() >= 3);
    first_kept = parse_file_name(files[1].filename().string())->first_seq;
    {
      // The crash: retention committed "deleting" for the oldest segment...
      auto cat = Catalog::open(dir.path() / "catalog.db", false);
      REQUIRE(cat.is_ok());
      auto rows = (*cat)->segments(sid);
      REQUIRE((*cat)->mark_deleting({(*rows)[0]}, {}).is_ok());
    }
    // ...and the process died before (file present) or after (file gone) the unlink.
    if (file_already_gone) std::filesystem::remove(files[0]);
    RecoveryReport report;
    auto log = must_open(o, &report);
    CHECK_FALSE(std::filesystem::exists(files[0]));
    CHECK(log->dropped_ranges().empty());  // a finished retention is not a loss
    auto all = read_all(*log, sid);
    REQUIRE_FALSE(all.records.empty());
    CHECK(all.records.front().seq == first_kept);  // not resurrected
    CHECK(all.records.back().seq == 20000);
    auto rows = Catalog::open(dir.path() / "catalog.db", true);
    REQUIRE(rows.is_ok());
    auto segs = (*rows)->segments(sid);
    REQUIRE(segs.is_ok());
    for (auto& r : *segs) CHECK(r.state == "live");
  }
}

TEST_CASE("ENOSPC and failed writes are reported as Status, nothing is corrupted, and the log recovers") {
  TempDir dir;
  FaultInjectionEnv env;
  auto o = small_options(dir.path());
  o.env = &env;
  o.flush_interval_ms = 3'600'000;
  auto log = must_open(o);
  auto id = must_stream(*log, "s");
  append_n(*log, id, 0, 100);
  REQUIRE(log->flush().is_ok());
  env.set_space_limit(1000);
  append_n(*log, id, 100, 2000);
  Status st = log->flush();
  CHECK(st.code() == Status::Code::kFull);
  CHECK(st.message().find("No space left") != std::string::npos);
  CHECK(log->last_commit_status().code() == Status::Code::kFull);  // what health reports
  CHECK(log->durable_seq(id) < 2100);
  auto during = read_all(*log, id);
  CHECK(during.damage.empty());
  env.set_space_limit(~0ull);
  REQUIRE(log->flush().is_ok());
  CHECK(log->durable_seq(id) == 2100);
  CHECK(log->last_commit_status().is_ok());
  env.fail_write_after(1);
  append_n(*log, id, 2100, 10);
  CHECK(log->flush().code() == Status::Code::kIoError);
  REQUIRE(log->flush().is_ok());
  auto all = read_all(*log, id);
  CHECK(all.damage.empty());
  REQUIRE(all.records.size() == 2110);
  for (std::size_t i = 0; i < all.records.size(); ++i) {
    REQUIRE(all.records[i].seq == i + 1);
    REQUIRE(all.records[i].payload == sensor_line(i));
  }
  auto v = log->verify();
  REQUIRE(v.is_ok());
  CHECK(v->empty());
  // kWritten: a failed journal write is refused, not acknowledged.
  env.fail_write_after(1);
  std::string p = "x";
  auto r = log->append(id, AppendRecord{std::nullopt, std::nullopt, p}, AppendDurability::kWritten);
  CHECK_FALSE(r.is_ok());
  CHECK(log->last_seq(id) == 2110);
}

TEST_CASE("a power cut in kAlways mode loses nothing that flush() returned for") {
  TempDir dir;
  FaultInjectionEnv env;
  auto o = small_options(dir.path());
  o.env = &env;
  o.flush_interval_ms = 3'600'000;
  o.flush_bytes = 1ull << 40;
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto log = Log::open(o);
    if (!log.is_ok()) ::_exit(2);
    auto id = (*log)->open_stream("s");
    for (std::uint64_t i = 0; i < 3000; ++i) {
      std::string p = sensor_line(i);
      if (!(*log)->append(*id, AppendRecord{std::nullopt, std::nullopt, p}).is_ok()) ::_exit(3);
      if (i == 1999 && !(*log)->flush().is_ok()) ::_exit(4);
    }
    // Written but not synced (kNever-like tail), then the power goes.
    env.set_fail_sync(true);
    (void)(*log)->flush();
    env.drop_unsynced_data();
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  o.env = nullptr;
  auto log = must_open(o);
  auto id = *log->find_stream("s");
  auto all = read_all(*log, id);
  CHECK(all.damage.empty());
  REQUIRE(all.records.size() >= 2000);
  for (std::size_t i = 0; i < all.records.size(); ++i) REQUIRE(all.records[i].payload == sensor_line(i));
}

TEST_CASE("appends from several threads to several streams stay dense while followers read concurrently") {
  TempDir dir;
  auto o = small_options(dir.path());
  o.flush_interval_ms = 5;
  auto log = must_open(o);
  constexpr int kStreams = 3;
  constexpr std::uint64_t kPerThread = 5000;
  std::vector<StreamId> ids;
  for (int s = 0; s < kStreams; ++s) ids.push_back(must_stream(*log, "s" + std::to_string(s)));
  std::atomic<bool> failed{false};
  std::vector<std::thread> readers;
  std::vector<std::uint64_t> read_count(kStreams, 0);
  for (int s = 0; s < kStreams; ++s) {
    readers.emplace_back([&, s] {
      ReadOptions ro;
      ro.follow = true;
      auto r = log->read(ids[static_cast<std::size_t>(s)], ro);
      if (!r.is_ok()) {
        failed = true;
        return;
      }
      RecordView v;
      std::uint64_t next = 1;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (next <= 2 * kPerThread && std::chrono::steady_clock::now() < deadline) {
        auto n = (*r)->next(&v);
        if (n == Reader::Next::kRecord) {
          if (v.seq != next++) failed = true;
        } else if (n == Reader::Next::kCorruption) {
          failed = true;
        } else {
          (*r)->wait(200);
        }
      }
      read_count[static_cast<std::size_t>(s)] = next - 1;
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 2 * kStreams; ++w) {
    writers.emplace_back([&, w] {
      StreamId id = ids[static_cast<std::size_t>(w % kStreams)];
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        std::string p = sensor_line(i);
        if (!log->append(id, AppendRecord{std::nullopt, std::nullopt, p},
                         i % 10 == 0 ? AppendDurability::kWritten : AppendDurability::kBuffered).is_ok()) {
          failed = true;
        }
        if (i % 1000 == 999) (void)log->flush();
      }
    });
  }
  for (auto& t : writers) t.join();
  REQUIRE(log->flush().is_ok());
  for (auto& t : readers) t.join();
  CHECK_FALSE(failed.load());
  for (int s = 0; s < kStreams; ++s) {
    CHECK(read_count[static_cast<std::size_t>(s)] == 2 * kPerThread);
    CHECK(log->durable_seq(ids[static_cast<std::size_t>(s)]) == 2 * kPerThread);
  }
}

TEST_CASE("a segment rolls at 4096 blocks and a reader still reads the sealed one from its start") {
  // Each group commit seals a block per stream, so a slow stream writes many tiny blocks; the
  // roll by block count bounds the active segment's in-memory index. The sealed segment's index
  // is released once no reader has used it for 30 s (this is what keeps a long-running
  // daemon's memory flat: bench/soak) and rebuilt from the file when a reader goes back to it.
  TempDir dir;
  ManualClock clock;
  Options o;
  o.data_dir = dir.path();
  o.fsync = FsyncMode::kNever;
  o.flush_interval_ms = 60'000;  // only the explicit flushes below commit
  o.clock = &clock;
  auto log = must_open(o);
  auto id = must_stream(*log, "slow");
  constexpr std::uint64_t kN = 4096 + 10;
  for (std::uint64_t i = 0; i < kN; ++i) {
    append_n(*log, id, i, 1);
    REQUIRE(log->flush().is_ok());  // one record, one block
  }
  auto st = log->stats(id);
  REQUIRE(st.is_ok());
  CHECK(st->segments == 2);
  CHECK(st->last_seq == kN);
  CHECK(st->index_entries == kN);  // both indexes: the sealed one was used just now (its roll)
  auto all = read_all(*log, id);
  REQUIRE(all.records.size() == kN);
  for (std::uint64_t i = 0; i < kN; ++i) CHECK(all.records[i].seq == i + 1);

  // Idle for 29 s: kept. At the next sweep (every 10 s) past 30 s idle: the sealed index goes,
  // the active one stays.
  clock.advance_ms(29'000);
  REQUIRE(log->flush().is_ok());  // a group commit round also sweeps idle indexes
  CHECK(log->stats(id)->index_entries == kN);
  clock.advance_ms(10'000);
  REQUIRE(log->flush().is_ok());
  CHECK(log->stats(id)->index_entries == 10);

  // A reader going back rebuilds it from the file and reads exactly as before.
  ReadOptions from;
  from.from_seq = 4000;
  auto mid = read_all(*log, id, from);
  REQUIRE(mid.records.size() == kN - 3999);
  CHECK(mid.records.front().seq == 4000);
  for (std::size_t i = 0; i < mid.records.size(); ++i) CHECK(mid.records[i].seq == 4000 + i);
  CHECK(log->stats(id)->index_entries == kN);
  log.reset();
  auto again = must_open(o);
  auto id2 = must_stream(*again, "slow");
  CHECK(read_all(*again, id2).records.size() == kN);
}

TEST_CASE("pending_min_event_ms bounds every record still to come, across blocks and segments") {
  // Event times mostly rising, with some records far behind the newest (a sensor's buffer), in
  // many blocks and several segments; read by a bounded reader in read-write and read-only mode.
  TempDir dir;
  std::vector<std::int64_t> times;
  Options opts = small_options(dir.path());
  opts.segment_bytes = 8 << 10;
  {
    auto log = must_open(opts);
    auto id = must_stream(*log, "s");
    std::uint64_t state = 42;
    for (std::uint64_t i = 0; i < 6000; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      std::int64_t t = static_cast<std::int64_t>(1'700'000'000'000 + i * 10);
      if ((state >> 33) % 100 == 0) t -= static_cast<std::int64_t>((state >> 40) % 40'000);  // late
      times.push_back(t);
      std::string p = sensor_line(i);
      AppendRecord r;
      r.payload = p;
      r.event_time_ms = t;
      REQUIRE(log->append(id, r).is_ok());
      if (i % 97 == 0) REQUIRE(log->flush().is_ok());  // many small blocks
    }
    REQUIRE(log->flush().is_ok());
    REQUIRE(segment_files(dir.path(), "s").size() >= 3);
  }
  std::vector<std::int64_t> suffix_min(times.size() + 1, kMaxTime);
  for (std::size_t i = times.size(); i-- > 0;) suffix_min[i] = std::min(suffix_min[i + 1], times[i]);
  for (bool read_only : {false, true}) {
    CAPTURE(read_only);
    Options o = opts;
    o.read_only = read_only;
    auto log = must_open(o);
    auto id = log->find_stream("s");
    REQUIRE(id.is_ok());
    ReadOptions ro;
    ro.to_seq = log->durable_seq(*id);
    REQUIRE(ro.to_seq == times.size());
    auto reader = log->read(*id, ro);
    REQUIRE(reader.is_ok());
    CHECK((*reader)->pending_min_event_ms() == kMinTime);  // nothing read yet: no promise
    RecordView rv;
    std::size_t n = 0, violations = 0, tight = 0;
    while ((*reader)->next(&rv) == Reader::Next::kRecord) {
      ++n;
      const std::int64_t bound = (*reader)->pending_min_event_ms();
      if (bound > suffix_min[n]) ++violations;  // a record still to come is older than promised
      if (bound > kMinTime && bound >= suffix_min[n] - 45'000) ++tight;
    }
    CHECK(n == times.size());
    CHECK(violations == 0);
    // The bound follows the data, not the start of the history: within the disorder of the
    // stored records for nearly every record.
    CHECK(tight > n * 9 / 10);
    CHECK((*reader)->pending_min_event_ms() == kMaxTime);
    // Without a to_seq (or when following) the reader promises nothing.
    auto open_ended = log->read(*id, ReadOptions{});
    REQUIRE(open_ended.is_ok());
    REQUIRE((*open_ended)->next(&rv) == Reader::Next::kRecord);
    CHECK((*open_ended)->pending_min_event_ms() == kMinTime);
  }
}
