// libFuzzer target for payload access in the query engine (agent/query/eval.cpp): the input is
// one record's payload. The flat-object fast path (scan_flat) must agree exactly with simdjson's
// DOM: the same payloads accepted (so bad records are counted the same), the same value and the
// same type error for every column, and the executor's shortcuts (flat_text, flat_number) must
// give what eval() gives. Any difference aborts.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "agent/query/query_internal.h"
#include "tests/fuzz/fuzz_query_common.h"

namespace {

using namespace outpost;
using namespace outpost::query;
using namespace outpost::query::internal;

const CompiledQuery& the_query() {
  static const std::shared_ptr<const Query> q = [] {
    auto r = compile("SELECT device, temp, hum, ok, ts, meta.fw, site, extra, `a.b`, big FROM readings",
                     fuzz::readings_catalog());
    if (!std::holds_alternative<std::shared_ptr<const Query>>(r)) std::abort();
    return std::get<std::shared_ptr<const Query>>(r);
  }();
  return static_cast<const CompiledQuery&>(*q);
}

std::string eval_all(const CompiledQuery& q, Evaluator& ev, std::string_view payload, bool check_shortcuts) {
  if (!ev.parse(payload)) return "reject";
  std::string out;
  for (const auto& item : q.ast.items) {
    EvalContext ctx;
    ctx.doc = ev.doc();
    const Value v = ev.eval(*item.expr, ctx);
    if (check_shortcuts) {
      Value n;
      std::string_view text;
      if (ev.flat_number(*item.expr, ctx, &n)) {
        if (ctx.error || n.type != v.type) std::abort();
        if (n.type == VType::kInt && n.i != v.i) std::abort();
        if (n.type == VType::kDouble && std::memcmp(&n.d, &v.d, sizeof n.d) != 0) std::abort();
      }
      if (ev.flat_text(*item.expr, ctx, &text) && (ctx.error || v.type != VType::kString || v.s != text)) std::abort();
    }
    out += ctx.error ? std::string("ERR") : std::string(vtype_name(v.type)) + ":";
    if (!ctx.error) append_value_json(&out, v);
    out += ' ';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const CompiledQuery& q = the_query();
  static Evaluator fast, dom;
  static const bool init = [&] {
    fast.set_fields(&q.payload_fields);
    return true;
  }();
  (void)init;
  const std::string payload(reinterpret_cast<const char*>(data), size);
  if (eval_all(q, fast, payload, true) != eval_all(q, dom, payload, false)) std::abort();
  return 0;
}
