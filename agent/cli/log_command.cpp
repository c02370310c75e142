// `outpost log append|cat|stat|verify`: the local log by hand.
//
// append opens the log read-write (it takes the data dir lock, so not beside a running
// daemon); cat, stat and verify open it read-only and work beside a running daemon.
#include <CLI/CLI.hpp>
#include <simdjson.h>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>

#include "agent/cli/cli.h"
#include "agent/decode/event_time.h"
#include "agent/runtime/query_host.h"
#include "agent/runtime/status_json.h"
#include "store/log.h"

namespace outpost::cli {
namespace {

using decode::format_rfc3339_ms;
using decode::parse_time_text;

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted.store(true); }

int fail(const std::string& what, const Status& st, int code) {
  std::cerr << "outpost log " << what << ": " << st.message() << "\n";
  return code;
}

Result<std::unique_ptr<store::Log>> open_existing_read_only(const std::string& data_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(data_dir, ec)) {
    return Status::not_found("data dir '" + data_dir + "' does not exist");
  }
  store::Options o;
  o.data_dir = data_dir;
  o.read_only = true;
  return store::Log::open(o);
}

Result<store::StreamId> find_stream(store::Log& log, const std::string& data_dir, const std::string& name) {
  auto id = log.find_stream(name);
  if (id.is_ok()) return id;
  std::string known;
  for (const auto& s : log.stream_names()) known += (known.empty() ? "" : ", ") + s;
  return Status::not_found("no stream '" + name + "' in " + data_dir +
                           (known.empty() ? " (it has no streams)" : " (streams: " + known + ")"));
}

// ---- append ---------------------------------------------------------------------------

struct AppendOptions {
  std::string data_dir;
  std::string stream;
  std::string key_field;
  std::string time_field;
  std::string time_format = "auto";
  bool progress = false;
};

// Reads a top-level field of a JSON line as a key (any scalar) or an event time.
class FieldExtractor {
 public:
  // Parses the next line; key() and time() then read its fields.
  void parse(std::string_view line) {
    ok_ = !parser_.parse(line.data(), line.size(), true).get(doc_) && doc_.is_object();
  }
  bool key(const std::string& field, std::string* out) {
    simdjson::dom::element v;
    if (!lookup(field, &v)) return false;
    std::string_view s;
    if (!v.get(s)) { out->assign(s); return true; }
    if (v.is_null()) return false;
    out->assign(simdjson::minify(v));
    return true;
  }
  bool time(const std::string& field, decode::TimeFormat unit, std::int64_t* ms) {
    simdjson::dom::element v;
    if (!lookup(field, &v)) return false;
    std::string_view s;
    if (!v.get(s)) return parse_time_text(s, unit, ms);
    std::int64_t i;  // exact for integers (unix ns do not fit a double)
    if (!v.get(i)) return decode::integer_to_ms(i, unit, ms);
    double d;
    if (!v.get(d)) return decode::double_to_ms(d, unit, ms);
    return false;
  }

 private:
  bool lookup(const std::string& field, simdjson::dom::element* out) {
    return ok_ && !doc_[field].get(*out);
  }
  simdjson::dom::parser parser_;
  simdjson::dom::element doc_;
  bool ok_ = false;
};

int run_append(const AppendOptions& o) {
  decode::TimeFormat unit;
  if (!decode::parse_time_format(o.time_format, &unit)) {
    std::cerr << "outpost log append: --time-format '" << o.time_format
              << "' is not one of auto, unix_s, unix_ms, unix_us, unix_ns, rfc3339\n";
    return 2;
  }
  store::Options so;
  so.data_dir = o.data_dir;
  auto opened = store::Log::open(so);
  if (!opened.is_ok()) return fail("append", opened.status(), 3);
  auto& log = *opened.value();
  auto sid = log.open_stream(o.stream);
  if (!sid.is_ok()) return fail("append", sid.status(), 2);
  if (!o.time_field.empty() || !o.key_field.empty()) {
    // Kept in the catalog so `outpost query --data-dir` knows the stream's time field without a
    // config: `tumble(table(S), ts, 1m)` then means the field the event times came from.
    query::StreamSchema schema;
    if (auto saved = runtime::load_stream_schema(log, o.stream)) schema = std::move(*saved);
    schema.name = o.stream;
    if (!o.time_field.empty() && !schema.time_field.empty() && schema.time_field != o.time_field) {
      std::cerr << "outpost log append: stream '" << o.stream << "' took its event times from '" << schema.time_field
                << "' so far; from now on '" << o.time_field << "' names them\n";
    }
    if (!o.time_field.empty()) schema.time_field = o.time_field;
    if (!o.key_field.empty()) schema.key_field = o.key_field;
    if (Status st = runtime::save_stream_schema(&log, schema); !st.is_ok()) return fail("append", st, 3);
  }

  std::mutex out_mu;
  if (o.progress) {
    // Printed only once the records are durable, so a caller may trust every number it saw.
    log.set_durable_listener([&](store::StreamId id, std::uint64_t seq) {
      if (id != sid.value()) return;
      std::lock_guard<std::mutex> lock(out_mu);
      std::printf("flushed %llu\n", static_cast<unsigned long long>(seq));
      std::fflush(stdout);
    });
  }

  FieldExtractor fields;
  std::string line;
  std::string key;
  std::uint64_t line_no = 0, appended = 0, rejected = 0, missing_key = 0, missing_time = 0;
  std::uint64_t last_seq = log.last_seq(sid.value());
  char* buf = nullptr;
  std::size_t cap = 0;
  ssize_t n;
  while ((n = ::getline(&buf, &cap, stdin)) >= 0) {
    ++line_no;
    std::string_view payload(buf, static_cast<std::size_t>(n));
    if (!payload.empty() && payload.back() == '\n') payload.remove_suffix(1);
    if (!payload.empty() && payload.back() == '\r') payload.remove_suffix(1);
    if (payload.empty()) continue;  // blank lines carry no record
    store::AppendRecord rec;
    rec.payload = payload;
    if (!o.key_field.empty() || !o.time_field.empty()) fields.parse(payload);
    if (!o.key_field.empty()) {
      if (fields.key(o.key_field, &key)) rec.key = std::string_view(key);
      else ++missing_key;
    }
    if (!o.time_field.empty()) {
      std::int64_t ms = 0;
      if (fields.time(o.time_field, unit, &ms)) rec.event_time_ms = ms;
      else ++missing_time;
    }
    auto seq = log.append(sid.value(), rec);
    if (!seq.is_ok()) {
      ++rejected;
      std::cerr << "outpost log append: stdin line " << line_no << ": " << seq.status().message() << "\n";
      if (seq.status().code() != Status::Code::kInvalidArgument) break;  // full / I/O: stop
      continue;
    }
    last_seq = seq.value();
    ++appended;
  }
  std::free(buf);
  Status st = log.flush();
  if (!st.is_ok()) return fail("append", st, 3);
  {
    std::lock_guard<std::mutex> lock(out_mu);
    std::printf("%llu\n", static_cast<unsigned long long>(last_seq));
    std::fflush(stdout);
  }
  if (missing_key) std::cerr << "outpost log append: " << missing_key << " records had no key field '" << o.key_field << "' (stored without a key)\n";
  if (missing_time) std::cerr << "outpost log append: " << missing_time << " records had no usable time field '" << o.time_field << "' (event time = ingest time)\n";
  if (rejected) {
    std::cerr << "outpost log append: " << rejected << " of " << (appended + rejected) << " records were not appended\n";
    return 1;
  }
  return 0;
}

// ---- cat ------------------------------------------------------------------------------

struct CatOptions {
  std::string data_dir;
  std::string stream;
  std::uint64_t from_seq = 1;
  std::uint64_t to_seq = std::numeric_limits<std::uint64_t>::max();
  std::string since;
  std::string until;
  bool follow = false;
  bool ms_times = false;
};

bool is_json(simdjson::dom::parser& parser, std::string_view text) {
  simdjson::dom::element e;
  return !parser.parse(text.data(), text.size(), true).get(e);
}

int run_cat(const CatOptions& o) {
  store::ReadOptions ro;
  ro.from_seq = o.from_seq;
  ro.to_seq = o.to_seq;
  ro.follow = o.follow;
  if (!o.since.empty() && !parse_time_text(o.since, decode::TimeFormat::kAuto, &ro.since_ms)) {
    std::cerr << "outpost log cat: --since '" << o.since << "' is neither RFC 3339 nor unix milliseconds\n";
    return 2;
  }
  if (!o.until.empty() && !parse_time_text(o.until, decode::TimeFormat::kAuto, &ro.until_ms)) {
    std::cerr << "outpost log cat: --until '" << o.until << "' is neither RFC 3339 nor unix milliseconds\n";
    return 2;
  }
  auto opened = open_existing_read_only(o.data_dir);
  if (!opened.is_ok()) return fail("cat", opened.status(), 2);
  auto& log = *opened.value();
  auto sid = find_stream(log, o.data_dir, o.stream);
  if (!sid.is_ok()) return fail("cat", sid.status(), 2);
  auto reader = log.read(sid.value(), ro);
  if (!reader.is_ok()) return fail("cat", reader.status(), 3);

  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  simdjson::dom::parser parser;
  std::string out;
  int rc = 0;
  auto time_text = [&](std::int64_t ms) { return o.ms_times ? std::to_string(ms) : runtime::json_quote(format_rfc3339_ms(ms)); };
  while (!g_interrupted.load()) {
    store::RecordView r;
    auto next = reader.value()->next(&r);
    if (next == store::Reader::Next::kRecord) {
      out.clear();
      out += "{\"seq\":" + std::to_string(r.seq);
      out += ",\"ingest_time\":" + time_text(r.ingest_time_ms);
      out += ",\"event_time\":" + time_text(r.event_time_ms);
      out += ",\"key\":";
      out += r.has_key ? runtime::json_quote(r.key) : "null";
      out += ",\"payload\":";
      if (is_json(parser, r.payload)) out.append(r.payload);
      else out += runtime::json_quote(r.payload);
      out += "}\n";
      if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) break;  // reader went away
      continue;
    }
    if (next == store::Reader::Next::kCorruption) {
      const auto& d = reader.value()->damage();
      std::cerr << "outpost log cat: skipped damaged data in " << d.segment.string() << " at byte " << d.offset
                << " (" << d.length << " bytes, seq " << d.first_seq << ".." << d.last_seq << "): " << d.message << "\n";
      rc = 1;
      continue;
    }
    if (!o.follow) break;
    if (std::fflush(stdout) != 0) break;
    reader.value()->wait(200);
  }
  std::fflush(stdout);
  return rc;
}

// ---- stat -----------------------------------------------------------------------------

int run_stat(const std::string& data_dir, bool as_json) {
  auto opened = open_existing_read_only(data_dir);
  if (!opened.is_ok()) return fail("stat", opened.status(), 2);
  auto& log = *opened.value();
  std::string json = "[";
  if (!as_json) {
    std::printf("%-28s %12s %8s %12s %12s %12s %12s %7s  %s\n", "stream", "records", "segments", "first_seq",
                "last_seq", "raw_bytes", "stored_bytes", "ratio", "dropped");
  }
  for (const auto& name : log.stream_names()) {
    auto id = log.find_stream(name);
    if (!id.is_ok()) continue;
    auto st = log.stats(id.value());
    if (!st.is_ok()) return fail("stat", st.status(), 3);
    const auto& s = st.value();
    double ratio = s.stored_bytes ? static_cast<double>(s.raw_bytes) / static_cast<double>(s.stored_bytes) : 0.0;
    std::string dropped;
    for (const auto& d : s.dropped) {
      dropped += (dropped.empty() ? "" : " ") + std::to_string(d.first_seq) + ".." + std::to_string(d.last_seq) + "(" + d.reason + ")";
    }
    if (as_json) {
      if (json.size() > 1) json += ",";
      char ratio_text[32];
      std::snprintf(ratio_text, sizeof ratio_text, "%.3f", ratio);
      json += "{\"stream\":" + runtime::json_quote(name) + ",\"records\":" + std::to_string(s.records) +
              ",\"segments\":" + std::to_string(s.segments) + ",\"first_seq\":" + std::to_string(s.first_seq) +
              ",\"last_seq\":" + std::to_string(s.last_seq) + ",\"raw_bytes\":" + std::to_string(s.raw_bytes) +
              ",\"stored_bytes\":" + std::to_string(s.stored_bytes) + ",\"ratio\":" + ratio_text + ",\"dropped\":[";
      bool first = true;
      for (const auto& d : s.dropped) {
        json += std::string(first ? "" : ",") + "{\"first_seq\":" + std::to_string(d.first_seq) +
                ",\"last_seq\":" + std::to_string(d.last_seq) + ",\"reason\":" + runtime::json_quote(d.reason) + "}";
        first = false;
      }
      json += "]}";
    } else {
      std::printf("%-28s %12llu %8llu %12llu %12llu %12llu %12llu %6.2fx  %s\n", name.c_str(),
                  static_cast<unsigned long long>(s.records), static_cast<unsigned long long>(s.segments),
                  static_cast<unsigned long long>(s.first_seq), static_cast<unsigned long long>(s.last_seq),
                  static_cast<unsigned long long>(s.raw_bytes), static_cast<unsigned long long>(s.stored_bytes), ratio,
                  dropped.empty() ? "-" : dropped.c_str());
    }
  }
  if (as_json) std::printf("%s]\n", json.c_str());
  return 0;
}

// ---- verify ---------------------------------------------------------------------------

int run_verify(const std::string& data_dir) {
  auto opened = open_existing_read_only(data_dir);
  if (!opened.is_ok()) return fail("verify", opened.status(), 2);
  auto damage = opened.value()->verify();
  if (!damage.is_ok()) return fail("verify", damage.status(), 3);
  if (damage.value().empty()) {
    std::printf("ok: every block of every segment in %s verifies\n", data_dir.c_str());
    return 0;
  }
  for (const auto& d : damage.value()) {
    std::printf("damaged: stream %s segment %s offset %llu length %llu seq %llu..%llu: %s\n", d.stream.c_str(),
                d.segment.string().c_str(), static_cast<unsigned long long>(d.offset),
                static_cast<unsigned long long>(d.length), static_cast<unsigned long long>(d.first_seq),
                static_cast<unsigned long long>(d.last_seq), d.message.c_str());
  }
  std::printf("%zu damaged region(s) found\n", damage.value().size());
  return 1;
}

}  // namespace

void add_log_commands(CLI::App& app, int* exit_code) {
  CLI::App* log = app.add_subcommand("log", "The local log by hand: append, cat, stat, verify");
  log->require_subcommand(1);

  auto ao = std::make_shared<AppendOptions>();
  CLI::App* append = log->add_subcommand(
      "append", "Append newline-delimited records from stdin (blank lines are skipped), flush, print the last sequence");
  append->add_option("--data-dir", ao->data_dir, "Data directory")->required();
  append->add_option("--stream", ao->stream, "Stream (created if missing)")->required();
  append->add_option("--key-field", ao->key_field, "Top-level JSON field to use as the record key");
  append->add_option("--time-field", ao->time_field, "Top-level JSON field holding the event time");
  append->add_option("--time-format", ao->time_format, "auto, unix_s, unix_ms, unix_us, unix_ns or rfc3339")->capture_default_str();
  append->add_flag("--progress", ao->progress, "Print 'flushed SEQ' each time records become durable");
  append->callback([ao, exit_code] { *exit_code = run_append(*ao); });

  auto co = std::make_shared<CatOptions>();
  CLI::App* cat = log->add_subcommand("cat", "Print records as JSON lines (seq, ingest_time, event_time, key, payload)");
  cat->add_option("--data-dir", co->data_dir, "Data directory")->required();
  cat->add_option("--stream", co->stream, "Stream")->required();
  cat->add_option("--from-seq", co->from_seq, "First sequence");
  cat->add_option("--to-seq", co->to_seq, "Last sequence (inclusive)");
  cat->add_option("--since", co->since, "Event time from (inclusive): RFC 3339 or unix ms");
  cat->add_option("--until", co->until, "Event time until (exclusive): RFC 3339 or unix ms");
  cat->add_flag("--follow", co->follow, "Keep printing records as they become durable");
  cat->add_flag("--ms", co->ms_times, "Print times as unix milliseconds instead of RFC 3339");
  cat->callback([co, exit_code] { *exit_code = run_cat(*co); });

  auto stat_dir = std::make_shared<std::string>();
  auto stat_json = std::make_shared<bool>(false);
  CLI::App* stat = log->add_subcommand("stat", "Per stream: records, segments, sequences, bytes, ratio, dropped ranges");
  stat->add_option("--data-dir", *stat_dir, "Data directory")->required();
  stat->add_flag("--json", *stat_json, "JSON instead of a table");
  stat->callback([stat_dir, stat_json, exit_code] { *exit_code = run_stat(*stat_dir, *stat_json); });

  auto verify_dir = std::make_shared<std::string>();
  CLI::App* verify = log->add_subcommand("verify", "Check every checksum; exit 0 clean, 1 damage found");
  verify->add_option("--data-dir", *verify_dir, "Data directory")->required();
  verify->callback([verify_dir, exit_code] { *exit_code = run_verify(*verify_dir); });
}

}  // namespace outpost::cli
