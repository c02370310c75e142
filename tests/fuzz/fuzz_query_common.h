// Shared by the query fuzz targets (fuzz_sql, fuzz_payload): the stream their SQL reads, so both
// corpora are written against the same columns.
#pragma once

#include <string_view>

#include "agent/query/query.h"

namespace outpost::query::fuzz {

// readings: a column of every type, a nested one (meta.fw), key device, event time ts.
inline const StreamSchema& readings_schema() {
  static const StreamSchema s = [] {
    StreamSchema x;
    x.name = "readings";
    x.time_field = "ts";
    x.key_field = "device";
    x.fields = {{"device", ColumnType::kString}, {"temp", ColumnType::kDouble}, {"hum", ColumnType::kInt},
                {"ok", ColumnType::kBool},       {"ts", ColumnType::kTimestamp}, {"meta.fw", ColumnType::kString}};
    return x;
  }();
  return s;
}

// A catalog holding readings only.
inline Catalog readings_catalog() {
  return [](std::string_view name) -> const StreamSchema* { return name == "readings" ? &readings_schema() : nullptr; };
}

}  // namespace outpost::query::fuzz
