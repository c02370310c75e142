// compile(): binds a parsed query to the stream's declared fields and checks names, types and
// the use of aggregates and windows. Every rejection is an SqlError with a position.
// Size: one pass of binding over one AST; the function table and the type rules it checks against
// are read together, so they stay beside it.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <xxhash.h>

#include "base/suggest.h"
#include "agent/query/functions.h"
#include "agent/query/query_internal.h"

namespace outpost::query::internal {
namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

// The closest candidate if `name` is a likely typo of it (case-insensitive), or "".
std::string suggest(std::string_view name, const std::vector<std::string>& candidates) {
  return base::closest_name(name, candidates, base::Case::kFolded);
}

struct FnInfo {
  const char* name;
  Fn id;
  int min_args;
  int max_args;  // -1 = variadic
};

const FnInfo kFunctions[] = {
    {"lower", Fn::kLower, 1, 1},          {"upper", Fn::kUpper, 1, 1},
    {"length", Fn::kLength, 1, 1},        {"char_length", Fn::kLength, 1, 1},
    {"concat", Fn::kConcat, 1, -1},       {"substr", Fn::kSubstr, 2, 3},
    {"substring", Fn::kSubstr, 2, 3},     {"trim", Fn::kTrim, 1, 1},
    {"ltrim", Fn::kLtrim, 1, 1},          {"rtrim", Fn::kRtrim, 1, 1},
    {"starts_with", Fn::kStartsWith, 2, 2}, {"ends_with", Fn::kEndsWith, 2, 2},
    {"contains", Fn::kContains, 2, 2},    {"replace", Fn::kReplace, 3, 3},
    {"abs", Fn::kAbs, 1, 1},              {"round", Fn::kRound, 1, 2},
    {"floor", Fn::kFloor, 1, 1},          {"ceil", Fn::kCeil, 1, 1},
    {"ceiling", Fn::kCeil, 1, 1},         {"sqrt", Fn::kSqrt, 1, 1},
    {"pow", Fn::kPow, 2, 2},              {"power", Fn::kPow, 2, 2},
    {"ln", Fn::kLn, 1, 1},                {"log", Fn::kLn, 1, 1},
    {"log10", Fn::kLog10, 1, 1},          {"log2", Fn::kLog2, 1, 1},
    {"exp", Fn::kExp, 1, 1},              {"least", Fn::kLeast, 1, -1},
    {"greatest", Fn::kGreatest, 1, -1},   {"coalesce", Fn::kCoalesce, 1, -1},
    {"ifnull", Fn::kCoalesce, 2, 2},      {"if", Fn::kIf, 3, 3},
    {"nullif", Fn::kNullIf, 2, 2},        {"to_int", Fn::kToInt, 1, 1},
    {"to_float", Fn::kToFloat, 1, 1},     {"to_double", Fn::kToFloat, 1, 1},
    {"to_string", Fn::kToString, 1, 1},   {"to_bool", Fn::kToBool, 1, 1},
    {"to_unix_ms", Fn::kToUnixMs, 1, 1},  {"int_div", Fn::kIntDiv, 2, 2},
    {"mod", Fn::kMod, 2, 2},              {"sign", Fn::kSign, 1, 1},
    {"multi_if", Fn::kMultiIf, 3, -1},
    // Proton's sized conversions.
    {"to_int8", Fn::kToInt, 1, 1},        {"to_int16", Fn::kToInt, 1, 1},
    {"to_int32", Fn::kToInt, 1, 1},       {"to_int64", Fn::kToInt, 1, 1},
    {"to_float32", Fn::kToFloat, 1, 1},   {"to_float64", Fn::kToFloat, 1, 1},
};

struct AggInfo {
  const char* name;
  AggKind kind;
  double q;
};

const AggInfo kAggregates[] = {
    {"count", AggKind::kCount, 0},        {"sum", AggKind::kSum, 0},
    {"avg", AggKind::kAvg, 0},            {"min", AggKind::kMin, 0},
    {"max", AggKind::kMax, 0},            {"earliest", AggKind::kEarliest, 0},
    {"latest", AggKind::kLatest, 0},      {"count_distinct", AggKind::kCountDistinct, 0},
    {"uniq", AggKind::kCountDistinct, 0}, {"quantile", AggKind::kQuantile, 0},
    {"unique", AggKind::kCountDistinct, 0},
    {"p50", AggKind::kQuantile, 0.5},     {"p90", AggKind::kQuantile, 0.9},
    {"p95", AggKind::kQuantile, 0.95},    {"p99", AggKind::kQuantile, 0.99},
    {"median", AggKind::kQuantile, 0.5},  {"stddev", AggKind::kStddevSamp, 0},
    {"stddev_samp", AggKind::kStddevSamp, 0}, {"stddev_pop", AggKind::kStddevPop, 0},
};

const AggInfo* find_aggregate(const std::string& name) {
  for (const auto& a : kAggregates)
    if (name == a.name) return &a;
  return nullptr;
}

const FnInfo* find_function(const std::string& name) {
  for (const auto& f : kFunctions)
    if (name == f.name) return &f;
  return nullptr;
}

bool numeric(SType t) { return t == SType::kInt || t == SType::kDouble; }
bool unknown(SType t) { return t == SType::kAny || t == SType::kNull; }

SType of_column_type(ColumnType t) {
  switch (t) {
    case ColumnType::kString: return SType::kString;
    case ColumnType::kInt: return SType::kInt;
    case ColumnType::kDouble: return SType::kDouble;
    case ColumnType::kBool: return SType::kBool;
    case ColumnType::kTimestamp: return SType::kTimestamp;
  }
  return SType::kAny;
}

SType of_value(const Value& v) {
  switch (v.type) {
    case VType::kNull: return SType::kNull;
    case VType::kBool: return SType::kBool;
    case VType::kInt: return SType::kInt;
    case VType::kDouble: return SType::kDouble;
    case VType::kString: return SType::kString;
    case VType::kTimestamp: return SType::kTimestamp;
  }
  return SType::kAny;
}

const char* op_text(Op op) {
  switch (op) {
    case Op::kNeg: return "-";
    case Op::kNot: return "NOT";
    case Op::kAdd: return "+";
    case Op::kSub: return "-";
    case Op::kMul: return "*";
    case Op::kDiv: return "/";
    case Op::kMod: return "%";
    case Op::kConcat: return "||";
    case Op::kEq: return "=";
    case Op::kNe: return "!=";
    case Op::kLt: return "<";
    case Op::kLe: return "<=";
    case Op::kGt: return ">";
    case Op::kGe: return ">=";
    case Op::kAnd: return "AND";
    case Op::kOr: return "OR";
    case Op::kNone: break;
  }
  return "?";
}

// Canonical text of an unbound expression, used to match SELECT expressions to GROUP BY ones.
void canon(const Expr& e, std::string* out) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      out->push_back('L');
      append_value_json(out, e.lit);
      return;
    case ExprKind::kColumn: {
      out->append("C:");
      const std::string l = lower(e.name);
      out->append(l == "window_start" || l == "window_end" ? l : e.name);
      return;
    }
    default: break;
  }
  out->append(std::to_string(static_cast<int>(e.kind)));
  out->push_back(':');
  out->append(op_text(e.op));
  out->append(e.name);
  if (e.negated) out->push_back('!');
  if (e.star) out->push_back('*');
  if (e.distinct) out->push_back('D');
  if (e.has_operand) out->push_back('O');
  if (e.has_else) out->push_back('E');
  out->push_back('(');
  for (const auto& a : e.args) {
    canon(*a, out);
    out->push_back(',');
  }
  out->push_back(')');
}

std::string canon(const Expr& e) {
  std::string s;
  canon(e, &s);
  return s;
}

ExprP clone(const Expr& e) {
  auto c = std::make_unique<Expr>();
  c->kind = e.kind;
  c->offset = e.offset;
  c->end = e.end;
  c->op = e.op;
  c->name = e.name;
  c->path = e.path;
  c->lit = e.lit;
  for (const auto& a : e.args) c->args.push_back(clone(*a));
  c->negated = e.negated;
  c->has_operand = e.has_operand;
  c->has_else = e.has_else;
  c->star = e.star;
  c->distinct = e.distinct;
  c->type = e.type;
  c->index = e.index;
  c->declared = e.declared;
  c->decl_type = e.decl_type;
  c->cast_to = e.cast_to;
  return c;
}

bool contains_aggregate(const Expr& e) {
  if (e.kind == ExprKind::kFunc && (find_aggregate(e.name) || e.distinct)) return true;
  for (const auto& a : e.args)
    if (contains_aggregate(*a)) return true;
  return false;
}

enum class Clause { kSelect, kWhere, kGroupBy, kHaving, kSession };

const char* clause_name(Clause c) {
  switch (c) {
    case Clause::kSelect: return "SELECT";
    case Clause::kWhere: return "WHERE";
    case Clause::kGroupBy: return "GROUP BY";
    case Clause::kHaving: return "HAVING";
    case Clause::kSession: return "the session conditions";
  }
  return "";
}

class Binder {
 public:
  Binder(CompiledQuery* q, SqlError* err) : q_(q), err_(err) {
    for (const auto& f : q_->schema.fields) field_names_.push_back(f.name);
  }

  bool failed() const { return !err_->message.empty(); }
  void fail(std::size_t at, std::string msg) {
    if (!failed()) {
      err_->message = std::move(msg);
      err_->offset = at;
    }
  }

  // Binds an expression. `grouped`: output of an aggregation (columns must be keys or inside
  // aggregates); `in_agg`: inside an aggregate's argument.
  void bind(ExprP& e, Clause clause, bool grouped, bool in_agg) {
    if (failed()) return;
    if (grouped && !in_agg) {
      const std::string c = canon(*e);
      for (std::size_t k = 0; k < key_canon_.size(); ++k) {
        if (key_canon_[k] == c) {
          const std::size_t off = e->offset, end = e->end;
          const SType t = q_->keys[k]->type;
          e = std::make_unique<Expr>();
          e->kind = ExprKind::kGroupRef;
          e->offset = off;
          e->end = end;
          e->index = static_cast<int>(k);
          e->type = t;
          return;
        }
      }
    }
    switch (e->kind) {
      case ExprKind::kLiteral: e->type = of_value(e->lit); return;
      case ExprKind::kColumn: bind_column(*e, clause, grouped, in_agg); return;
      case ExprKind::kUnary: {
        bind(e->args[0], clause, grouped, in_agg);
        if (failed()) return;
        const SType t = e->args[0]->type;
        if (e->op == Op::kNot) {
          if (!unknown(t) && t != SType::kBool) {
            fail(e->args[0]->offset, std::string("NOT expects a boolean, got ") + stype_name(t));
            return;
          }
          e->type = SType::kBool;
        } else {
          if (!unknown(t) && !numeric(t)) {
            fail(e->args[0]->offset, std::string("unary '-' expects a number, got ") + stype_name(t));
            return;
          }
          e->type = unknown(t) ? SType::kAny : t;
        }
        return;
      }
      case ExprKind::kBinary: bind_binary(*e, clause, grouped, in_agg); return;
      case ExprKind::kFunc: bind_func(e, clause, grouped, in_agg); return;
      case ExprKind::kCase: {
        for (auto& a : e->args) bind(a, clause, grouped, in_agg);
        if (failed()) return;
        SType result = SType::kNull;
        const std::size_t first = e->has_operand ? 1 : 0;
        const std::size_t pairs_end = e->args.size() - (e->has_else ? 1 : 0);
        for (std::size_t k = first; k + 1 < pairs_end; k += 2) {  // (WHEN, THEN) pairs
          if (!e->has_operand) {
            const SType ct = e->args[k]->type;
            if (!unknown(ct) && ct != SType::kBool) {
              fail(e->args[k]->offset, std::string("CASE WHEN expects a boolean condition, got ") + stype_name(ct));
              return;
            }
          }
          result = unify(result, e->args[k + 1]->type);
        }
        if (e->has_else) result = unify(result, e->args.back()->type);
        e->type = result;
        return;
      }
      case ExprKind::kIn:
      case ExprKind::kBetween:
        for (auto& a : e->args) bind(a, clause, grouped, in_agg);
        if (failed()) return;
        for (std::size_t k = 1; k < e->args.size(); ++k) {
          if (!comparable(e->args[0]->type, e->args[k]->type)) {
            fail(e->args[k]->offset, std::string("cannot compare ") + stype_name(e->args[0]->type) + " with " +
                                         stype_name(e->args[k]->type));
            return;
          }
        }
        e->type = SType::kBool;
        return;
      case ExprKind::kIsNull:
        bind(e->args[0], clause, grouped, in_agg);
        e->type = SType::kBool;
        return;
      case ExprKind::kLike:
        for (auto& a : e->args) bind(a, clause, grouped, in_agg);
        if (failed()) return;
        for (auto& a : e->args) {
          if (!unknown(a->type) && a->type != SType::kString) {
            fail(a->offset, std::string("LIKE expects strings, got ") + stype_name(a->type));
            return;
          }
        }
        e->type = SType::kBool;
        return;
      case ExprKind::kCast: {
        bind(e->args[0], clause, grouped, in_agg);
        if (failed()) return;
        const std::string& t = e->name;
        if (t == "int" || t == "integer" || t == "bigint" || t == "int64" || t == "int32" || t == "smallint") {
          e->cast_to = SType::kInt;
        } else if (t == "double" || t == "float" || t == "float64" || t == "float32" || t == "real" ||
                   t == "decimal" || t == "numeric") {
          e->cast_to = SType::kDouble;
        } else if (t == "string" || t == "text" || t == "varchar" || t == "char") {
          e->cast_to = SType::kString;
        } else if (t == "bool" || t == "boolean") {
          e->cast_to = SType::kBool;
        } else if (t == "timestamp" || t == "datetime" || t == "datetime64") {
          e->cast_to = SType::kTimestamp;
        } else {
          fail(e->offset, "unknown type '" + t + "' in CAST (use int, double, string, bool or timestamp)");
          return;
        }
        e->type = e->cast_to;
        return;
      }
      case ExprKind::kPseudo:
      case ExprKind::kWindowStart:
      case ExprKind::kWindowEnd:
      case ExprKind::kAgg:
      case ExprKind::kGroupRef: return;
    }
  }

  std::vector<std::string> key_canon_;

 private:
  static SType unify(SType a, SType b) {
    if (a == SType::kNull) return b;
    if (b == SType::kNull) return a;
    if (a == b) return a;
    if (numeric(a) && numeric(b)) return SType::kDouble;
    return SType::kAny;
  }

  static bool comparable(SType a, SType b) {
    if (unknown(a) || unknown(b)) return true;
    if (numeric(a) && numeric(b)) return true;
    if (a == b) return true;
    // A timestamp compares with a time written as text or as epoch milliseconds.
    if (a == SType::kTimestamp && (b == SType::kString || numeric(b))) return true;
    if (b == SType::kTimestamp && (a == SType::kString || numeric(a))) return true;
    return false;
  }

  void bind_column(Expr& e, Clause clause, bool grouped, bool in_agg) {
    const std::string l = lower(e.name);
    if (l == "window_start" || l == "window_end") {
      if (q_->ast.window == WindowKind::kNone) {
        fail(e.offset, l + " is only available in window queries (FROM tumble/hop/session(...))");
        return;
      }
      if (clause == Clause::kWhere || clause == Clause::kSession || in_agg) {
        fail(e.offset, l + " is not available in " + (in_agg ? std::string("an aggregate") : clause_name(clause)) +
                           " (only in SELECT, GROUP BY and HAVING)");
        return;
      }
      e.kind = l == "window_start" ? ExprKind::kWindowStart : ExprKind::kWindowEnd;
      e.type = SType::kTimestamp;
      return;
    }
    if (grouped && !in_agg) {
      bool known = l == "_tp_time" || l == "_ingest_time" || l == "_seq" || l == "_key";
      for (const auto& f : q_->schema.fields) known = known || f.name == e.name;
      const std::string s = known ? std::string() : suggest(e.name, field_names_);
      if (!s.empty()) {
        fail(e.offset, "unknown column '" + e.name + "' (did you mean '" + s + "'?)");
      } else {
        fail(e.offset, "column '" + e.name + "' must be in GROUP BY or inside an aggregate function");
      }
      return;
    }
    if (l == "_tp_time" || l == "_ingest_time" || l == "_seq" || l == "_key") {
      e.kind = ExprKind::kPseudo;
      if (l == "_tp_time") {
        e.index = static_cast<int>(Pseudo::kTpTime);
        e.type = SType::kTimestamp;
      } else if (l == "_ingest_time") {
        e.index = static_cast<int>(Pseudo::kIngestTime);
        e.type = SType::kTimestamp;
      } else if (l == "_seq") {
        e.index = static_cast<int>(Pseudo::kSeq);
        e.type = SType::kInt;
      } else {
        e.index = static_cast<int>(Pseudo::kKey);
        e.type = SType::kAny;  // string, or NULL for records without a key
      }
      return;
    }
    for (const auto& f : q_->schema.fields) {
      if (f.name == e.name) {
        e.declared = true;
        e.decl_type = f.type;
        e.type = of_column_type(f.type);
        q_->needs_payload = true;
        e.index = payload_field(e.name);
        return;
      }
    }
    // Not declared: a member of the payload typed by its JSON value, unless the name looks like
    // a typo of a declared field (then it is almost certainly one).
    const std::string s = suggest(e.name, field_names_);
    if (!s.empty()) {
      fail(e.offset, "unknown column '" + e.name + "' (did you mean '" + s + "'?)");
      return;
    }
    e.type = SType::kAny;
    q_->needs_payload = true;
    e.index = payload_field(e.name);
  }

  // The slot of a payload member in CompiledQuery::payload_fields (one per distinct name).
  int payload_field(const std::string& name) {
    auto& f = q_->payload_fields;
    for (std::size_t i = 0; i < f.size(); ++i)
      if (f[i] == name) return static_cast<int>(i);
    f.push_back(name);
    return static_cast<int>(f.size() - 1);
  }

  void bind_binary(Expr& e, Clause clause, bool grouped, bool in_agg) {
    bind(e.args[0], clause, grouped, in_agg);
    bind(e.args[1], clause, grouped, in_agg);
    if (failed()) return;
    const SType a = e.args[0]->type, b = e.args[1]->type;
    const std::string op = op_text(e.op);
    switch (e.op) {
      case Op::kAnd:
      case Op::kOr:
        for (const auto& x : e.args) {
          if (!unknown(x->type) && x->type != SType::kBool) {
            fail(x->offset, op + " expects booleans, got " + stype_name(x->type));
            return;
          }
        }
        e.type = SType::kBool;
        return;
      case Op::kEq:
      case Op::kNe:
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe:
        if (!comparable(a, b)) {
          fail(e.args[1]->offset, std::string("cannot compare ") + stype_name(a) + " with " + stype_name(b));
          return;
        }
        e.type = SType::kBool;
        return;
      case Op::kConcat: e.type = SType::kString; return;
      case Op::kAdd:
      case Op::kSub:
        if (a == SType::kTimestamp && (numeric(b) || unknown(b))) {
          e.type = SType::kTimestamp;
          return;
        }
        if (e.op == Op::kSub && a == SType::kTimestamp && b == SType::kTimestamp) {
          e.type = SType::kInt;
          return;
        }
        if (e.op == Op::kAdd && b == SType::kTimestamp && (numeric(a) || unknown(a))) {
          e.type = SType::kTimestamp;
          return;
        }
        [[fallthrough]];
      case Op::kMul:
      case Op::kDiv:
      case Op::kMod:
        for (const auto& x : e.args) {
          if (!unknown(x->type) && !numeric(x->type)) {
            fail(x->offset, "operator '" + op + "' expects numbers, got " + stype_name(x->type) +
                                (x->type == SType::kString && e.op == Op::kAdd ? " (use || or concat() for strings)" : ""));
            return;
          }
        }
        if (e.op == Op::kDiv) {
          e.type = SType::kDouble;
        } else if (unknown(a) || unknown(b)) {
          e.type = SType::kAny;
        } else {
          e.type = (a == SType::kInt && b == SType::kInt) ? SType::kInt : SType::kDouble;
        }
        return;
      default: return;
    }
  }

  void bind_func(ExprP& e, Clause clause, bool grouped, bool in_agg) {
    const AggInfo* agg = find_aggregate(e->name);
    if (agg || e->distinct) {
      if (e->distinct && e->name != "count") {
        fail(e->offset, "DISTINCT is only supported in count(DISTINCT x)");
        return;
      }
      bind_aggregate(e, agg, clause, in_agg);
      (void)grouped;
      return;
    }
    if (e->star) {
      fail(e->offset, "'*' is only allowed in count(*)");
      return;
    }
    const FnInfo* fn = find_function(e->name);
    if (!fn) {
      std::vector<std::string> names;
      for (const auto& f : kFunctions) names.emplace_back(f.name);
      for (const auto& a : kAggregates) names.emplace_back(a.name);
      const std::string s = suggest(e->name, names);
      if (e->name == "tumble" || e->name == "hop" || e->name == "session" || e->name == "table") {
        fail(e->offset, e->name + "() is only allowed in FROM");
      } else {
        fail(e->offset, "unknown function '" + e->name + "'" + (s.empty() ? "" : " (did you mean '" + s + "'?)"));
      }
      return;
    }
    const int n = static_cast<int>(e->args.size());
    if (n < fn->min_args || (fn->max_args >= 0 && n > fn->max_args)) {
      std::string want;
      if (fn->max_args < 0) {
        want = "at least " + std::to_string(fn->min_args);
      } else if (fn->min_args == fn->max_args) {
        want = std::to_string(fn->min_args);
      } else {
        want = std::to_string(fn->min_args) + " to " + std::to_string(fn->max_args);
      }
      fail(e->offset, e->name + "() takes " + want + " argument" + (want == "1" ? "" : "s") + ", got " +
                          std::to_string(n));
      return;
    }
    for (auto& a : e->args) bind(a, clause, grouped, in_agg);
    if (failed()) return;
    e->index = static_cast<int>(fn->id);
    auto want_num = [&](std::size_t k) {
      const SType t = e->args[k]->type;
      if (!unknown(t) && !numeric(t)) {
        fail(e->args[k]->offset, e->name + "() expects a number, got " + stype_name(t));
        return false;
      }
      return true;
    };
    auto want_str = [&](std::size_t k) {
      const SType t = e->args[k]->type;
      if (!unknown(t) && t != SType::kString) {
        fail(e->args[k]->offset, e->name + "() expects a string, got " + stype_name(t));
        return false;
      }
      return true;
    };
    switch (fn->id) {
      case Fn::kLower:
      case Fn::kUpper:
      case Fn::kTrim:
      case Fn::kLtrim:
      case Fn::kRtrim:
        if (!want_str(0)) return;
        e->type = SType::kString;
        return;
      case Fn::kReplace:
        for (std::size_t k = 0; k < 3; ++k)
          if (!want_str(k)) return;
        e->type = SType::kString;
        return;
      case Fn::kLength:
        if (!want_str(0)) return;
        e->type = SType::kInt;
        return;
      case Fn::kConcat:
      case Fn::kToString: e->type = SType::kString; return;
      case Fn::kSubstr:
        if (!want_str(0) || !want_num(1) || (n == 3 && !want_num(2))) return;
        e->type = SType::kString;
        return;
      case Fn::kStartsWith:
      case Fn::kEndsWith:
      case Fn::kContains:
        if (!want_str(0) || !want_str(1)) return;
        e->type = SType::kBool;
        return;
      case Fn::kAbs:
      case Fn::kSign:
        if (!want_num(0)) return;
        e->type = unknown(e->args[0]->type) ? SType::kAny : e->args[0]->type;
        if (fn->id == Fn::kSign) e->type = SType::kInt;
        return;
      case Fn::kRound:
      case Fn::kFloor:
      case Fn::kCeil:
      case Fn::kSqrt:
      case Fn::kLn:
      case Fn::kLog10:
      case Fn::kLog2:
      case Fn::kExp:
      case Fn::kPow:
        for (int k = 0; k < n; ++k)
          if (!want_num(static_cast<std::size_t>(k))) return;
        e->type = SType::kDouble;
        return;
      case Fn::kIntDiv:
      case Fn::kMod:
        if (!want_num(0) || !want_num(1)) return;
        e->type = fn->id == Fn::kIntDiv ? SType::kInt : SType::kAny;
        return;
      case Fn::kLeast:
      case Fn::kGreatest:
      case Fn::kCoalesce: {
        SType t = SType::kNull;
        for (int k = 0; k < n; ++k) {
          const SType at = e->args[static_cast<std::size_t>(k)]->type;
          if (fn->id != Fn::kCoalesce && k > 0 && !comparable(e->args[0]->type, at)) {
            fail(e->args[static_cast<std::size_t>(k)]->offset,
                 std::string("cannot compare ") + stype_name(e->args[0]->type) + " with " + stype_name(at));
            return;
          }
          t = unify(t, at);
        }
        e->type = t;
        return;
      }
      case Fn::kMultiIf: {
        if (n % 2 == 0) {
          fail(e->offset, "multi_if() takes condition, value pairs and a final else value (an odd number of arguments)");
          return;
        }
        SType t = SType::kNull;
        for (int k = 0; k + 1 < n; k += 2) {
          const SType c = e->args[static_cast<std::size_t>(k)]->type;
          if (!unknown(c) && c != SType::kBool) {
            fail(e->args[static_cast<std::size_t>(k)]->offset,
                 std::string("multi_if() expects a boolean condition, got ") + stype_name(c));
            return;
          }
          t = unify(t, e->args[static_cast<std::size_t>(k + 1)]->type);
        }
        e->type = unify(t, e->args.back()->type);
        return;
      }
      case Fn::kIf: {
        const SType c = e->args[0]->type;
        if (!unknown(c) && c != SType::kBool) {
          fail(e->args[0]->offset, std::string("if() expects a boolean condition, got ") + stype_name(c));
          return;
        }
        e->type = unify(e->args[1]->type, e->args[2]->type);
        return;
      }
      case Fn::kNullIf: e->type = e->args[0]->type; return;
      case Fn::kToInt: e->type = SType::kInt; return;
      case Fn::kToFloat: e->type = SType::kDouble; return;
      case Fn::kToBool: e->type = SType::kBool; return;
      case Fn::kToUnixMs:
        if (!unknown(e->args[0]->type) && e->args[0]->type != SType::kTimestamp) {
          fail(e->args[0]->offset, std::string("to_unix_ms() expects a timestamp, got ") +
                                       stype_name(e->args[0]->type));
          return;
        }
        e->type = SType::kInt;
        return;
    }
  }

  void bind_aggregate(ExprP& e, const AggInfo* info, Clause clause, bool in_agg) {
    const std::string shown = e->name + "()";
    if (clause != Clause::kSelect && clause != Clause::kHaving) {
      fail(e->offset, "aggregate function " + shown + " is not allowed in " + clause_name(clause));
      return;
    }
    if (in_agg) {
      fail(e->offset, "aggregate function " + shown + " cannot be nested inside another aggregate");
      return;
    }
    AggSpec spec;
    spec.kind = info->kind;
    spec.q = info->q;
    const std::size_t n = e->args.size();
    if (e->distinct) spec.kind = AggKind::kCountDistinct;
    if (spec.kind == AggKind::kCount) {
      if (e->star || n == 0) {
        if (n != 0) {
          fail(e->offset, "count(*) takes no other argument");
          return;
        }
      } else if (n == 1) {
        spec.kind = AggKind::kCountX;
      } else {
        fail(e->offset, "count() takes 0 or 1 arguments, got " + std::to_string(n));
        return;
      }
    } else if (e->star) {
      fail(e->offset, "'*' is only allowed in count(*)");
      return;
    } else if (spec.kind == AggKind::kQuantile && std::string(info->name) == "quantile") {
      if (n != 2) {
        fail(e->offset, "quantile() takes 2 arguments (value, level), got " + std::to_string(n));
        return;
      }
      const Expr& qe = *e->args[1];
      if (qe.kind != ExprKind::kLiteral || !qe.lit.is_number() || !(qe.lit.as_double() >= 0.0) ||
          !(qe.lit.as_double() <= 1.0)) {
        fail(qe.offset, "quantile() level must be a number literal between 0 and 1");
        return;
      }
      spec.q = qe.lit.as_double();
      e->args.pop_back();
    } else if (n != 1) {
      fail(e->offset, shown + " takes 1 argument, got " + std::to_string(n));
      return;
    }
    if (!e->args.empty()) {
      bind(e->args[0], clause, false, true);
      if (failed()) return;
      spec.arg = e->args[0].get();
      spec.arg_type = e->args[0]->type;
      const SType t = spec.arg_type;
      const bool wants_number = spec.kind == AggKind::kSum || spec.kind == AggKind::kAvg ||
                                spec.kind == AggKind::kQuantile || spec.kind == AggKind::kStddevPop ||
                                spec.kind == AggKind::kStddevSamp;
      if (wants_number && !unknown(t) && !numeric(t)) {
        fail(e->args[0]->offset, shown + " expects a number, got " + stype_name(t));
        return;
      }
    }
    // Identical aggregates (e.g. count() in SELECT and HAVING) share one state.
    const std::string c = canon(*e) + "#" + std::to_string(spec.q);
    for (std::size_t k = 0; k < agg_canon_.size(); ++k) {
      if (agg_canon_[k] == c) {
        make_agg_ref(e, k);
        return;
      }
    }
    agg_canon_.push_back(c);
    agg_exprs_.push_back(std::move(e));
    q_->aggs.push_back(spec);
    make_agg_ref(e, q_->aggs.size() - 1);
  }

  void make_agg_ref(ExprP& e, std::size_t k) {
    const Expr& src = *agg_exprs_[k];
    const AggSpec& spec = q_->aggs[k];
    e = std::make_unique<Expr>();
    e->kind = ExprKind::kAgg;
    e->offset = src.offset;
    e->end = src.end;
    e->index = static_cast<int>(k);
    switch (spec.kind) {
      case AggKind::kCount:
      case AggKind::kCountX:
      case AggKind::kCountDistinct: e->type = SType::kInt; break;
      case AggKind::kSum: e->type = spec.arg_type == SType::kInt ? SType::kInt : unknown(spec.arg_type) ? SType::kAny : SType::kDouble; break;
      case AggKind::kMin:
      case AggKind::kMax:
      case AggKind::kEarliest:
      case AggKind::kLatest: e->type = spec.arg_type; break;
      default: e->type = SType::kDouble; break;
    }
  }

 public:
  // Owns the aggregate call expressions (their arguments are evaluated per record).
  std::vector<ExprP> agg_exprs_;

 private:
  std::vector<std::string> agg_canon_;
  CompiledQuery* q_;
  SqlError* err_;
  std::vector<std::string> field_names_;
};

// Replaces identifiers that name a SELECT alias (and are not stream columns) by a copy of the
// aliased expression: ClickHouse/Proton allow `HAVING n > 3` for `count() AS n`.
void substitute_aliases(ExprP& e, const Ast& ast, const StreamSchema& schema) {
  if (e->kind == ExprKind::kColumn && e->path.size() == 1) {
    for (const auto& f : schema.fields)
      if (f.name == e->name) return;
    for (const auto& item : ast.items) {
      if (item.expr && !item.alias.empty() && item.alias == e->name) {
        const std::size_t off = e->offset, end = e->end;
        e = clone(*item.expr);
        e->offset = off;
        e->end = end;
        return;
      }
    }
    return;
  }
  for (auto& a : e->args) substitute_aliases(a, ast, schema);
}

// The deepest node of an expression, found without recursion: long operator chains such as
// 1+1+...+1 parse iteratively, but binding and evaluation recurse, so depth is capped here.
const Expr* too_deep(const Expr& root, std::size_t limit) {
  std::vector<std::pair<const Expr*, std::size_t>> stack{{&root, 1}};
  while (!stack.empty()) {
    auto [e, d] = stack.back();
    stack.pop_back();
    if (d > limit) return e;
    for (const auto& a : e->args) stack.emplace_back(a.get(), d + 1);
  }
  return nullptr;
}

}  // namespace

std::variant<std::shared_ptr<const Query>, SqlError> compile_impl(std::string_view sql, const Catalog& catalog) {
  auto q = std::make_shared<CompiledQuery>();
  SqlError err;
  auto fail = [&](std::size_t at, std::string msg) -> std::variant<std::shared_ptr<const Query>, SqlError> {
    if (err.message.empty()) {
      err.message = std::move(msg);
      err.offset = at;
    }
    set_line_column(sql, &err);
    return err;
  };
  if (!parse_sql(sql, &q->ast, &err)) return fail(err.offset, err.message);
  Ast& ast = q->ast;
  {
    std::vector<const Expr*> roots;
    for (const auto& item : ast.items)
      if (item.expr) roots.push_back(item.expr.get());
    for (const auto& g : ast.group_by) roots.push_back(g.get());
    for (const ExprP* e : {&ast.where, &ast.having, &ast.start_cond, &ast.end_cond})
      if (*e) roots.push_back(e->get());
    for (const Expr* r : roots) {
      if (const Expr* deep = too_deep(*r, 256)) return fail(deep->offset, "expression nested too deeply (more than 256 levels)");
    }
  }
  const StreamSchema* schema = catalog ? catalog(ast.stream) : nullptr;
  if (!schema) return fail(ast.stream_offset, "unknown stream '" + ast.stream + "'");
  q->schema = *schema;

  // The window's time argument: the stream's event time.
  if (ast.window != WindowKind::kNone) {
    const std::string l = lower(ast.ts_name);
    const bool ok = l == "_tp_time" || (!schema->time_field.empty() && ast.ts_name == schema->time_field);
    if (!ok) {
      std::string msg = "the window time column must be the stream's event time: ";
      msg += schema->time_field.empty() ? std::string("_tp_time (stream '") + ast.stream + "' has no time field)"
                                        : "'" + schema->time_field + "' (its time field) or _tp_time";
      return fail(ast.ts_offset, msg + ", got '" + ast.ts_name + "'");
    }
  }

  bool has_agg = false;
  for (const auto& item : ast.items)
    if (item.expr && contains_aggregate(*item.expr)) has_agg = true;
  if (ast.having && contains_aggregate(*ast.having)) has_agg = true;
  q->aggregating = has_agg || !ast.group_by.empty();

  for (const auto& item : ast.items) {
    if (!item.expr) {
      if (ast.items.size() != 1) return fail(item.offset, "'*' cannot be combined with other SELECT columns");
      if (q->aggregating || ast.window != WindowKind::kNone)
        return fail(item.offset, "SELECT * is not allowed in an aggregation or window query");
      q->select_star = true;
      q->needs_payload = true;
    }
  }
  if (ast.window != WindowKind::kNone && !q->aggregating)
    return fail(ast.items.front().offset,
                "a window query needs aggregate functions or GROUP BY (e.g. SELECT window_start, count() ...)");
  if (ast.window == WindowKind::kNone && q->aggregating && !ast.historical) {
    const std::size_t at = ast.group_by.empty() ? ast.items.front().offset : ast.group_by_offset;
    return fail(at, "a streaming aggregation needs a window: use FROM tumble(" + ast.stream +
                        ", <time>, 1m), hop(...) or session(...), or table(" + ast.stream +
                        ") for a one-off query over stored data");
  }
  if (ast.having && !q->aggregating) return fail(ast.having->offset, "HAVING needs GROUP BY or aggregate functions");
  if (ast.has_emit && ast.window == WindowKind::kNone)
    return fail(ast.emit_offset, "EMIT is only allowed in window queries (FROM tumble/hop/session(...))");

  Binder binder(q.get(), &err);
  if (ast.where) {
    substitute_aliases(ast.where, ast, q->schema);  // `WHERE f > 100` for `temp * 1.8 + 32 AS f`
    binder.bind(ast.where, Clause::kWhere, false, false);
    if (binder.failed()) return fail(err.offset, err.message);
    const SType t = ast.where->type;
    if (!unknown(t) && t != SType::kBool)
      return fail(ast.where->offset, std::string("WHERE expects a boolean condition, got ") + stype_name(t));
  }
  for (ExprP* cond : {&ast.start_cond, &ast.end_cond}) {
    if (!*cond) continue;
    binder.bind(*cond, Clause::kSession, false, false);
    if (binder.failed()) return fail(err.offset, err.message);
    const SType t = (*cond)->type;
    if (!unknown(t) && t != SType::kBool)
      return fail((*cond)->offset, std::string("a session condition must be a boolean, got ") + stype_name(t));
  }
  // GROUP BY: window_start/window_end are implicit in window queries; other keys are bound as
  // row expressions and later matched in SELECT/HAVING by their canonical text.
  for (auto& g : ast.group_by) {
    substitute_aliases(g, ast, q->schema);
    if (contains_aggregate(*g)) {
      binder.bind(g, Clause::kGroupBy, false, false);  // reports the aggregate
      return fail(err.offset, err.message);
    }
    const std::string c = canon(*g);
    if (g->kind == ExprKind::kColumn && (lower(g->name) == "window_start" || lower(g->name) == "window_end")) {
      binder.bind(g, Clause::kGroupBy, false, false);
      if (binder.failed()) return fail(err.offset, err.message);
      continue;
    }
    if (g->kind == ExprKind::kLiteral && g->lit.type == VType::kInt)
      return fail(g->offset, "GROUP BY by column position is not supported: name the column");
    bool dup = false;
    for (const auto& k : binder.key_canon_) dup = dup || k == c;
    binder.bind(g, Clause::kGroupBy, false, false);
    if (binder.failed()) return fail(err.offset, err.message);
    if (dup) continue;
    binder.key_canon_.push_back(c);
    q->keys.push_back(g.get());
  }
  if (ast.having) substitute_aliases(ast.having, ast, q->schema);  // before SELECT is bound
  for (auto& item : ast.items) {
    if (!item.expr) continue;
    binder.bind(item.expr, Clause::kSelect, q->aggregating, false);
    if (binder.failed()) return fail(err.offset, err.message);
  }
  if (ast.having) {
    binder.bind(ast.having, Clause::kHaving, true, false);
    if (binder.failed()) return fail(err.offset, err.message);
    const SType t = ast.having->type;
    if (!unknown(t) && t != SType::kBool)
      return fail(ast.having->offset, std::string("HAVING expects a boolean condition, got ") + stype_name(t));
  }
  q->agg_exprs = std::move(binder.agg_exprs_);
  {
    std::vector<std::string> seen;
    for (auto& spec : q->aggs) {
      if (!spec.arg) continue;
      const std::string c = canon(*spec.arg);
      const auto it = std::find(seen.begin(), seen.end(), c);
      if (it != seen.end()) {
        spec.arg_slot = static_cast<int>(it - seen.begin());
        continue;
      }
      spec.arg_slot = static_cast<int>(seen.size());
      seen.push_back(c);
      q->agg_args.push_back(spec.arg);
    }
  }

  for (const auto& item : ast.items) {
    for (const auto& n : q->column_names) {
      if (n == item.name) return fail(item.offset, "duplicate output column '" + item.name + "' (use AS to rename)");
    }
    if (item.name == "_revision") return fail(item.offset, "the output column name '_revision' is reserved");
    q->column_names.push_back(item.name);
  }
  q->fingerprint = XXH3_64bits(ast.fingerprint.data(), ast.fingerprint.size());
  return std::shared_ptr<const Query>(q);
}

}  // namespace outpost::query::internal

namespace outpost::query {

std::variant<std::shared_ptr<const Query>, SqlError> compile(std::string_view sql, const Catalog& catalog) {
  return internal::compile_impl(sql, catalog);
}

}  // namespace outpost::query
