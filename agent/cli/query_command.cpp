// `outpost query "SQL"`: a query over the local log, printed as JSON lines, CSV or an aligned
// table. Over table(s) it answers as a batch engine would: every stored record counts, whatever
// order it arrived in. The stream form (`FROM tumble(readings, ...)`) replays the live rules over
// what is stored (watermark, late records dropped and counted on stderr) and closes the open
// windows at the end; with `--follow` it goes on with records as they become durable.
// The log is opened read-only, so this works beside a running daemon.
//
// Stream fields come from the config when --config is given (declared fields, the event-time
// field); otherwise every JSON member is readable, typed by its value.
#include <CLI/CLI.hpp>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/cli/cli.h"
#include "agent/config/config.h"
#include "agent/query/config_check.h"
#include "agent/runtime/query_host.h"
#include "store/log.h"

namespace outpost::cli {
namespace {

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted.store(true); }

struct QueryCliOptions {
  std::string sql;
  std::string sql_file;
  std::string data_dir;
  std::string config_path;
  std::string format = "jsonl";
  bool follow = false;
  std::uint64_t limit = 0;
  std::uint64_t order_memory_mib = 64;
};

// One cell of a result row as text: strings bare, numbers and booleans as JSON, null empty.
std::string cell_text(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::STRING: return std::string(std::string_view(e.get_string().value()));
    case simdjson::dom::element_type::NULL_VALUE: return "";
    default: return simdjson::minify(e);
  }
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Splits a row payload into cells in column order.
std::vector<std::string> cells_of(simdjson::dom::parser& parser, const std::string& payload,
                                  const std::vector<std::string>& columns) {
  std::vector<std::string> cells(columns.size());
  simdjson::dom::object obj;
  if (parser.parse(payload).get_object().get(obj) != simdjson::SUCCESS) return cells;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    simdjson::dom::element e;
    if (obj.at_key(columns[i]).get(e) == simdjson::SUCCESS) cells[i] = cell_text(e);
  }
  return cells;
}

// Width in terminal columns of UTF-8 text (one per code point; good enough for sensor data).
std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void print_table(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) width[i] = display_width(columns[i]);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], display_width(r[i]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i) out += "  ";
      out += cells[i];
      if (i + 1 < cells.size()) out.append(width[i] - display_width(cells[i]), ' ');
    }
    std::cout << out << "\n";
  };
  line(columns);
  std::vector<std::string> rule;
  for (auto w : width) rule.push_back(std::string(w, '-'));
  line(rule);
  for (const auto& r : rows) line(r);
  std::cout << "(" << rows.size() << (rows.size() == 1 ? " row" : " rows") << ")\n";
}

// "line 2, column 7: ..." plus the SQL line and a caret under the column.
void print_sql_error(const std::string& sql, const std::string& message) {
  std::cerr << "outpost query: " << message << "\n";
  int line = 0, column = 0;
  if (std::sscanf(message.c_str(), "line %d, column %d", &line, &column) != 2 || line < 1 || column < 1) return;
  std::istringstream in(sql);
  std::string text;
  for (int i = 0; i < line && std::getline(in, text); ++i) {
  }
  if (text.empty()) return;
  std::cerr << "  " << text << "\n  " << std::string(static_cast<std::size_t>(column - 1), ' ') << "^\n";
}

int run(const QueryCliOptions& o) {
  std::string sql = o.sql;
  if (!o.sql_file.empty()) {
    std::ifstream f(o.sql_file);
    if (!f) {
      std::cerr << "outpost query: cannot read " << o.sql_file << "\n";
      return 2;
    }
    std::ostringstream ss;
    ss << f.rdbuf();
    sql = ss.str();
  }
  if (sql.empty()) {
    std::cerr << "outpost query: give the SQL as an argument or with --file\n";
    return 2;
  }
  if (o.format != "jsonl" && o.format != "csv" && o.format != "table") {
    std::cerr << "outpost query: --format must be jsonl, csv or table, not '" << o.format << "'\n";
    return 2;
  }
  std::vector<query::StreamSchema> declared;
  std::string data_dir = o.data_dir;
  if (!o.config_path.empty()) {
    config::LoadResult loaded = config::load_config_file(o.config_path);
    if (!loaded.ok()) {
      std::cerr << loaded.report();
      std::cerr << "outpost query: " << o.config_path << " is not a valid config (see `outpost check`)\n";
      return 2;
    }
    for (const auto& stream : loaded.config->streams) declared.push_back(query::schema_of(stream));
    if (data_dir.empty()) data_dir = loaded.config->agent.data_dir.string();
  }
  if (data_dir.empty()) {
    std::cerr << "outpost query: --data-dir DIR or --config FILE is required\n";
    return 2;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(data_dir, ec)) {
    std::cerr << "outpost query: data dir '" << data_dir << "' does not exist\n";
    return 3;
  }
  store::Options so;
  so.data_dir = data_dir;
  so.read_only = true;
  auto log = store::Log::open(so);
  if (!log.is_ok()) {
    std::cerr << "outpost query: opening the log in " << data_dir << ": " << log.status().message() << "\n";
    return 3;
  }
  runtime::StreamCatalog streams(log.value().get(), std::move(declared));

  g_interrupted.store(false);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  runtime::QueryRunOptions ro;
  ro.follow = o.follow;
  ro.max_rows = o.limit;
  ro.order_memory_bytes = o.order_memory_mib << 20;
  ro.cancelled = [] { return g_interrupted.load(); };

  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> table_rows;
  simdjson::dom::parser parser;
  bool header_printed = false;
  runtime::QueryRunStats stats;
  Status st = runtime::run_query(
      log.value().get(), sql, streams.catalog(), ro, &columns,
      [&](const query::OutputRow& r) {
        if (o.format == "jsonl") {
          // Straight to stdio (std::cout is synced with it, so the order of output holds):
          // the ostream inserters cost more than formatting the row did.
          std::fwrite(r.payload.data(), 1, r.payload.size(), stdout);
          std::fputc('\n', stdout);
          if (o.follow) std::fflush(stdout);
        } else if (o.format == "csv") {
          if (!header_printed) {
            for (std::size_t i = 0; i < columns.size(); ++i) std::cout << (i ? "," : "") << csv_quote(columns[i]);
            std::cout << "\n";
            header_printed = true;
          }
          auto cells = cells_of(parser, r.payload, columns);
          for (std::size_t i = 0; i < cells.size(); ++i) std::cout << (i ? "," : "") << csv_quote(cells[i]);
          std::cout << "\n";
          if (o.follow) std::cout.flush();
        } else {
          table_rows.push_back(cells_of(parser, r.payload, columns));
        }
      },
      &stats);
  if (!st.is_ok() && st.code() != Status::Code::kAborted) {
    if (st.code() == Status::Code::kInvalidArgument) {
      print_sql_error(sql, st.message());
      return 2;
    }
    std::cerr << "outpost query: " << st.message() << "\n";
    return st.code() == Status::Code::kNotFound ? 2 : 3;
  }
  if (o.format == "csv" && !header_printed) {
    for (std::size_t i = 0; i < columns.size(); ++i) std::cout << (i ? "," : "") << csv_quote(columns[i]);
    std::cout << "\n";
  }
  if (o.format == "table") print_table(columns, table_rows);
  if (stats.damaged_blocks > 0) {
    std::cerr << "outpost query: skipped " << stats.damaged_blocks << " damaged block(s) of the input (see `outpost log verify`)\n";
  }
  if (stats.eval_errors > 0) {
    std::cerr << "outpost query: " << stats.eval_errors << " input record(s) could not be evaluated and were skipped\n";
  }
  if (stats.late_events > 0) {
    std::cerr << "outpost query: " << stats.late_events
              << " record(s) came after the watermark had closed their windows and are not counted"
                 " (the stream form replays the live rules; FROM table(...) counts every stored record)\n";
  }
  if (stats.truncated) std::cerr << "outpost query: stopped at --limit " << o.limit << " rows\n";
  return 0;
}

}  // namespace

void add_query_command(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<QueryCliOptions>();
  CLI::App* cmd = app.add_subcommand("query", "Run SQL over the local log (historical; --follow to stream)");
  cmd->add_option("sql", o->sql, "The query, e.g. \"SELECT * FROM table(readings) WHERE temp > 80\"");
  cmd->add_option("-f,--file", o->sql_file, "Read the query from a file");
  cmd->add_option("-d,--data-dir", o->data_dir, "The log's data dir (default: the config's agent.data_dir)");
  cmd->add_option("-c,--config", o->config_path, "Config file: declared stream fields and the data dir");
  cmd->add_option("--format", o->format, "jsonl (default), csv or table");
  cmd->add_flag("--follow", o->follow, "After what is stored, keep running on new records (Ctrl-C stops)");
  cmd->add_option("--limit", o->limit, "Stop after this many rows");
  cmd->add_option("--order-memory", o->order_memory_mib,
                  "MiB a table() session query with max_length or start/end conditions may hold to "
                  "take records in event-time order (default 64)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->callback([o, exit_code] { *exit_code = run(*o); });
}

}  // namespace outpost::cli
