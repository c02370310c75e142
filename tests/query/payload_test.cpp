// The flat-object fast path of payload parsing (eval.cpp scan_flat) against simdjson's DOM,
// which it must agree with exactly: same records accepted, same values, same type errors.
#include <charconv>
#include <cmath>
#include <cstring>
#include <random>

#include "agent/query/query_internal.h"
#include "tests/query/query_test_util.h"

using namespace qt;
using namespace outpost::query::internal;

namespace {

// Evaluates every SELECT column of `sql` over `payload` with the fast path enabled and with the
// DOM only; returns "reject", or the values (JSON, "ERR" for a type error) of both.
struct Both {
  std::string fast, dom;
  bool flat = false;
};

std::string eval_all(const CompiledQuery& q, Evaluator& ev, std::string_view payload) {
  if (!ev.parse(payload)) return "reject";
  std::string out;
  for (const auto& item : q.ast.items) {
    EvalContext ctx;
    ctx.doc = ev.doc();
    const Value v = ev.eval(*item.expr, ctx);
    // The executor's shortcuts for flat payloads must give what eval() gives.
    Value n;
    std::string_view text;
    if (ev.flat_number(*item.expr, ctx, &n)) {
      CHECK(!ctx.error);
      CHECK(n.type == v.type);
      if (n.type == VType::kInt) CHECK(n.i == v.i);
      if (n.type == VType::kDouble) CHECK(std::memcmp(&n.d, &v.d, sizeof n.d) == 0);
    }
    if (ev.flat_text(*item.expr, ctx, &text)) {
      CHECK(!ctx.error);
      CHECK(v.type == VType::kString);
      CHECK(v.s == text);
    }
    out += ctx.error ? std::string("ERR") : std::string(vtype_name(v.type)) + ":";
    if (!ctx.error) append_value_json(&out, v);
    out += ' ';
  }
  return out;
}

const std::string kSql =
    "SELECT device, temp, hum, ok, ts, site, meta.fw, extra, `a.b`, big FROM readings";

Both both(std::string_view payload) {
  static const auto hold = must_compile(kSql);
  const auto& q = static_cast<const CompiledQuery&>(*hold);
  Evaluator fast, dom;
  fast.set_fields(&q.payload_fields);
  Both b;
  b.fast = eval_all(q, fast, payload);
  b.flat = fast.parsed_flat();
  b.dom = eval_all(q, dom, payload);
  return b;
}

}  // namespace

TEST_CASE("FlatPayloadFastPathAgreesWithTheDom") {
  struct Case {
    const char* payload;
    bool flat;  // expected to take the fast path
  };
  const Case cases[] = {
      {R"({"device":"dev-1","temp":21.5,"hum":40,"ok":true,"ts":1767225600000})", true},
      {R"( { "device" : "d" , "temp" : -0.25 , "hum" : null } )", true},
      {"\t{\"device\":\"d\",\r\n\"temp\":3}\n", true},
      {R"({})", true},
      {R"({"temp":1,"temp":2})", true},                       // first of duplicates
      {R"({"hum":1.0})", true},                                // double 1.0 in an int field
      {R"({"hum":1.5})", true},                                // type error
      {R"({"temp":"warm"})", true},                            // type error
      {R"({"ok":1})", true},                                   // type error
      {R"({"ts":"2026-01-01T00:00:00Z"})", true},
      {R"({"ts":1767225600})", true},
      {R"({"a.b":5,"extra":false})", true},
      {R"({"meta.fw":"x"})", true},
      {R"({"big":9223372036854775807})", true},
      {R"({"big":-9223372036854775808})", true},
      {R"({"big":0.1234567890123456789})", true},              // from_chars, not the fast division
      {R"({"big":123456789012345.6})", true},
      {R"({"temp":-0.0,"big":0})", true},
      {R"({"big":0.0000000000000000000001})", true},           // 22 decimals: the exact division
      {R"({"big":0.0000000000000000000001e0})", false},        // exponent: the DOM
      {R"({"big":0.0000000000000000000000001})", false},       // over 24 bytes: the DOM
      {R"({"big":12345678901234567.5})", true},                // 18 digits: from_chars
      {R"({"big":123456789012345678,"temp":99999999999999.99})", true},
      {R"({"big":-1234567890123456789,"temp":-1234567890123456.7})", true},
      {R"({"big":9223372036854775808})", false},               // uint64: the DOM decides
      {R"({"big":-0})", false},
      {R"({"big":1e3})", false},
      {R"({"big":1E-400})", false},
      {R"({"device":"caf\u00e9"})", false},
      {"{\"device\":\"caf\xc3\xa9\"}", false},
      {R"({"meta":{"fw":"1.2"}})", false},
      {R"({"extra":[1,2]})", false},
      // Not JSON, or not an object: rejected by both.
      {"", false}, {"not json", false}, {"[1,2]", false}, {"\"s\"", false}, {"12", false},
      {R"({"device":"d")", false}, {R"({"device":"d",})", false}, {R"({"device" "d"})", false},
      {R"({"temp":01})", false}, {R"({"temp":1.})", false}, {R"({"temp":.5})", false},
      {R"({"temp":+1})", false}, {R"({"temp":tru})", false}, {R"({"temp":nul})", false},
      {R"({"temp":truex})", false}, {R"({"temp":1}x)", false}, {R"({"temp":1}{})", false},
      {"{\"device\":\"a\tb\"}", false}, {"{\"device\":\"a\"\0}", false}, {R"({"d":"\x"})", false},
      {"{\"device\":\"\xff\"}", false}, {R"({device:"d"})", false}, {R"({"temp":1,,"hum":2})", false},
      {R"({"temp":-})", false}, {R"({"temp":1.5e})", false}, {R"({"temp":NaN})", false},
  };
  for (const auto& c : cases) {
    const std::string payload(c.payload);
    const Both b = both(payload);
    CAPTURE(payload);
    CHECK(b.fast == b.dom);
    CHECK(b.flat == c.flat);
  }
}

TEST_CASE("FlatPayloadFastPathAgreesWithTheDomOnMutations") {
  // Random edits of valid payloads with JSON's own characters: whatever the fast path accepts,
  // the DOM accepts with the same values; whatever it declines, the DOM decides.
  const std::string seeds[] = {
      R"({"device":"dev-00042","ts":1767225598966,"temp":16.21,"hum":40,"ok":true})",
      R"({"temp":-3.5,"site":"north","extra":null,"big":12345678901234567890})",
      R"( {"a.b" : 1.0 , "meta.fw":"v1", "ok":false} )",
  };
  const std::string alphabet = "{}[]\":,.-+eE0123456789 \t\\/tfnulrsa\x01\x80";
  std::mt19937 rng(20261129);
  int flat = 0, total = 0;
  for (int iter = 0; iter < 30000; ++iter) {
    std::string p = seeds[iter % 3];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits; ++k) {
      const std::size_t at = rng() % (p.size() + 1);
      const char ch = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: if (at < p.size()) p[at] = ch; break;
        case 1: p.insert(p.begin() + static_cast<std::ptrdiff_t>(at), ch); break;
        default: if (at < p.size()) p.erase(at, 1); break;
      }
    }
    const Both b = both(p);
    ++total;
    if (b.flat) ++flat;
    if (b.fast != b.dom) {
      CAPTURE(p);
      CHECK(b.fast == b.dom);
    }
  }
  CHECK(flat > total / 20);  // the mutations do exercise the fast path
}

TEST_CASE("DoublesAreWrittenExactlyLikeToChars") {
  // append_value_json has a fast path for short decimals; it must write what std::to_chars
  // writes (the shortest round-trip text) for every double.
  auto expect = [](double d) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, r.ptr);
  };
  auto ours = [](double d) {
    std::string s;
    append_value_json(&s, Value::of_double(d));
    return s;
  };
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> unit(0, 1);
  int checked = 0;
  auto check = [&](double d) {
    if (!std::isfinite(d)) return;
    ++checked;
    const std::string a = ours(d), b = expect(d);
    if (a != b) {
      CAPTURE(d);
      CHECK(a == b);
    }
  };
  const double fixed[] = {0.001, 0.0015, 0.01, 0.1, 0.5, 1, 2, 10, 16, 100, 1000, 12345, 100000, 120000,
                          1e6, 1.5e6, 1234567, 1e14, 999999999999999, 1e15, 0.3, 0.7, 18.48, 18.5,
                          21.999999999999996, 2.675, 1.005, 0.000999, 123456789012.345, 5e-324,
                          4503599627370496.5, 9007199254740993.0, -0.0, 0.0, 1.0 / 3, 2.0 / 3};
  for (double d : fixed) {
    check(d);
    check(-d);
  }
  for (int i = 0; i < 400000; ++i) {
    // Decimals with 0-7 places at magnitudes 1e-4..1e15, their neighbours, averages, and raw bits.
    const int places = static_cast<int>(rng() % 8);
    const double mag = std::pow(10.0, static_cast<int>(rng() % 19) - 4);
    const double m = std::floor(unit(rng) * mag * std::pow(10.0, places));
    const double d = m / std::pow(10.0, places);
    check(d);
    check(std::nextafter(d, 0.0));
    check(std::nextafter(d, 1e300));
    check((d + 1.37) / 6);
    std::uint64_t bits = rng();
    double r;
    std::memcpy(&r, &bits, sizeof r);
    check(r);
    check(std::ldexp(1.0, static_cast<int>(rng() % 120) - 60));
  }
  CHECK(checked > 2000000);
}
