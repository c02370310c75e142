// libFuzzer entry point for the aggregate states' decode() (agent/query/sketches.h), which reads
// query checkpoints. The first byte picks the state; the rest is the encoded bytes.
// Invariants: decode never crashes or over-allocates; a state it accepts is usable (add, merge,
// quantile/estimate/value) and canonical after one round: encode -> decode -> encode gives the
// same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/query/sketches.h"

using namespace outpost::query;

namespace {

template <typename T, typename Use>
void round_trip(std::string_view in, Use&& use) {
  T s;
  if (!s.decode(&in).is_ok()) return;
  std::string a;
  s.encode(&a);
  T t;
  std::string_view av = a;
  if (!t.decode(&av).is_ok() || !av.empty()) std::abort();  // our own bytes must decode
  std::string b;
  t.encode(&b);
  if (a != b) std::abort();  // not canonical
  use(s);
  T m;
  m.merge(s);
  m.merge(m);
  use(m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      round_trip<ExactSum>(in, [](ExactSum& s) {
        (void)s.value();
        s.add(1.5);
        (void)s.memory_bytes();
      });
      break;
    case 1:
      round_trip<QuantileSketch>(in, [](QuantileSketch& s) {
        for (double q : {0.0, 0.5, 0.99, 1.0}) (void)s.quantile(q);
        s.add(-2.0);
        s.add(0.0);
        s.add(1e300);
        if (s.count() == 0) std::abort();
        (void)s.memory_bytes();
      });
      break;
    default:
      round_trip<DistinctCounter>(in, [](DistinctCounter& s) {
        (void)s.estimate();
        s.add_hash(0x9e3779b97f4a7c15ULL);
        (void)s.memory_bytes();
      });
      break;
  }
  return 0;
}
