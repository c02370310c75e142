// Aggregate states: QuantileSketch accuracy against exact order statistics, determinism
// (shuffled input and merged partial states give byte-identical encodings), ExactSum exactness,
// DistinctCounter error bounds, encode/decode round trips and clean failure on bad bytes.
#include "agent/query/sketches.h"

#include <doctest/doctest.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using outpost::query::DistinctCounter;
using outpost::query::ExactSum;
using outpost::query::QuantileSketch;

namespace {

const double kQs[] = {0.0, 0.01, 0.5, 0.9, 0.99, 1.0};

// The exact order statistic the sketch promises to approximate: rank floor(q * (n - 1)).
double exact_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::floor(q * static_cast<double>(v.size() - 1)));
  return v[rank];
}

// |estimate - exact| <= alpha * |exact|, up to a few ulps of floating point noise.
void check_accuracy(const std::vector<double>& data, const QuantileSketch& s, const char* what) {
  REQUIRE(s.count() == data.size());
  for (double q : kQs) {
    double x = exact_quantile(data, q);
    double est = s.quantile(q);
    double bound = s.relative_accuracy() * std::fabs(x) * (1 + 1e-12);
    INFO(what << " q=" << q << " exact=" << x << " estimate=" << est);
    CHECK(std::fabs(est - x) <= bound);
  }
}

std::string encoded(const QuantileSketch& s) {
  std::string out;
  s.encode(&out);
  return out;
}
std::string encoded(const ExactSum& s) {
  std::string out;
  s.encode(&out);
  return out;
}
std::string encoded(const DistinctCounter& s) {
  std::string out;
  s.encode(&out);
  return out;
}

QuantileSketch sketch_of(const std::vector<double>& data, double alpha = 0.01,
                         std::uint32_t max_buckets = 2048) {
  QuantileSketch s(alpha, max_buckets);
  for (double x : data) s.add(x);
  return s;
}

std::vector<double> uniform_data(std::size_t n, double lo, double hi, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<double> lognormal_data(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(0.0, 2.0);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Mixed signs with exact zeros and values spanning many decades.
std::vector<double> mixed_data(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, 50.0);
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = (i % 97 == 0) ? 0.0 : d(rng);
  return v;
}

std::vector<double> huge_range_data(std::size_t n, std::uint64_t seed, double decades = 300) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> e(-decades, decades);
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = (i % 2 ? 1 : -1) * std::pow(10.0, e(rng));
  return v;
}

#if defined(__SIZEOF_INT128__)
__extension__ typedef __int128 Int128;  // GCC/Clang on 64-bit targets; exact reference sums
#endif

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

TEST_CASE("quantile sketch: within alpha of the exact order statistic") {
  SUBCASE("uniform") {
    auto d = uniform_data(100000, 0, 100, 1);
    check_accuracy(d, sketch_of(d), "uniform");
  }
  SUBCASE("lognormal") {
    auto d = lognormal_data(100000, 2);
    check_accuracy(d, sketch_of(d), "lognormal");
  }
  SUBCASE("negative only") {
    auto d = lognormal_data(50000, 3);
    for (auto& x : d) x = -x;
    check_accuracy(d, sketch_of(d), "negative");
  }
  SUBCASE("mixed signs with zeros") {
    auto d = mixed_data(100000, 4);
    check_accuracy(d, sketch_of(d), "mixed");
  }
  SUBCASE("constant") {
    std::vector<double> d(1000, 42.5);
    check_accuracy(d, sketch_of(d), "constant");
    std::vector<double> z(10, 0.0);
    auto s = sketch_of(z);
    for (double q : kQs) CHECK(s.quantile(q) == 0.0);
  }
  SUBCASE("tiny") {
    check_accuracy({7.25}, sketch_of({7.25}), "one");
    check_accuracy({-3, 5}, sketch_of({-3, 5}), "two");
    check_accuracy({0.001, 1e6, -2}, sketch_of({0.001, 1e6, -2}), "three");
    check_accuracy({0, 0, 3}, sketch_of({0, 0, 3}), "zeros");
  }
  SUBCASE("huge range (500 decades each sign), enough buckets") {
    auto d = huge_range_data(20000, 5, 250);
    check_accuracy(d, sketch_of(d, 0.01, 1u << 16), "huge");
  }
  SUBCASE("other alpha") {
    auto d = lognormal_data(20000, 6);
    // 0.1% over a range of e^18 needs ~9000 buckets; 2048 would collapse the low half.
    check_accuracy(d, sketch_of(d, 0.001, 1u << 14), "alpha 0.001");
    check_accuracy(d, sketch_of(d, 0.05), "alpha 0.05");
  }
  SUBCASE("infinities clamp to +-max, NaN is ignored") {
    QuantileSketch s;
    s.add(std::numeric_limits<double>::quiet_NaN());
    CHECK(s.count() == 0);
    CHECK(std::isnan(s.quantile(0.5)));
    s.add(std::numeric_limits<double>::infinity());
    s.add(-std::numeric_limits<double>::infinity());
    s.add(std::numeric_limits<double>::denorm_min());
    CHECK(s.count() == 3);
    CHECK(s.quantile(1) == std::numeric_limits<double>::max());
    CHECK(s.quantile(0) == -std::numeric_limits<double>::max());
    CHECK(s.quantile(0.5) > 0);
  }
}

TEST_CASE("quantile sketch: merge equals adding everything, in any order") {
  auto d = mixed_data(30000, 7);
  auto huge = huge_range_data(5000, 8);
  d.insert(d.end(), huge.begin(), huge.end());  // also exercises collapsing
  std::string all = encoded(sketch_of(d));
  SUBCASE("shuffled input gives the same bytes") {
    std::mt19937_64 rng(9);
    for (int round = 0; round < 3; ++round) {
      std::shuffle(d.begin(), d.end(), rng);
      CHECK(encoded(sketch_of(d)) == all);
    }
    std::vector<double> sorted = d;
    std::sort(sorted.begin(), sorted.end());
    CHECK(encoded(sketch_of(sorted)) == all);
    std::reverse(sorted.begin(), sorted.end());
    CHECK(encoded(sketch_of(sorted)) == all);
  }
  SUBCASE("merging partial states") {
    std::mt19937_64 rng(10);
    for (int parts : {2, 3, 17, 1000}) {
      std::vector<QuantileSketch> ps(static_cast<std::size_t>(parts));
      for (double x : d) ps[rng() % ps.size()].add(x);
      QuantileSketch m;
      for (auto& p : ps) m.merge(p);
      CHECK(encoded(m) == all);
      CHECK(m.count() == d.size());
    }
  }
  SUBCASE("tiny states merged into big ones and back") {
    QuantileSketch a = sketch_of({1, 2});
    QuantileSketch b = sketch_of({-5, 0, 1e9, 3, 4, 5});
    QuantileSketch ab = a;
    ab.merge(b);
    QuantileSketch ba = b;
    ba.merge(a);
    CHECK(encoded(ab) == encoded(ba));
    CHECK(encoded(ab) == encoded(sketch_of({1, 2, -5, 0, 1e9, 3, 4, 5})));
    QuantileSketch self = a;
    self.merge(self);
    CHECK(encoded(self) == encoded(sketch_of({1, 2, 1, 2})));
  }
}

TEST_CASE("quantile sketch: collapsing bounds memory and keeps the high quantiles") {
  // 600 decades of positive values need ~69000 buckets at 1%; only 64 are allowed.
  auto d = huge_range_data(20000, 11);
  for (auto& x : d) x = std::fabs(x);
  QuantileSketch s = sketch_of(d, 0.01, 64);
  CHECK(s.count() == d.size());
  // 64 buckets of 8 bytes (dense) plus the fixed parts.
  CHECK(s.memory_bytes() < 64 * 8 + 512);
  CHECK(encoded(s).size() < 64 * 12 + 32);
  // The top 64 buckets span a factor gamma^64 ~ 3.6: quantiles within that of the maximum
  // keep their accuracy.
  double top = exact_quantile(d, 1.0);
  int checked = 0;
  for (double q : {0.9999, 0.99995, 1.0}) {
    double x = exact_quantile(d, q);
    if (x < top / 3.5) continue;
    ++checked;
    CHECK(std::fabs(s.quantile(q) - x) <= 0.01 * x * (1 + 1e-12));
  }
  CHECK(checked >= 1);
  // Lower quantiles are collapsed upward: never below the exact value (less alpha).
  CHECK(s.quantile(0.0) >= exact_quantile(d, 0.0) * (1 - 0.01));
  // Same bound with the default 2048 buckets.
  QuantileSketch big = sketch_of(d);
  CHECK(big.memory_bytes() < 2048 * 8 + 1024);
  // Negative values collapse the most negative ones (the lowest quantiles) too.
  for (auto& x : d) x = -x;
  QuantileSketch n = sketch_of(d, 0.01, 64);
  for (double q : {0.0, 0.001}) {
    double x = exact_quantile(d, q);
    CHECK(n.quantile(q) >= x - 0.01 * std::fabs(x));  // collapsed toward zero: upward
  }
  top = exact_quantile(d, 1.0);
  CHECK(std::fabs(n.quantile(1.0) - top) <= 0.01 * std::fabs(top) * (1 + 1e-12));
}

TEST_CASE("quantile sketch: encode/decode round trip, bad bytes fail cleanly") {
  std::vector<QuantileSketch> states;
  states.emplace_back();
  states.push_back(sketch_of({3.5}));
  states.push_back(sketch_of({0, -1, 2}));
  states.push_back(sketch_of(mixed_data(5000, 12)));
  states.push_back(sketch_of(huge_range_data(3000, 13), 0.02, 100));
  for (const auto& s : states) {
    std::string bytes = encoded(s);
    std::string two = bytes + bytes + "tail";
    std::string_view in = two;
    QuantileSketch a;
    QuantileSketch b;
    REQUIRE(a.decode(&in).is_ok());
    REQUIRE(b.decode(&in).is_ok());
    CHECK(in == "tail");
    CHECK(encoded(a) == bytes);
    CHECK(a.count() == s.count());
    CHECK(a.relative_accuracy() == s.relative_accuracy());
    for (double q : kQs) {
      if (s.count() > 0) CHECK(a.quantile(q) == s.quantile(q));
    }
    // Every truncation fails with a message and leaves the input alone.
    for (std::size_t len = 0; len < bytes.size(); ++len) {
      std::string_view cut(bytes.data(), len);
      QuantileSketch t;
      auto st = t.decode(&cut);
      CHECK_FALSE(st.is_ok());
      CHECK(!st.message().empty());
      CHECK(cut.size() == len);
    }
  }
  // A bucket count far beyond the bytes left must not allocate.
  std::string huge_count = {1, 0, 0, '\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\x0f'};
  std::string_view hv = huge_count;
  QuantileSketch h;
  auto st = h.decode(&hv);
  CHECK_FALSE(st.is_ok());
  CHECK(st.message().find("exceeds the bytes left") != std::string::npos);
  // Counts no sequence of adds can reach are refused (later adds would wrap the total).
  std::string big_zero = {1, 0, '\x80', '\x80', '\x80', '\x80', '\x80', '\x80', '\x80', '\x80', '\x80', 1, 0, 0};
  std::string_view bz = big_zero;
  QuantileSketch z;
  CHECK_FALSE(z.decode(&bz).is_ok());
  // Random bytes and random mutations of valid states: decode fails or yields a usable state.
  std::mt19937_64 rng(14);
  std::string base = encoded(states[3]);
  for (int i = 0; i < 20000; ++i) {
    std::string junk;
    if (i % 2) {
      junk.resize(rng() % 64);
      for (auto& c : junk) c = static_cast<char>(rng());
      if (!junk.empty() && i % 4 == 1) junk[0] = 1;  // right version, to get past it
    } else {
      junk = base;
      for (int k = 0; k < 3; ++k) junk[rng() % junk.size()] = static_cast<char>(rng());
    }
    std::string_view jv = junk;
    QuantileSketch j;
    if (j.decode(&jv).is_ok()) {
      CHECK(jv.size() <= junk.size());
      (void)j.quantile(0.5);
      j.add(1.0);
      QuantileSketch k2;
      k2.merge(j);
      CHECK(k2.count() == j.count());
    }
  }
}

TEST_CASE("quantile sketch: memory follows the buckets used, not the range they span") {
  // 400 buckets spread over a range of 64000 (allowed with max_buckets = 65536): dense would
  // cost 512 KiB; the sparse store costs ~8 bytes per bucket. decode() builds states the same
  // way, so a few hundred bytes of input cannot make it allocate megabytes.
  QuantileSketch s(0.01, 1u << 16);
  for (int i = 0; i < 400; ++i) s.add(std::pow(1.0202, i * 160.0 - 32000));
  CHECK(s.memory_bytes() < 400 * 8 * 2 + 512);
  std::string bytes = encoded(s);
  std::string_view in = bytes;
  QuantileSketch d;
  REQUIRE(d.decode(&in).is_ok());
  CHECK(d.memory_bytes() < 400 * 8 * 2 + 512);
  CHECK(encoded(d) == bytes);
}

TEST_CASE("quantile sketch: small states are small") {
  QuantileSketch empty;
  CHECK(empty.memory_bytes() == sizeof(QuantileSketch));
  QuantileSketch s;
  s.add(21.5);
  CHECK(s.memory_bytes() < 100);
  s.add(22.0);
  s.add(-4.0);
  CHECK(s.memory_bytes() < 100);
  MESSAGE("QuantileSketch with 3 values: " << s.memory_bytes() << " bytes");
  for (int i = 0; i < 1000; ++i) s.add(20 + i * 0.01);
  CHECK(s.memory_bytes() < 2000);  // ~30 dense buckets
}

TEST_CASE("exact sum: correctly rounded, independent of order") {
  SUBCASE("cancellation") {
    std::vector<double> v = {1e100, 1.0, -1e100};
    std::sort(v.begin(), v.end());
    std::string first;
    do {
      ExactSum s;
      for (double x : v) s.add(x);
      CHECK(s.value() == 1.0);
      if (first.empty()) first = encoded(s);
      CHECK(encoded(s) == first);
    } while (std::next_permutation(v.begin(), v.end()));
    ExactSum t;
    for (int i = 0; i < 10; ++i) t.add(0.1);
    CHECK(t.value() == 1.0);  // naive summation gives 0.9999999999999999
    ExactSum h;
    for (double x : {1e16, 1.0, 1e-16}) h.add(x);
    CHECK(h.value() == 10000000000000002.0);  // half-even across partials (fsum's test)
    ExactSum z;
    for (double x : {1e308, 1e308, -1e308, -1e308, 5.0}) z.add(x);
    // Documented limit: a running sum beyond DBL_MAX saturates to a non-finite value (here
    // +inf then -inf, so NaN) instead of the exact 5.
    CHECK(!std::isfinite(z.value()));
  }
#if defined(__SIZEOF_INT128__)  // 32-bit ARM (armhf) has no __int128: the other subcases run there
  SUBCASE("against an exact integer reference, shuffled") {
    // Values k * 2^e with |k| < 2^50 and e in [-20, 20]: the exact sum is an integer multiple
    // of 2^-20 that fits in 128 bits, so the reference is exact (one rounding, at the end).
    std::mt19937_64 rng(15);
    std::vector<double> v;
    Int128 exact = 0;
    for (int i = 0; i < 20000; ++i) {
      auto k = static_cast<std::int64_t>(rng() % (1ull << 50)) - (std::int64_t{1} << 49);
      int e = static_cast<int>(rng() % 41) - 20;
      v.push_back(std::ldexp(static_cast<double>(k), e));
      exact += static_cast<Int128>(k) << (e + 20);
    }
    double expected = std::ldexp(static_cast<double>(exact), -20);
    ExactSum s;
    for (double x : v) s.add(x);
    CHECK(s.value() == expected);
    std::string bytes = encoded(s);
    std::shuffle(v.begin(), v.end(), rng);
    ExactSum s2;
    for (double x : v) s2.add(x);
    CHECK(s2.value() == expected);
    CHECK(encoded(s2) == bytes);
    ExactSum p1;
    ExactSum p2;
    for (std::size_t i = 0; i < v.size(); ++i) (i % 3 ? p1 : p2).add(v[i]);
    p2.merge(p1);
    CHECK(encoded(p2) == bytes);
    long double ld = 0;
    for (double x : v) ld += x;
    CHECK(std::fabs(static_cast<double>(ld) - expected) <= 1e-6 * std::fabs(expected) + 1e-3);
  }
#endif
  SUBCASE("infinities and NaN are kept apart") {
    ExactSum a;
    a.add(1.0);
    a.add(std::numeric_limits<double>::infinity());
    a.add(-3.0);
    CHECK(a.value() == std::numeric_limits<double>::infinity());
    a.add(-std::numeric_limits<double>::infinity());
    CHECK(std::isnan(a.value()));
    ExactSum b;
    b.add(-std::numeric_limits<double>::infinity());
    b.add(std::numeric_limits<double>::infinity());
    b.add(1.0);
    CHECK(encoded(a) != encoded(ExactSum{}));
    ExactSum n;
    n.add(std::numeric_limits<double>::quiet_NaN());
    CHECK(std::isnan(n.value()));
    ExactSum e;
    CHECK(e.value() == 0.0);
  }
  SUBCASE("round trip and bad bytes") {
    ExactSum s;
    for (double x : {1e100, 3.0, -1e100, 1e-300, 0.1}) s.add(x);
    s.add(std::numeric_limits<double>::infinity());
    for (const ExactSum& st : {s, ExactSum{}}) {
      std::string bytes = encoded(st);
      std::string_view in = bytes;
      ExactSum d;
      REQUIRE(d.decode(&in).is_ok());
      CHECK(in.empty());
      CHECK(encoded(d) == bytes);
      for (std::size_t len = 0; len < bytes.size(); ++len) {
        std::string_view cut(bytes.data(), len);
        ExactSum t;
        CHECK_FALSE(t.decode(&cut).is_ok());
      }
    }
    std::mt19937_64 rng(16);
    for (int i = 0; i < 5000; ++i) {
      std::string junk(rng() % 40, '\0');
      for (auto& c : junk) c = static_cast<char>(rng());
      if (!junk.empty()) junk[0] = 1;
      std::string_view jv = junk;
      ExactSum j;
      if (j.decode(&jv).is_ok()) (void)j.value();
    }
  }
  SUBCASE("memory") {
    ExactSum s;
    s.add(21.5);
    s.add(22.25);
    CHECK(s.memory_bytes() < 100);
    MESSAGE("ExactSum with 2 values: " << s.memory_bytes() << " bytes");
  }
}

TEST_CASE("distinct counter: error within 3 standard errors, merge is union") {
  const double se = 1.04 / std::sqrt(16384.0);
  // Keys hashed as the engine does (XXH3_64 of the value's bytes).
  auto key_hash = [](std::uint64_t i) {
    std::string k = "device-" + std::to_string(i);
    return XXH3_64bits(k.data(), k.size());
  };
  for (std::uint64_t n : {10ull, 1000ull, 100000ull, 1000000ull}) {
    DistinctCounter c;
    for (std::uint64_t i = 0; i < n; ++i) {
      c.add_hash(key_hash(i));
      c.add_hash(key_hash(i));  // duplicates do not count
    }
    double err = std::fabs(static_cast<double>(c.estimate()) - static_cast<double>(n)) /
                 static_cast<double>(n);
    INFO("n=" << n << " estimate=" << c.estimate());
    CHECK(err <= 3 * se);
    if (n <= 1000) CHECK(c.estimate() == n);  // exact/sparse range
    MESSAGE("distinct n=" << n << " estimate=" << c.estimate() << " rel.err=" << err
                          << " memory=" << c.memory_bytes());
  }
  // No bias: over 16 independent key sets of 1e5 the mean error is well under a standard error.
  double mean = 0;
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    DistinctCounter c;
    for (std::uint64_t i = 0; i < 100000; ++i) c.add_hash(splitmix64(seed << 40 | i));
    mean += (static_cast<double>(c.estimate()) / 1e5 - 1) / 16;
  }
  MESSAGE("mean relative error over 16 sets of 1e5: " << mean);
  CHECK(std::fabs(mean) <= 3 * se / 4);
  // Union across every pair of representations: exact (<=3), sparse, dense.
  const std::uint64_t sizes[] = {0, 2, 3, 50, 5000, 60000};
  for (std::uint64_t na : sizes) {
    for (std::uint64_t nb : sizes) {
      DistinctCounter a;
      DistinctCounter b;
      DistinctCounter u;
      for (std::uint64_t i = 0; i < na; ++i) a.add_hash(splitmix64(i));
      for (std::uint64_t i = 0; i < nb; ++i) b.add_hash(splitmix64(i + na / 2));
      for (std::uint64_t i = 0; i < na; ++i) u.add_hash(splitmix64(i));
      for (std::uint64_t i = 0; i < nb; ++i) u.add_hash(splitmix64(i + na / 2));
      DistinctCounter ab = a;
      ab.merge(b);
      INFO("na=" << na << " nb=" << nb);
      CHECK(encoded(ab) == encoded(u));
      CHECK(ab.estimate() == u.estimate());
    }
  }
  // Insertion order does not change the bytes.
  std::vector<std::uint64_t> keys;
  for (std::uint64_t i = 0; i < 3000; ++i) keys.push_back(splitmix64(i * 7));
  DistinctCounter x;
  for (auto k : keys) x.add_hash(k);
  std::mt19937_64 rng(17);
  std::shuffle(keys.begin(), keys.end(), rng);
  DistinctCounter y;
  for (auto k : keys) y.add_hash(k);
  CHECK(encoded(x) == encoded(y));
}

TEST_CASE("distinct counter: mixed precisions merge into the lower one") {
  DistinctCounter lo(12);
  DistinctCounter hi(14);
  DistinctCounter ref(12);
  for (std::uint64_t i = 0; i < 200000; ++i) {
    (i % 2 ? lo : hi).add_hash(splitmix64(i));
    ref.add_hash(splitmix64(i));
  }
  hi.merge(lo);
  CHECK(encoded(hi) == encoded(ref));
}

TEST_CASE("distinct counter: round trip, bad bytes, memory") {
  std::vector<DistinctCounter> states(4);
  states[1].add_hash(42);
  for (std::uint64_t i = 0; i < 500; ++i) states[2].add_hash(splitmix64(i));
  for (std::uint64_t i = 0; i < 50000; ++i) states[3].add_hash(splitmix64(i));
  for (const auto& s : states) {
    std::string bytes = encoded(s);
    std::string_view in = bytes;
    DistinctCounter d;
    REQUIRE(d.decode(&in).is_ok());
    CHECK(in.empty());
    CHECK(encoded(d) == bytes);
    CHECK(d.estimate() == s.estimate());
    for (std::size_t len = 0; len < bytes.size(); len += (len < 200 ? 1 : 997)) {
      std::string_view cut(bytes.data(), len);
      DistinctCounter t;
      CHECK_FALSE(t.decode(&cut).is_ok());
    }
  }
  std::mt19937_64 rng(18);
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 48, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (junk.size() > 2) {
      junk[0] = 1;
      junk[1] = static_cast<char>(4 + rng() % 15);
      junk[2] = static_cast<char>(rng() % 5);
    }
    std::string_view jv = junk;
    DistinctCounter j;
    if (j.decode(&jv).is_ok()) {
      (void)j.estimate();
      j.add_hash(rng());
      DistinctCounter k;
      k.merge(j);
    }
  }
  DistinctCounter empty;
  CHECK(empty.memory_bytes() == sizeof(DistinctCounter));
  DistinctCounter small;
  small.add_hash(1);
  small.add_hash(2);
  small.add_hash(3);
  CHECK(small.memory_bytes() < 100);
  MESSAGE("DistinctCounter with 3 values: " << small.memory_bytes() << " bytes");
  CHECK(states[3].memory_bytes() <= 16384 + 200);
}
