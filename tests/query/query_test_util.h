// Helpers for the query engine tests: a catalog, records, and a sink that collects rows.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/query/query.h"

namespace qt {

using namespace outpost;
using namespace outpost::query;

inline const StreamSchema* readings_schema() {
  static const StreamSchema s = [] {
    StreamSchema x;
    x.name = "readings";
    x.time_field = "ts";
    x.key_field = "device";
    x.fields = {{"device", ColumnType::kString}, {"temp", ColumnType::kDouble}, {"hum", ColumnType::kInt},
                {"site", ColumnType::kString},   {"ok", ColumnType::kBool},     {"ts", ColumnType::kTimestamp},
                {"meta.fw", ColumnType::kString}};
    return x;
  }();
  return &s;
}

inline Catalog catalog() {
  return [](std::string_view name) -> const StreamSchema* {
    if (name == "readings") return readings_schema();
    return nullptr;
  };
}

inline std::shared_ptr<const Query> must_compile(const std::string& sql) {
  auto r = compile(sql, catalog());
  if (auto* e = std::get_if<SqlError>(&r)) {
    FAIL_CHECK("compile failed: " << e->to_string() << " for " << sql);
    return nullptr;
  }
  return std::get<std::shared_ptr<const Query>>(r);
}

inline SqlError must_fail(const std::string& sql) {
  auto r = compile(sql, catalog());
  if (auto* e = std::get_if<SqlError>(&r)) return *e;
  FAIL_CHECK("compile unexpectedly succeeded: " << sql);
  return {};
}

struct Rec {
  std::int64_t t = 0;
  std::string payload;
  std::string key;
};

struct Collect : RowSink {
  std::vector<std::string> rows;  // "payload" or "LATE <seq>"
  std::vector<OutputRow> full;
  void row(OutputRow&& r) override {
    rows.push_back(r.payload);
    full.push_back(std::move(r));
  }
  void late(const store::RecordView& in, std::string_view) override { rows.push_back("LATE " + std::to_string(in.seq)); }
};

// Feeds records (seq = index + 1, ingest time = event time) and returns the sink's rows;
// `end` calls on_end at the end.
struct Runner {
  std::shared_ptr<const Query> q;
  std::unique_ptr<Executor> ex;
  Collect sink;
  std::uint64_t seq = 0;
  explicit Runner(const std::string& sql, ExecutorOptions o = {}) : q(must_compile(sql)) {
    if (q) ex = Executor::create(q, o);
  }
  void feed(std::int64_t t, const std::string& payload, const std::string& key = "") {
    store::RecordView r;
    r.seq = ++seq;
    r.event_time_ms = t;
    r.ingest_time_ms = t;
    r.payload = payload;
    r.has_key = !key.empty();
    r.key = key;
    ex->on_record(r, sink);
  }
  std::vector<std::string> take() {
    auto v = std::move(sink.rows);
    sink.rows.clear();
    sink.full.clear();
    return v;
  }
};

}  // namespace qt
