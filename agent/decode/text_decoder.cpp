// The csv and kv decoders: tokenize one payload into named cells, then write them as one
// compact JSON object with the declared fields typed (TextDecoder::build).
#include <charconv>
#include <cmath>
#include <cstring>

#include "agent/decode/decode_internal.h"
#include "agent/decode/event_time.h"
#include "agent/decode/json_check.h"
#include "agent/decode/json_text.h"

namespace outpost::decode::internal {
namespace {

struct Cell {
  std::string_view name;   // csv: the column; kv: the key
  std::string_view value;  // unquoted/unescaped; points into the payload or TextDecoder::scratch_
  bool quoted = false;
  std::size_t offset = 0;  // of the cell's first byte in the payload
  int role = -1;           // index into TextDecoder::roles_
  std::size_t column = 0;  // csv: 1-based column number
};

// Names the stream cares about: a declared field, the event time, the key (possibly all three).
struct Role {
  std::string name;
  int field = -1;
  bool time = false;
  bool key = false;
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view strip_plus(std::string_view v) {
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);
  return v;
}

bool parse_double(std::string_view v, double* out) {
  v = strip_plus(v);
  if (v.empty()) return false;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
  return ec == std::errc() && p == v.data() + v.size() && std::isfinite(*out);
}

bool parse_int(std::string_view v, std::int64_t* out) {
  v = strip_plus(v);
  if (v.empty()) return false;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
  if (ec == std::errc() && p == v.data() + v.size()) return true;
  double d;  // "3.0", "3e2": a number with no fractional part is an int
  if (!parse_double(v, &d) || std::trunc(d) != d || d < -9.2233720368547758e18 || d >= 9.2233720368547758e18) {
    return false;
  }
  *out = static_cast<std::int64_t>(d);
  return true;
}

bool parse_bool(std::string_view v, bool* out) {
  static constexpr std::string_view kTrue[] = {"true", "1", "yes", "on", "t", "y"};
  static constexpr std::string_view kFalse[] = {"false", "0", "no", "off", "f", "n"};
  for (auto t : kTrue) {
    if (iequals(v, t)) return *out = true;
  }
  for (auto f : kFalse) {
    if (iequals(v, f)) {
      *out = false;
      return true;
    }
  }
  return false;
}

template <typename T>
void append_chars(std::string* out, T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

class TextDecoder : public Decoder {
 protected:
  explicit TextDecoder(StreamSpec spec) : Decoder(std::move(spec)) {
    for (std::size_t i = 0; i < spec_.fields.size(); ++i) role_for(spec_.fields[i].name).field = static_cast<int>(i);
    if (spec_.time) role_for(spec_.time->field).time = true;
    if (!spec_.key_field.empty()) role_for(spec_.key_field).key = true;
    seen_.resize(spec_.fields.size());
  }

  int role_of(std::string_view name) const {
    for (std::size_t i = 0; i < roles_.size(); ++i) {
      if (roles_[i].name == name) return static_cast<int>(i);
    }
    return -1;
  }

  // Called at the start of each decode: buffers from a big previous payload are given back, and
  // scratch_ gets room for every unescaped value of this payload so views into it stay valid.
  void begin(std::string_view payload) {
    if (scratch_.capacity() > kRetainBytes) std::string().swap(scratch_);
    if (out_.capacity() > kRetainBytes) std::string().swap(out_);
    scratch_.clear();
    scratch_.reserve(payload.size());
  }

  // `where` prefixes messages ("line 2: " for csv, "" for kv).
  DecodeResult build(const std::vector<Cell>& cells, const std::string& where) {
    out_.clear();
    out_.push_back('{');
    bool first = true;
    std::fill(seen_.begin(), seen_.end(), 0);
    const Cell* time_cell = nullptr;
    const Cell* key_cell = nullptr;
    auto member = [&](std::string_view name) {
      if (!first) out_.push_back(',');
      first = false;
      append_json_string(&out_, name);
      out_.push_back(':');
    };
    for (const Cell& c : cells) {
      const Role* r = c.role >= 0 ? &roles_[static_cast<std::size_t>(c.role)] : nullptr;
      if (r && r->time) time_cell = &c;
      if (r && r->key) key_cell = &c;
      if (!r || r->field < 0) {
        if (spec_.undeclared == Undeclared::kDrop) continue;
        member(c.name);
        append_undeclared(c);
        continue;
      }
      const FieldSpec& f = spec_.fields[static_cast<std::size_t>(r->field)];
      seen_[static_cast<std::size_t>(r->field)] = 1;
      member(c.name);
      if (is_missing(f, c)) {
        if (f.required) {
          return make_error(ErrorClass::kMissingField, where + cell_label(f, c) + " is missing (empty)", c.offset);
        }
        out_.append("null");
        continue;
      }
      if (!append_typed(f, c)) {
        std::string expected = field_type_name(f.type);
        if (f.type == FieldType::kTimestamp) expected = std::string("a timestamp (") + time_expectation(f.time_format) + ")";
        return make_error(ErrorClass::kFieldType,
                          where + cell_label(f, c) + ": expected " + expected + ", got " + quoted_excerpt(c.value),
                          c.offset);
      }
    }
    for (std::size_t i = 0; i < spec_.fields.size(); ++i) {
      if (seen_[i]) continue;
      const FieldSpec& f = spec_.fields[i];
      if (f.required) return make_error(ErrorClass::kMissingField, where + field_label(f) + " is missing");
      member(f.name);
      out_.append("null");
    }
    out_.push_back('}');

    Decoded d;
    d.payload = out_;
    if (spec_.time) {
      const TimeSpec& ts = *spec_.time;
      if (!time_cell || time_cell->value.empty()) {
        if (!ts.fallback_to_ingest_time) {
          return make_error(ErrorClass::kMissingField, where + "event-time field '" + ts.field + "' is missing",
                            time_cell ? std::optional<std::size_t>(time_cell->offset) : std::nullopt);
        }
      } else {
        std::int64_t ms;
        if (!parse_time_text(time_cell->value, ts.format, &ms)) {
          return make_error(ErrorClass::kTime,
                            where + "event-time field '" + ts.field + "': expected " + time_expectation(ts.format) +
                                ", got " + quoted_excerpt(time_cell->value),
                            time_cell->offset);
        }
        d.event_time_ms = ms;
      }
    }
    if (key_cell && (!key_cell->value.empty() || key_cell->quoted)) d.key = key_cell->value;
    return d;
  }

  virtual std::string cell_label(const FieldSpec& f, const Cell& c) const = 0;

  std::vector<Role> roles_;
  std::string scratch_;  // unescaped values of the current payload
  std::string out_;      // the JSON object of the current payload

 private:
  Role& role_for(const std::string& name) {
    for (auto& r : roles_) {
      if (r.name == name) return r;
    }
    roles_.push_back(Role{name});
    return roles_.back();
  }

  static bool is_missing(const FieldSpec& f, const Cell& c) {
    if (!c.value.empty()) return false;
    return !(c.quoted && f.type == FieldType::kString);  // "" is an empty string, not a gap
  }

  void append_undeclared(const Cell& c) {
    if (spec_.undeclared == Undeclared::kInfer && !c.quoted) {
      if (is_json_number(c.value) || c.value == "true" || c.value == "false") {
        out_.append(c.value);
        return;
      }
      if (c.value.empty()) {
        out_.append("null");
        return;
      }
    }
    append_json_string(&out_, c.value);
  }

  // Appends the value as its declared type; false if it is not one.
  bool append_typed(const FieldSpec& f, const Cell& c) {
    const std::string_view v = c.value;
    switch (f.type) {
      case FieldType::kDouble: {
        double d;
        if (!parse_double(v, &d)) return false;
        const std::string_view s = strip_plus(v);
        if (is_json_number(s)) {
          out_.append(s);  // keeps the digits as written
        } else {
          append_chars(&out_, d);
        }
        return true;
      }
      case FieldType::kInt: {
        std::int64_t i;
        if (!parse_int(v, &i)) return false;
        append_chars(&out_, i);
        return true;
      }
      case FieldType::kBool: {
        bool b;
        if (!parse_bool(v, &b)) return false;
        out_.append(b ? "true" : "false");
        return true;
      }
      case FieldType::kString: append_json_string(&out_, v); return true;
      case FieldType::kTimestamp: {
        std::int64_t ms;
        if (!parse_time_text(v, f.time_format, &ms)) return false;
        const std::string_view s = strip_plus(v);
        double d;
        if (is_json_number(s)) {
          out_.append(s);
        } else if (parse_double(s, &d)) {
          append_chars(&out_, d);
        } else {
          append_json_string(&out_, v);  // RFC 3339
        }
        return true;
      }
    }
    return false;
  }

  std::vector<char> seen_;  // per declared field, during build()
};

// ---- csv ----

class CsvDecoder final : public TextDecoder {
 public:
  explicit CsvDecoder(StreamSpec spec) : TextDecoder(std::move(spec)) {
    for (const auto& c : spec_.csv.columns) column_roles_.push_back(role_of(c));
    data_.reserve(spec_.csv.columns.size() + 1);
    row_.reserve(spec_.csv.columns.size() + 1);
  }

 protected:
  std::string cell_label(const FieldSpec& f, const Cell& c) const override {
    return field_label(f) + " (column " + std::to_string(c.column) + ")";
  }

  DecodeResult decode_payload(std::string_view s) override {
    if (auto e = check_utf8(s)) return std::move(*e);
    begin(s);
    const auto& opt = spec_.csv;
    std::size_t pos = 0;
    std::size_t line = 1;
    std::size_t rows = 0;
    bool have_data = false, saw_header = false;
    std::size_t data_line = 0, data_columns = 0;
    while (pos < s.size()) {
      const std::size_t row_line = line;
      std::size_t columns = 0;
      if (auto e = parse_row(s, &pos, &line, &columns)) return std::move(*e);
      if (columns == 1 && row_.size() == 1 && row_[0].value.empty() && !row_[0].quoted) continue;  // blank
      ++rows;
      if ((opt.header == CsvHeader::kFirstLine && rows == 1) || (opt.header == CsvHeader::kMatch && is_header())) {
        saw_header = true;
        continue;
      }
      if (have_data) {
        return make_error(ErrorClass::kShape,
                          "line " + std::to_string(row_line) + ": a second data line (line " +
                              std::to_string(data_line) + " was the first); one payload is one record",
                          row_.empty() ? std::nullopt : std::optional<std::size_t>(row_[0].offset));
      }
      data_.swap(row_);
      have_data = true;
      data_line = row_line;
      data_columns = columns;
    }
    if (!have_data) {
      if (saw_header) return DecodeResult::skipped();
      return make_error(ErrorClass::kSyntax, "empty payload (no data line)", 0);
    }
    const std::string where = "line " + std::to_string(data_line) + ": ";
    if (data_columns != opt.columns.size()) {
      return make_error(ErrorClass::kShape,
                        where + std::to_string(data_columns) + (data_columns == 1 ? " column" : " columns") +
                            ", expected " + std::to_string(opt.columns.size()),
                        data_.empty() ? std::nullopt : std::optional<std::size_t>(data_[0].offset));
    }
    for (std::size_t i = 0; i < data_.size(); ++i) {
      data_[i].name = opt.columns[i];
      data_[i].role = column_roles_[i];
    }
    return build(data_, where);
  }

 private:
  bool is_header() const {
    if (row_.size() != spec_.csv.columns.size()) return false;
    for (std::size_t i = 0; i < row_.size(); ++i) {
      if (!iequals(row_[i].value, spec_.csv.columns[i])) return false;
    }
    return true;
  }

  // One row from *pos into row_ (at most columns+1 cells kept; *columns counts them all).
  std::optional<DecodeError> parse_row(std::string_view s, std::size_t* pos, std::size_t* line, std::size_t* columns) {
    const char delim = spec_.csv.delimiter;
    const bool trim = spec_.csv.trim_spaces;
    const std::size_t n = s.size();
    const std::size_t keep = spec_.csv.columns.size() + 1;
    auto is_trim = [&](char c) { return trim && (c == ' ' || c == '\t') && c != delim; };
    auto at_line_end = [&](std::size_t p) {
      return s[p] == '\n' || (s[p] == '\r' && (p + 1 == n || s[p + 1] == '\n'));
    };
    row_.clear();
    *columns = 0;
    std::size_t p = *pos;
    for (;;) {
      while (p < n && is_trim(s[p])) ++p;
      Cell cell;
      cell.column = *columns + 1;
      cell.offset = p;
      if (p < n && s[p] == '"') {
        const std::size_t open = p;
        const std::size_t open_line = *line;
        ++p;
        const std::size_t start = p;
        bool doubled = false;
        for (;;) {
          if (p >= n) {
            return make_error(ErrorClass::kSyntax,
                              "line " + std::to_string(open_line) + ": column " + std::to_string(cell.column) +
                                  ": quoted field opened at byte " + std::to_string(open) + " is not closed",
                              open);
          }
          if (s[p] == '"') {
            if (p + 1 < n && s[p + 1] == '"') {
              doubled = true;
              p += 2;
              continue;
            }
            break;
          }
          if (s[p] == '\n') ++*line;
          ++p;
        }
        std::string_view raw = s.substr(start, p - start);
        ++p;  // the closing quote
        if (doubled) {
          const std::size_t at = scratch_.size();
          for (std::size_t i = 0; i < raw.size(); ++i) {
            scratch_.push_back(raw[i]);
            if (raw[i] == '"') ++i;  // "" -> "
          }
          raw = std::string_view(scratch_).substr(at);
        }
        cell.value = raw;
        cell.quoted = true;
        while (p < n && is_trim(s[p])) ++p;
        if (p < n && s[p] != delim && !at_line_end(p)) {
          return make_error(ErrorClass::kSyntax,
                            "line " + std::to_string(*line) + ": column " + std::to_string(cell.column) +
                                ": unexpected " + quoted_excerpt(s.substr(p, 1)) + " at byte " + std::to_string(p) +
                                " after a closing quote (a quote inside a quoted field is written \"\")",
                            p);
        }
      } else {
        const std::size_t start = p;
        while (p < n && s[p] != delim && !at_line_end(p)) ++p;
        std::size_t end = p;
        while (end > start && is_trim(s[end - 1])) --end;
        cell.value = s.substr(start, end - start);
      }
      ++*columns;
      if (row_.size() < keep) row_.push_back(cell);
      if (p < n && s[p] == delim) {
        ++p;
        continue;
      }
      if (p < n && s[p] == '\r') ++p;
      if (p < n && s[p] == '\n') {
        ++p;
        ++*line;
      }
      *pos = p;
      return std::nullopt;
    }
  }

  std::vector<int> column_roles_;
  std::vector<Cell> data_;
  std::vector<Cell> row_;
};

// ---- kv ----

class KvDecoder final : public TextDecoder {
 public:
  explicit KvDecoder(StreamSpec spec) : TextDecoder(std::move(spec)) {
    is_sep_[static_cast<unsigned char>('\n')] = is_sep_[static_cast<unsigned char>('\r')] = true;  // line ends too
    for (char c : spec_.kv.separators) is_sep_[static_cast<unsigned char>(c)] = true;
  }

 protected:
  std::string cell_label(const FieldSpec& f, const Cell&) const override { return field_label(f); }

  DecodeResult decode_payload(std::string_view s) override {
    if (auto e = check_utf8(s)) return std::move(*e);
    begin(s);
    pairs_.clear();
    const char assign = spec_.kv.assign;
    const std::size_t n = s.size();
    auto sep = [&](char c) { return is_sep_[static_cast<unsigned char>(c)]; };
    std::size_t p = 0;
    for (;;) {
      while (p < n && sep(s[p])) ++p;
      if (p >= n) break;
      const std::size_t key_start = p;
      while (p < n && !sep(s[p]) && s[p] != assign && s[p] != '"') ++p;
      const std::string_view key = s.substr(key_start, p - key_start);
      if (key.empty()) {
        if (s[p] == assign) {
          return make_error(ErrorClass::kSyntax, "empty key before '" + std::string(1, assign) + "' at byte " +
                                                     std::to_string(p), p);
        }
        return make_error(ErrorClass::kSyntax, "a key cannot start with a quote (byte " + std::to_string(p) + ")", p);
      }
      if (p >= n || s[p] != assign) {
        const bool quote = p < n && s[p] == '"';
        return make_error(ErrorClass::kSyntax,
                          quoted_excerpt(key) + " at byte " + std::to_string(key_start) +
                              (quote ? " holds a quote; keys cannot be quoted"
                                     : " has no '" + std::string(1, assign) + "' (expected key" +
                                           std::string(1, assign) + "value)"),
                          key_start);
      }
      ++p;  // assign
      Cell cell;
      cell.name = key;
      cell.offset = key_start;
      if (p < n && s[p] == '"') {
        const std::size_t open = p;
        ++p;
        const std::size_t start = p;
        bool escaped = false;
        while (p < n && s[p] != '"') {
          if (s[p] == '\\' && p + 1 < n) {
            escaped = true;
            ++p;
          }
          ++p;
        }
        if (p >= n) {
          return make_error(ErrorClass::kSyntax,
                            "value of " + quoted_excerpt(key) + ": quote opened at byte " + std::to_string(open) +
                                " is not closed",
                            open);
        }
        std::string_view raw = s.substr(start, p - start);
        ++p;  // closing quote
        if (escaped) raw = unescape(raw);
        cell.value = raw;
        cell.quoted = true;
        if (p < n && !sep(s[p])) {
          return make_error(ErrorClass::kSyntax,
                            "value of " + quoted_excerpt(key) + ": unexpected " + quoted_excerpt(s.substr(p, 1)) +
                                " at byte " + std::to_string(p) + " after the closing quote",
                            p);
        }
      } else {
        const std::size_t start = p;
        while (p < n && !sep(s[p])) ++p;
        cell.value = s.substr(start, p - start);
      }
      for (const Cell& prev : pairs_) {
        if (prev.name == key) {
          return make_error(ErrorClass::kShape,
                            "key " + quoted_excerpt(key) + " appears twice (bytes " + std::to_string(prev.offset) +
                                " and " + std::to_string(key_start) + ")",
                            key_start);
        }
      }
      if (pairs_.size() >= spec_.kv.max_pairs) {
        return make_error(ErrorClass::kShape, "more than " + std::to_string(spec_.kv.max_pairs) + " key" +
                                                  std::string(1, assign) + "value pairs (max pairs)",
                          key_start);
      }
      cell.role = role_of(key);
      pairs_.push_back(cell);
    }
    if (pairs_.empty()) {
      return make_error(ErrorClass::kSyntax,
                        "empty payload (no key" + std::string(1, assign) + "value pairs)", 0);
    }
    return build(pairs_, "");
  }

 private:
  // \" \\ \n \t \r are escapes; any other backslash is kept as written.
  std::string_view unescape(std::string_view raw) {
    const std::size_t at = scratch_.size();
    for (std::size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\\' && i + 1 < raw.size()) {
        const char e = raw[i + 1];
        switch (e) {
          case '"': c = '"'; ++i; break;
          case '\\': c = '\\'; ++i; break;
          case 'n': c = '\n'; ++i; break;
          case 't': c = '\t'; ++i; break;
          case 'r': c = '\r'; ++i; break;
          default: break;
        }
      }
      scratch_.push_back(c);
    }
    return std::string_view(scratch_).substr(at);
  }

  bool is_sep_[256] = {};
  std::vector<Cell> pairs_;
};

}  // namespace

std::unique_ptr<Decoder> make_csv_decoder(StreamSpec spec) { return std::make_unique<CsvDecoder>(std::move(spec)); }
std::unique_ptr<Decoder> make_kv_decoder(StreamSpec spec) { return std::make_unique<KvDecoder>(std::move(spec)); }

}  // namespace outpost::decode::internal
