// Internals of agent/query shared by the parser, the compiler, the evaluator and the executor.
// Not a public header: other modules use query.h only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/query/query.h"
#include "base/byte_codec.h"

namespace outpost::query::internal {

// Saved state is written with base/byte_codec.h's little-endian layout.
using base::get_u64;
using base::put_u64;

// ---- values ------------------------------------------------------------------------------
enum class VType : std::uint8_t { kNull, kBool, kInt, kDouble, kString, kTimestamp };

struct Value {
  VType type = VType::kNull;
  union {
    bool b;
    std::int64_t i;  // kInt, kTimestamp (epoch ms)
    double d;
  };
  std::string s;

  Value() : i(0) {}
  static Value null() { return Value(); }
  static Value of_bool(bool v) { Value x; x.type = VType::kBool; x.b = v; return x; }
  static Value of_int(std::int64_t v) { Value x; x.type = VType::kInt; x.i = v; return x; }
  static Value of_double(double v) { Value x; x.type = VType::kDouble; x.d = v; return x; }
  static Value of_time(std::int64_t v) { Value x; x.type = VType::kTimestamp; x.i = v; return x; }
  static Value of_string(std::string v) {
    Value x;
    x.type = VType::kString;
    x.s = std::move(v);
    return x;
  }
  bool is_null() const { return type == VType::kNull; }
  bool is_number() const { return type == VType::kInt || type == VType::kDouble; }
  double as_double() const { return type == VType::kDouble ? d : static_cast<double>(i); }
};

// Total order used by min/max, comparisons of like types and GROUP BY key sorting:
// numbers (int and double compare numerically) < strings; timestamps compare among themselves.
int compare_values(const Value& a, const Value& b);
// Appends the value as JSON (NaN/inf -> null, timestamps as RFC 3339 UTC strings with ms).
void append_value_json(std::string* out, const Value& v);
// Compact binary encoding (type tag + bytes) for group keys and state; decode returns false on
// bytes it did not write.
void encode_value(std::string* out, const Value& v);
bool decode_value(std::string_view* in, Value* v);
// Order-preserving encoding of GROUP BY values: bytewise order of the encodings is the order of
// compare_values within a type (strings escaped and 0-terminated, numbers big-endian with the
// sign flipped), so groups sort naturally and short keys stay within std::string's inline buffer.
void encode_key_value(std::string* out, const Value& v);
// encode_key_value of a string value, from its text.
void encode_key_text(std::string* out, std::string_view text);
bool decode_key_value(std::string_view* in, Value* v);
// 64-bit hash for count_distinct: equal numbers hash equal whether int or double.
std::uint64_t hash_value(const Value& v);
const char* vtype_name(VType t);

// ---- static types -------------------------------------------------------------------------
enum class SType : std::uint8_t { kNull, kBool, kInt, kDouble, kString, kTimestamp, kAny };
const char* stype_name(SType t);

// ---- expressions ---------------------------------------------------------------------------
enum class ExprKind : std::uint8_t {
  kLiteral, kColumn, kPseudo, kWindowStart, kWindowEnd, kUnary, kBinary, kFunc, kCase,
  kIn, kBetween, kIsNull, kLike, kCast, kAgg, kGroupRef,
};

enum class Op : std::uint8_t {
  kNone, kNeg, kNot, kAdd, kSub, kMul, kDiv, kMod, kConcat, kEq, kNe, kLt, kLe, kGt, kGe, kAnd, kOr,
};

enum class Pseudo : std::uint8_t { kTpTime, kIngestTime, kSeq, kKey };

enum class AggKind : std::uint8_t {
  kCount, kCountX, kSum, kAvg, kMin, kMax, kEarliest, kLatest, kCountDistinct, kQuantile,
  kStddevSamp, kStddevPop,
};

struct Expr;
using ExprP = std::unique_ptr<Expr>;

struct Expr {
  Expr() = default;
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;
  // Iterative: a 100 000-term `1+1+...` chain must not overflow the stack when it is freed.
  ~Expr() {
    std::vector<ExprP> pending = std::move(args);
    while (!pending.empty()) {
      ExprP e = std::move(pending.back());
      pending.pop_back();
      for (auto& a : e->args) pending.push_back(std::move(a));
      e->args.clear();
    }
  }

  ExprKind kind = ExprKind::kLiteral;
  std::size_t offset = 0;  // where it starts in the SQL text
  std::size_t end = 0;     // one past its last byte
  Op op = Op::kNone;
  std::string name;               // column name, function name (lower case)
  std::vector<std::string> path;  // column: the dotted path's members
  Value lit;
  std::vector<ExprP> args;
  bool negated = false;     // NOT IN / NOT BETWEEN / NOT LIKE / IS NOT NULL
  bool has_operand = false;  // CASE x WHEN ...
  bool has_else = false;
  bool star = false;        // count(*)
  bool distinct = false;    // count(DISTINCT x)
  // After binding:
  SType type = SType::kAny;
  int index = -1;  // kFunc: function id; kAgg: aggregate slot; kGroupRef: key index; kPseudo;
                   // kColumn: its slot in CompiledQuery::payload_fields
  bool declared = false;      // kColumn: a declared field (typed by the config)
  ColumnType decl_type = ColumnType::kString;
  SType cast_to = SType::kAny;  // kCast
};

// ---- the parsed query --------------------------------------------------------------------
enum class WindowKind : std::uint8_t { kNone, kTumble, kHop, kSession };
enum class EmitMode : std::uint8_t { kAfterClose, kPeriodic, kOnUpdate };

struct SelectItem {
  ExprP expr;  // null for '*'
  std::string alias;
  std::string name;  // output column name: alias or the expression's text
  std::size_t offset = 0;
};

struct Ast {
  std::vector<SelectItem> items;
  std::string stream;
  std::size_t stream_offset = 0;
  bool historical = false;
  WindowKind window = WindowKind::kNone;
  std::size_t window_offset = 0;
  std::string ts_name;
  std::size_t ts_offset = 0;
  std::int64_t size_ms = 0;   // tumble/hop size
  std::int64_t slide_ms = 0;  // hop slide (tumble: = size)
  std::int64_t offset_ms = 0;  // tumble/hop: windows start at offset + k * slide (0 <= offset < slide)
  std::int64_t gap_ms = 0;    // session
  std::int64_t max_length_ms = 0;  // session; 0 = none
  ExprP start_cond, end_cond;      // session
  ExprP where;
  std::vector<ExprP> group_by;
  std::size_t group_by_offset = 0;
  ExprP having;
  bool has_emit = false;
  std::size_t emit_offset = 0;
  EmitMode emit = EmitMode::kAfterClose;
  std::int64_t delay_ms = 0;
  std::int64_t period_ms = 0;
  std::string fingerprint;  // the token texts joined: whitespace/comment-insensitive identity
};

// Parses the SQL text; on error returns false with *err set (offset filled, line/column not).
bool parse_sql(std::string_view sql, Ast* ast, SqlError* err);
void set_line_column(std::string_view sql, SqlError* err);

// ---- the compiled query ------------------------------------------------------------------
struct AggSpec {
  AggKind kind = AggKind::kCount;
  const Expr* arg = nullptr;  // null for count()
  double q = 0.5;             // quantile
  SType arg_type = SType::kAny;
  int arg_slot = -1;  // index into CompiledQuery::agg_args (aggregates over the same expression share one)
};

class CompiledQuery final : public Query {
 public:
  const std::string& input_stream() const override { return ast.stream; }
  bool historical() const override { return ast.historical; }
  bool windowed() const override { return ast.window != WindowKind::kNone; }
  const std::vector<std::string>& columns() const override { return column_names; }
  std::int64_t emit_period_ms() const override {
    return ast.emit == EmitMode::kPeriodic ? ast.period_ms : 0;
  }
  std::int64_t delay_ms() const override { return ast.delay_ms; }
  bool order_sensitive() const override {
    return ast.window == WindowKind::kSession && (ast.max_length_ms > 0 || ast.start_cond || ast.end_cond);
  }

  Ast ast;
  StreamSchema schema;
  std::vector<std::string> column_names;
  bool aggregating = false;   // GROUP BY or aggregates
  bool select_star = false;
  bool needs_payload = false;  // some expression reads the JSON object
  std::vector<std::string> payload_fields;  // the payload members the query reads, by slot
  std::vector<const Expr*> keys;  // GROUP BY expressions other than window_start/window_end
  std::vector<AggSpec> aggs;
  std::uint64_t fingerprint = 0;
  std::vector<ExprP> agg_exprs;  // owns the aggregate calls whose arguments AggSpec points to
  std::vector<const Expr*> agg_args;  // distinct aggregate arguments, evaluated once per record
};

// ---- evaluation -----------------------------------------------------------------------------
struct JsonDoc;  // the parsed payload (simdjson), owned by the Evaluator

struct EvalContext {
  const store::RecordView* record = nullptr;
  const JsonDoc* doc = nullptr;  // null: no payload (grouped output)
  const Value* keys = nullptr;
  const Value* aggs = nullptr;
  std::int64_t window_start = 0;
  std::int64_t window_end = 0;
  bool error = false;  // set on a runtime type error: the record is skipped and counted
};

// Parses payloads and evaluates bound expressions. One per executor (owns the JSON parser).
class Evaluator {
 public:
  Evaluator();
  ~Evaluator();
  // The members kColumn expressions read (their index is the slot): set once, before parse().
  // Without it every payload goes through the full DOM parse.
  void set_fields(const std::vector<std::string>* names);
  // False if the payload is not a JSON object.
  bool parse(std::string_view payload);
  const JsonDoc* doc() const;
  // Whether the last parse() took the flat-object fast path (for the tests).
  bool parsed_flat() const;
  Value eval(const Expr& e, EvalContext& ctx) const;
  // SQL three-valued truth: true only for a true boolean.
  bool truth(const Expr& e, EvalContext& ctx) const;
  // Shortcuts for a column read from a flat payload (parse() took the fast path), for the
  // per-record hot path: the value eval() would return, without building a Value. False when
  // it does not apply (not a column, not flat, missing member, another type, a type error):
  // then call eval().
  bool flat_text(const Expr& e, const EvalContext& ctx, std::string_view* text) const;
  bool flat_number(const Expr& e, const EvalContext& ctx, Value* out) const;  // sets type and i/d only

 private:
  std::unique_ptr<JsonDoc> doc_;
};

}  // namespace outpost::query::internal
