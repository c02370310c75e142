// Aggregate slots: construction in place, update, merge, result, encoding.
#include "base/byte_codec.h"
#include "agent/query/aggregates.h"

#include <cmath>
#include <cstring>
#include <new>

namespace outpost::query::internal {
namespace {

struct CountSlot {
  std::uint64_t n = 0;
};
// sum(): integers add exactly in int64 (overflowing values move to the double sum); doubles go
// to an order-independent ExactSum (docs/SEMANTICS.md 12).
struct SumSlot {
  ExactSum d;
  std::int64_t i = 0;
  std::uint8_t has_int = 0;
  std::uint8_t has_double = 0;
};
struct AvgSlot {
  ExactSum s;
  std::uint64_t n = 0;
};
struct ValueSlot {  // min, max
  Value v;
};
struct TimedSlot {  // earliest, latest: by event time, ties by sequence
  Value v;
  std::int64_t t = 0;
  std::uint64_t seq = 0;
  bool has = false;
};
struct StddevSlot {
  ExactSum s;
  ExactSum s2;
  std::uint64_t n = 0;
};

std::size_t slot_size(AggKind k) {
  switch (k) {
    case AggKind::kCount:
    case AggKind::kCountX: return sizeof(CountSlot);
    case AggKind::kSum: return sizeof(SumSlot);
    case AggKind::kAvg: return sizeof(AvgSlot);
    case AggKind::kMin:
    case AggKind::kMax: return sizeof(ValueSlot);
    case AggKind::kEarliest:
    case AggKind::kLatest: return sizeof(TimedSlot);
    case AggKind::kCountDistinct: return sizeof(DistinctCounter);
    case AggKind::kQuantile: return sizeof(QuantileSketch);
    case AggKind::kStddevSamp:
    case AggKind::kStddevPop: return sizeof(StddevSlot);
  }
  return 8;
}

template <typename T>
T& at(std::byte* b, std::size_t off) {
  return *std::launder(reinterpret_cast<T*>(b + off));
}
template <typename T>
const T& at(const std::byte* b, std::size_t off) {
  return *std::launder(reinterpret_cast<const T*>(b + off));
}


bool timed_before(std::int64_t t1, std::uint64_t s1, std::int64_t t2, std::uint64_t s2) {
  return t1 < t2 || (t1 == t2 && s1 < s2);
}

void add_number(ExactSum* s, const Value& v) { s->add(v.as_double()); }

}  // namespace

AggLayout::AggLayout(const std::vector<AggSpec>& specs) {
  std::size_t off = (sizeof(GroupHeader) + 7) & ~std::size_t{7};
  for (const auto& s : specs) {
    slots_.push_back(Slot{s.kind, s.q, off, s.arg_slot});
    off += (slot_size(s.kind) + 7) & ~std::size_t{7};
  }
  block_bytes_ = off;
  typical_bytes_ = off + 16;  // malloc overhead
  for (const auto& s : specs) {
    switch (s.kind) {
      case AggKind::kSum:
      case AggKind::kAvg: break;                               // ExactSum partials are inline
      case AggKind::kStddevSamp:
      case AggKind::kStddevPop: typical_bytes_ += 96; break;
      case AggKind::kQuantile: typical_bytes_ += 48; break;    // sparse buckets
      case AggKind::kCountDistinct: typical_bytes_ += 64; break;
      default: break;
    }
  }
}

std::byte* AggLayout::make() const {
  auto* b = static_cast<std::byte*>(::operator new(block_bytes_));
  construct(b);
  return b;
}

void AggLayout::free(std::byte* b) const {
  if (!b) return;
  destroy(b);
  ::operator delete(b);
}

void AggLayout::construct(std::byte* b) const {
  new (b) GroupHeader();
  for (const auto& s : slots_) {
    std::byte* p = b + s.offset;
    switch (s.kind) {
      case AggKind::kCount:
      case AggKind::kCountX: new (p) CountSlot(); break;
      case AggKind::kSum: new (p) SumSlot(); break;
      case AggKind::kAvg: new (p) AvgSlot(); break;
      case AggKind::kMin:
      case AggKind::kMax: new (p) ValueSlot(); break;
      case AggKind::kEarliest:
      case AggKind::kLatest: new (p) TimedSlot(); break;
      case AggKind::kCountDistinct: new (p) DistinctCounter(); break;
      case AggKind::kQuantile: new (p) QuantileSketch(); break;
      case AggKind::kStddevSamp:
      case AggKind::kStddevPop: new (p) StddevSlot(); break;
    }
  }
}

void AggLayout::destroy(std::byte* b) const {
  for (const auto& s : slots_) {
    switch (s.kind) {
      case AggKind::kCount:
      case AggKind::kCountX: at<CountSlot>(b, s.offset).~CountSlot(); break;
      case AggKind::kSum: at<SumSlot>(b, s.offset).~SumSlot(); break;
      case AggKind::kAvg: at<AvgSlot>(b, s.offset).~AvgSlot(); break;
      case AggKind::kMin:
      case AggKind::kMax: at<ValueSlot>(b, s.offset).~ValueSlot(); break;
      case AggKind::kEarliest:
      case AggKind::kLatest: at<TimedSlot>(b, s.offset).~TimedSlot(); break;
      case AggKind::kCountDistinct: at<DistinctCounter>(b, s.offset).~DistinctCounter(); break;
      case AggKind::kQuantile: at<QuantileSketch>(b, s.offset).~QuantileSketch(); break;
      case AggKind::kStddevSamp:
      case AggKind::kStddevPop: at<StddevSlot>(b, s.offset).~StddevSlot(); break;
    }
  }
}

void AggLayout::update(std::byte* b, const std::vector<Value>& args, std::int64_t time_ms,
                       std::uint64_t seq) const {
  header(b).dirty = 1;
  for (const Slot& s : slots_) {
    if (s.kind == AggKind::kCount) {
      ++at<CountSlot>(b, s.offset).n;
      continue;
    }
    if (s.arg < 0) continue;
    const Value& v = args[static_cast<std::size_t>(s.arg)];
    if (v.is_null()) continue;  // aggregates ignore NULL
    switch (s.kind) {
      case AggKind::kCount: break;
      case AggKind::kCountX: ++at<CountSlot>(b, s.offset).n; break;
      case AggKind::kSum: {
        if (!v.is_number()) break;  // the compiler rejects typed non-numbers; dynamic ones are skipped
        auto& x = at<SumSlot>(b, s.offset);
        if (v.type == VType::kInt) {
          std::int64_t r;
          if (!__builtin_add_overflow(x.i, v.i, &r)) {
            x.i = r;
            x.has_int = 1;
            break;
          }
          x.d.add(static_cast<double>(v.i));
          x.has_double = 1;
          break;
        }
        x.d.add(v.d);
        x.has_double = 1;
        break;
      }
      case AggKind::kAvg: {
        if (!v.is_number()) break;
        auto& x = at<AvgSlot>(b, s.offset);
        add_number(&x.s, v);
        ++x.n;
        break;
      }
      case AggKind::kMin:
      case AggKind::kMax: {
        auto& x = at<ValueSlot>(b, s.offset);
        if (v.type == VType::kDouble && std::isnan(v.d)) break;
        if (v.type == VType::kDouble && x.v.type == VType::kDouble) {
          // The common case without the generic comparison and Value copy (same order: both
          // are non-NaN doubles here).
          if (s.kind == AggKind::kMin ? v.d < x.v.d : v.d > x.v.d) x.v.d = v.d;
          break;
        }
        const int c = x.v.is_null() ? 0 : compare_values(v, x.v);
        if (x.v.is_null() || (s.kind == AggKind::kMin ? c < 0 : c > 0)) x.v = v;
        break;
      }
      case AggKind::kEarliest:
      case AggKind::kLatest: {
        auto& x = at<TimedSlot>(b, s.offset);
        const bool take = !x.has || (s.kind == AggKind::kEarliest ? timed_before(time_ms, seq, x.t, x.seq)
                                                                   : timed_before(x.t, x.seq, time_ms, seq));
        if (take) {
          x.v = v;
          x.t = time_ms;
          x.seq = seq;
          x.has = true;
        }
        break;
      }
      case AggKind::kCountDistinct: at<DistinctCounter>(b, s.offset).add_hash(hash_value(v)); break;
      case AggKind::kQuantile:
        if (v.is_number() && !(v.type == VType::kDouble && std::isnan(v.d)))
          at<QuantileSketch>(b, s.offset).add(v.as_double());
        break;
      case AggKind::kStddevSamp:
      case AggKind::kStddevPop: {
        if (!v.is_number()) break;
        auto& x = at<StddevSlot>(b, s.offset);
        const double d = v.as_double();
        x.s.add(d);
        x.s2.add(d * d);
        ++x.n;
        break;
      }
    }
  }
}

void AggLayout::merge(std::byte* dst, const std::byte* src) const {
  header(dst).dirty = 1;
  header(dst).revision = std::max(header(dst).revision, header(src).revision);
  for (const auto& s : slots_) {
    switch (s.kind) {
      case AggKind::kCount:
      case AggKind::kCountX: at<CountSlot>(dst, s.offset).n += at<CountSlot>(src, s.offset).n; break;
      case AggKind::kSum: {
        auto& d = at<SumSlot>(dst, s.offset);
        const auto& o = at<SumSlot>(src, s.offset);
        d.d.merge(o.d);
        d.has_double |= o.has_double;
        if (o.has_int) {
          std::int64_t r;
          if (!__builtin_add_overflow(d.i, o.i, &r)) {
            d.i = r;
          } else {
            d.d.add(static_cast<double>(o.i));
            d.has_double = 1;
          }
          d.has_int = 1;
        }
        break;
      }
      case AggKind::kAvg: {
        auto& d = at<AvgSlot>(dst, s.offset);
        const auto& o = at<AvgSlot>(src, s.offset);
        d.s.merge(o.s);
        d.n += o.n;
        break;
      }
      case AggKind::kMin:
      case AggKind::kMax: {
        auto& d = at<ValueSlot>(dst, s.offset);
        const auto& o = at<ValueSlot>(src, s.offset);
        if (o.v.is_null()) break;
        const int c = d.v.is_null() ? 0 : compare_values(o.v, d.v);
        if (d.v.is_null() || (s.kind == AggKind::kMin ? c < 0 : c > 0)) d.v = o.v;
        break;
      }
      case AggKind::kEarliest:
      case AggKind::kLatest: {
        auto& d = at<TimedSlot>(dst, s.offset);
        const auto& o = at<TimedSlot>(src, s.offset);
        if (!o.has) break;
        const bool take = !d.has || (s.kind == AggKind::kEarliest ? timed_before(o.t, o.seq, d.t, d.seq)
                                                                   : timed_before(d.t, d.seq, o.t, o.seq));
        if (take) d = o;
        break;
      }
      case AggKind::kCountDistinct:
        at<DistinctCounter>(dst, s.offset).merge(at<DistinctCounter>(src, s.offset));
        break;
      case AggKind::kQuantile: at<QuantileSketch>(dst, s.offset).merge(at<QuantileSketch>(src, s.offset)); break;
      case AggKind::kStddevSamp:
      case AggKind::kStddevPop: {
        auto& d = at<StddevSlot>(dst, s.offset);
        const auto& o = at<StddevSlot>(src, s.offset);
        d.s.merge(o.s);
        d.s2.merge(o.s2);
        d.n += o.n;
        break;
      }
    }
  }
}

void AggLayout::results(const std::byte* b, std::vector<Value>* out) const {
  // Written in place (type and number only, for numbers): results are read once per emitted
  // row, and rebuilding the Values (each with its std::string) cost more than the aggregates.
  out->resize(slots_.size());
  auto set_null = [](Value& v) { v.type = VType::kNull; };
  auto set_int = [](Value& v, std::int64_t x) {
    v.type = VType::kInt;
    v.i = x;
  };
  auto set_double = [](Value& v, double x) {
    v.type = VType::kDouble;
    v.d = x;
  };
  for (std::size_t k = 0; k < slots_.size(); ++k) {
    const Slot& s = slots_[k];
    Value& o = (*out)[k];
    switch (s.kind) {
      case AggKind::kCount:
      case AggKind::kCountX: set_int(o, static_cast<std::int64_t>(at<CountSlot>(b, s.offset).n)); break;
      case AggKind::kSum: {
        const auto& x = at<SumSlot>(b, s.offset);
        if (!x.has_int && !x.has_double) {
          set_null(o);
        } else if (!x.has_double) {
          set_int(o, x.i);
        } else {
          ExactSum t = x.d;
          if (x.has_int) t.add(static_cast<double>(x.i));
          set_double(o, t.value());
        }
        break;
      }
      case AggKind::kAvg: {
        const auto& x = at<AvgSlot>(b, s.offset);
        if (x.n) {
          set_double(o, x.s.value() / static_cast<double>(x.n));
        } else {
          set_null(o);
        }
        break;
      }
      case AggKind::kMin:
      case AggKind::kMax: o = at<ValueSlot>(b, s.offset).v; break;
      case AggKind::kEarliest:
      case AggKind::kLatest: {
        const auto& x = at<TimedSlot>(b, s.offset);
        if (x.has) {
          o = x.v;
        } else {
          set_null(o);
        }
        break;
      }
      case AggKind::kCountDistinct:
        set_int(o, static_cast<std::int64_t>(at<DistinctCounter>(b, s.offset).estimate()));
        break;
      case AggKind::kQuantile: {
        const auto& x = at<QuantileSketch>(b, s.offset);
        if (x.count()) {
          set_double(o, x.quantile(s.q));
        } else {
          set_null(o);
        }
        break;
      }
      case AggKind::kStddevSamp:
      case AggKind::kStddevPop: {
        const auto& x = at<StddevSlot>(b, s.offset);
        const double n = static_cast<double>(x.n);
        if (x.n == 0 || (s.kind == AggKind::kStddevSamp && x.n < 2)) {
          set_null(o);
          break;
        }
        const double sum = x.s.value();
        // Both sums are exact and rounded once, so the result does not depend on arrival order.
        double m2 = x.s2.value() - sum * (sum / n);
        if (m2 < 0) m2 = 0;
        set_double(o, std::sqrt(m2 / (s.kind == AggKind::kStddevSamp ? n - 1 : n)));
        break;
      }
    }
  }
}

void AggLayout::encode(const std::byte* b, std::string* out) const {
  const GroupHeader& h = header(b);
  put_u64(out, h.revision);
  out->push_back(static_cast<char>(h.dirty));
  for (const auto& s : slots_) {
    switch (s.kind) {
      case AggKind::kCount:
      case AggKind::kCountX: put_u64(out, at<CountSlot>(b, s.offset).n); break;
      case AggKind::kSum: {
        const auto& x = at<SumSlot>(b, s.offset);
        x.d.encode(out);
        put_u64(out, static_cast<std::uint64_t>(x.i));
        out->push_back(static_cast<char>(x.has_int | (x.has_double << 1)));
        break;
      }
      case AggKind::kAvg: {
        const auto& x = at<AvgSlot>(b, s.offset);
        x.s.encode(out);
        put_u64(out, x.n);
        break;
      }
      case AggKind::kMin:
      case AggKind::kMax: encode_value(out, at<ValueSlot>(b, s.offset).v); break;
      case AggKind::kEarliest:
      case AggKind::kLatest: {
        const auto& x = at<TimedSlot>(b, s.offset);
        out->push_back(x.has ? 1 : 0);
        encode_value(out, x.v);
        put_u64(out, static_cast<std::uint64_t>(x.t));
        put_u64(out, x.seq);
        break;
      }
      case AggKind::kCountDistinct: at<DistinctCounter>(b, s.offset).encode(out); break;
      case AggKind::kQuantile: at<QuantileSketch>(b, s.offset).encode(out); break;
      case AggKind::kStddevSamp:
      case AggKind::kStddevPop: {
        const auto& x = at<StddevSlot>(b, s.offset);
        x.s.encode(out);
        x.s2.encode(out);
        put_u64(out, x.n);
        break;
      }
    }
  }
}

bool AggLayout::decode(std::byte* b, std::string_view* in) const {
  std::uint64_t x = 0;
  GroupHeader& h = header(b);
  if (!get_u64(in, &x) || x > 0xffffffffu) return false;
  h.revision = static_cast<std::uint32_t>(x);
  if (in->empty() || static_cast<unsigned char>((*in)[0]) > 1) return false;
  h.dirty = static_cast<std::uint8_t>((*in)[0]);
  in->remove_prefix(1);
  for (const auto& s : slots_) {
    switch (s.kind) {
      case AggKind::kCount:
      case AggKind::kCountX:
        if (!get_u64(in, &at<CountSlot>(b, s.offset).n)) return false;
        break;
      case AggKind::kSum: {
        auto& v = at<SumSlot>(b, s.offset);
        if (!v.d.decode(in).is_ok() || !get_u64(in, &x) || in->empty()) return false;
        v.i = static_cast<std::int64_t>(x);
        const auto flags = static_cast<unsigned char>((*in)[0]);
        if (flags > 3) return false;
        v.has_int = flags & 1;
        v.has_double = (flags >> 1) & 1;
        in->remove_prefix(1);
        break;
      }
      case AggKind::kAvg: {
        auto& v = at<AvgSlot>(b, s.offset);
        if (!v.s.decode(in).is_ok() || !get_u64(in, &v.n)) return false;
        break;
      }
      case AggKind::kMin:
      case AggKind::kMax:
        if (!decode_value(in, &at<ValueSlot>(b, s.offset).v)) return false;
        break;
      case AggKind::kEarliest:
      case AggKind::kLatest: {
        auto& v = at<TimedSlot>(b, s.offset);
        if (in->empty() || static_cast<unsigned char>((*in)[0]) > 1) return false;
        v.has = (*in)[0] == 1;
        in->remove_prefix(1);
        if (!decode_value(in, &v.v) || !get_u64(in, &x)) return false;
        v.t = static_cast<std::int64_t>(x);
        if (!get_u64(in, &v.seq)) return false;
        break;
      }
      case AggKind::kCountDistinct:
        if (!at<DistinctCounter>(b, s.offset).decode(in).is_ok()) return false;
        break;
      case AggKind::kQuantile:
        if (!at<QuantileSketch>(b, s.offset).decode(in).is_ok()) return false;
        break;
      case AggKind::kStddevSamp:
      case AggKind::kStddevPop: {
        auto& v = at<StddevSlot>(b, s.offset);
        if (!v.s.decode(in).is_ok() || !v.s2.decode(in).is_ok() || !get_u64(in, &v.n)) return false;
        break;
      }
    }
  }
  return true;
}

std::size_t AggLayout::memory_bytes(const std::byte* b) const {
  std::size_t n = block_bytes_;
  for (const auto& s : slots_) {
    switch (s.kind) {
      case AggKind::kSum: n += at<SumSlot>(b, s.offset).d.memory_bytes(); break;
      case AggKind::kAvg: n += at<AvgSlot>(b, s.offset).s.memory_bytes(); break;
      case AggKind::kMin:
      case AggKind::kMax: n += at<ValueSlot>(b, s.offset).v.s.capacity() > 15 ? at<ValueSlot>(b, s.offset).v.s.capacity() : 0; break;
      case AggKind::kCountDistinct:
        n += at<DistinctCounter>(b, s.offset).memory_bytes();
        break;
      case AggKind::kQuantile: n += at<QuantileSketch>(b, s.offset).memory_bytes(); break;
      case AggKind::kStddevSamp:
      case AggKind::kStddevPop:
        n += at<StddevSlot>(b, s.offset).s.memory_bytes() + at<StddevSlot>(b, s.offset).s2.memory_bytes();
        break;
      default: break;
    }
  }
  return n;
}

}  // namespace outpost::query::internal
