// Aggregate states of the query engine: exact summation, DDSketch quantiles, HyperLogLog.
// Byte layouts and error bounds: agent/query/SKETCHES.md.
// Size: three sketches, each with its state encoding; they could be one file each (the
// encodings share base/byte_codec.h).
#include "agent/query/sketches.h"

#include "base/byte_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

namespace outpost::query {
namespace {

// What a heap block of `n` requested bytes really costs with glibc malloc on 64-bit targets
// (8-byte header, 16-byte granularity, 32-byte minimum chunk), so memory_bytes() matches RSS.
std::size_t heap_bytes(std::size_t n) {
  if (n == 0) return 0;
  std::size_t chunk = (n + 8 + 15) & ~std::size_t{15};
  return chunk < 32 ? 32 : chunk;
}

// ---- byte helpers: little-endian fixed width and LEB128 varints (base/byte_codec.h) -------

using base::put_f64;
using base::put_u64;
using base::put_u8;
using base::put_varint;

std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Reads from a view without ever going past its end; every getter fails cleanly.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  std::size_t left() const { return in_.size() - pos_; }
  std::size_t pos() const { return pos_; }
  bool u8(std::uint8_t* v) {
    if (left() < 1) return false;
    *v = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }
  bool u64(std::uint64_t* v) {
    if (left() < 8) return false;
    std::uint64_t r = 0;
    for (int i = 0; i < 8; ++i) {
      r |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    *v = r;
    return true;
  }
  bool f64(double* v) {
    std::uint64_t bits = 0;
    if (!u64(&bits)) return false;
    *v = std::bit_cast<double>(bits);
    return true;
  }
  bool varint(std::uint64_t* v) {
    std::uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::uint8_t b = 0;
      if (!u8(&b)) return false;
      if (shift == 63 && b > 1) return false;  // more than 64 bits
      r |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool bytes(std::size_t n, const char** p) {
    if (left() < n) return false;
    *p = in_.data() + pos_;
    pos_ += n;
    return true;
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

Status bad(const char* what, const Reader& r, const std::string& why) {
  return Status::corruption(std::string(what) + " state at byte " + std::to_string(r.pos()) +
                            ": " + why);
}

}  // namespace

// =============================================================================================
// ExactSum
// =============================================================================================

namespace {
constexpr std::uint8_t kExactSumVersion = 1;

// Shewchuk's grow-expansion step (Python's math.fsum inner loop): afterwards `partials` holds
// non-overlapping values of increasing magnitude whose exact sum is the old sum plus x.
// Returns false when a partial overflowed (|exact running sum| beyond DBL_MAX): the overflow
// value is returned in *overflow and the partials are cleared.
template <typename Vec>
bool grow(Vec& partials, double x, double* overflow) {
  std::size_t i = 0;
  for (double y : partials) {
    if (std::fabs(x) < std::fabs(y)) std::swap(x, y);
    double hi = x + y;
    double lo = y - (hi - x);
    if (lo != 0.0) partials[i++] = lo;
    x = hi;
  }
  if constexpr (std::is_same_v<Vec, std::vector<double>>) {
    partials.resize(i);
  } else {
    partials.shrink_to(i);
  }
  if (x != 0.0) {
    if (!std::isfinite(x)) {
      *overflow = x;
      partials.clear();
      return false;
    }
    partials.push_back(x);
  }
  return true;
}

// The correctly rounded (half-even) value of an expansion (Python's math.fsum tail).
template <typename Vec>
double round_partials(const Vec& p) {
  std::size_t n = p.size();
  if (n == 0) return 0.0;
  double hi = p[--n];
  double lo = 0.0;
  while (n > 0) {
    double x = hi;
    double y = p[--n];
    hi = x + y;
    double yr = hi - x;
    lo = y - yr;
    if (lo != 0.0) break;
  }
  if (n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0))) {
    double y = lo * 2.0;
    double x = hi + y;
    double yr = x - hi;
    if (y == yr) hi = x;
  }
  return hi;
}
}  // namespace

void ExactSum::add(double x) {
  if (!std::isfinite(x)) {
    special_ += x;  // inf + -inf = NaN; NaN sticks
    return;
  }
  double overflow = 0;
  if (!grow(partials_, x, &overflow)) special_ += overflow;
}

void ExactSum::merge(const ExactSum& other) {
  if (&other == this) {
    ExactSum copy = other;
    merge(copy);
    return;
  }
  special_ += other.special_;
  for (double p : other.partials_) add(p);
}

double ExactSum::value() const {
  if (special_ != 0.0 || std::isnan(special_)) return special_;
  return round_partials(partials_);
}

void ExactSum::encode(std::string* out) const {
  // Canonical form, so equal sums give equal bytes whatever the order of additions: the
  // greedy expansion v1 = round(S), v2 = round(S - v1), ... is a function of the exact sum S.
  std::vector<double> canon;
  std::vector<double> rest(partials_.begin(), partials_.end());
  double overflow = 0;
  while (!rest.empty()) {
    double v = round_partials(rest);
    canon.push_back(v);
    if (!grow(rest, -v, &overflow)) break;  // cannot happen: |S - v| <= |S|
  }
  put_u8(out, kExactSumVersion);
  bool special = special_ != 0.0 || std::isnan(special_);
  put_u8(out, special ? 1 : 0);
  if (special) {
    put_f64(out, std::isnan(special_) ? std::numeric_limits<double>::quiet_NaN() : special_);
  }
  put_varint(out, canon.size());
  for (double v : canon) put_f64(out, v);
}

Status ExactSum::decode(std::string_view* in) {
  Reader r(*in);
  std::uint8_t version = 0;
  std::uint8_t flags = 0;
  if (!r.u8(&version)) return bad("sum", r, "truncated (empty)");
  if (version != kExactSumVersion) {
    return bad("sum", r, "unknown version " + std::to_string(version));
  }
  if (!r.u8(&flags)) return bad("sum", r, "truncated flags");
  if (flags > 1) return bad("sum", r, "unknown flags " + std::to_string(flags));
  double special = 0;
  if (flags & 1) {
    if (!r.f64(&special)) return bad("sum", r, "truncated special value");
    if (std::isfinite(special)) return bad("sum", r, "special value is finite");
  }
  std::uint64_t n = 0;
  if (!r.varint(&n)) return bad("sum", r, "truncated partial count");
  if (n > r.left() / 8) return bad("sum", r, "partial count " + std::to_string(n) + " exceeds the bytes left");
  ExactSum fresh;
  fresh.special_ = special;
  for (std::uint64_t i = 0; i < n; ++i) {
    double v = 0;
    (void)r.f64(&v);  // length checked above
    if (!std::isfinite(v)) return bad("sum", r, "non-finite partial");
    fresh.add(v);  // re-normalizes: decode never trusts stored partials to be non-overlapping
  }
  *this = std::move(fresh);
  in->remove_prefix(r.pos());
  return Status::ok();
}

std::size_t ExactSum::memory_bytes() const {
  return sizeof(ExactSum) + (partials_.on_heap() ? heap_bytes(partials_.capacity() * sizeof(double)) : 0);
}

ExactSum::Partials& ExactSum::Partials::operator=(const Partials& o) {
  if (this == &o) return *this;
  if (o.size_ > capacity()) {
    release();
    heap_ = new double[o.size_];
    cap_ = o.size_;
  }
  std::copy(o.begin(), o.end(), data());
  size_ = o.size_;
  return *this;
}

ExactSum::Partials& ExactSum::Partials::operator=(Partials&& o) noexcept {
  if (this == &o) return *this;
  release();
  if (o.heap_) {
    heap_ = o.heap_;
    cap_ = o.cap_;
    o.heap_ = nullptr;
    o.cap_ = 0;
  } else {
    std::copy(o.inline_, o.inline_ + o.size_, inline_);
  }
  size_ = o.size_;
  o.size_ = 0;
  return *this;
}

void ExactSum::Partials::push_back(double x) {
  if (size_ == capacity()) {
    const std::uint32_t cap = size_ * 2;
    auto* fresh = new double[cap];
    std::copy(begin(), end(), fresh);
    release();
    heap_ = fresh;
    cap_ = cap;
  }
  data()[size_++] = x;
}

void ExactSum::Partials::release() {
  delete[] heap_;
  heap_ = nullptr;
  cap_ = 0;
}

// =============================================================================================
// QuantileSketch
// =============================================================================================
//
// Buckets: a positive value x goes to index i = ceil(log_gamma(x)), covering (gamma^(i-1),
// gamma^i], represented by 2 gamma^i / (gamma + 1), which is within alpha of every value of the
// bucket. A negative value x goes to key -i(|x|), so keys ascend with values for both signs.
// Collapse: per sign, keys below (highest key seen - max_buckets + 1) are clamped up to it. The
// clamp floor only rises and clamps compose, so the final buckets are a function of the input
// multiset: the state is order independent.

namespace {
constexpr std::uint8_t kQuantileVersion = 1;
constexpr double kMinAlpha = 1e-6;
constexpr double kMaxAlpha = 0.5;
constexpr std::uint32_t kMaxMaxBuckets = 1u << 16;
// Buckets kept inline before the first big store (and its three allocations): 5 keeps the Store
// at 56 bytes, one 64-byte malloc chunk (3 took 48), and most device-minutes of 10 s readings
// (6 values, a few sharing a 2% bucket) never leave it.
constexpr std::size_t kSmall = 5;
constexpr std::size_t kSparseMax = 32;     // sparse entries per sign before going dense...
constexpr std::size_t kSparseHardMax = 256;  // ...if dense is not much bigger; always past this

struct Entry {
  std::int32_t key;
  std::uint32_t count;
};

struct Mapping {
  double alpha = 0;
  double inv_ln_gamma = 0;
  double ln_gamma = 0;
  double rep_factor = 0;  // 2 / (gamma + 1)
};

const Mapping& mapping_for(double alpha) {
  // The engine uses one alpha; recomputing the logs per add would double the cost of add().
  thread_local Mapping m;
  if (m.alpha != alpha) {
    double gamma = (1 + alpha) / (1 - alpha);
    m.alpha = alpha;
    m.ln_gamma = std::log1p(2 * alpha / (1 - alpha));
    m.inv_ln_gamma = 1.0 / m.ln_gamma;
    m.rep_factor = 2.0 / (gamma + 1.0);
  }
  return m;
}

// x > 0 and finite.
std::int32_t index_of(double x, const Mapping& m) {
  return static_cast<std::int32_t>(std::ceil(std::log(x) * m.inv_ln_gamma));
}

double value_of(std::int32_t index, const Mapping& m) {
  double v = std::exp(static_cast<double>(index) * m.ln_gamma) * m.rep_factor;
  if (v > std::numeric_limits<double>::max()) v = std::numeric_limits<double>::max();
  if (std::isinf(v) || std::isnan(v)) v = std::numeric_limits<double>::max();
  return v;
}

// The widest key range a valid state can have, for decode's range check: positive keys lie in
// [index(denorm_min), index(DBL_MAX)], negative keys are the same range negated.
void key_bounds(const Mapping& m, std::int64_t* lo, std::int64_t* hi) {
  std::int64_t a = index_of(std::numeric_limits<double>::denorm_min(), m);
  std::int64_t b = index_of(std::numeric_limits<double>::max(), m);
  *lo = std::min(a, -b) - 1;
  *hi = std::max(b, -a) + 1;
}

std::int32_t clamp_floor(std::int32_t hi, std::uint32_t max_buckets) {
  std::int64_t f = static_cast<std::int64_t>(hi) - max_buckets + 1;
  return static_cast<std::int32_t>(
      std::max<std::int64_t>(f, std::numeric_limits<std::int32_t>::min()));
}

// One sign's buckets: a sorted sparse list while few, else a dense count array.
struct Bins {
  std::vector<Entry> sparse;      // sorted by key; used while !is_dense
  std::vector<std::uint64_t> dense;  // dense[i] counts key lo + i; front and back non-zero
  std::int32_t lo = 0;
  bool is_dense = false;

  bool empty() const { return is_dense ? dense.empty() : sparse.empty(); }
  std::int32_t max_key() const {
    return is_dense ? lo + static_cast<std::int32_t>(dense.size()) - 1 : sparse.back().key;
  }
  std::int32_t min_key() const { return is_dense ? lo : sparse.front().key; }

  template <typename F>
  void for_each(F&& f) const {
    if (is_dense) {
      for (std::size_t i = 0; i < dense.size(); ++i) {
        if (dense[i] != 0) f(lo + static_cast<std::int32_t>(i), dense[i]);
      }
    } else {
      for (const Entry& e : sparse) f(e.key, static_cast<std::uint64_t>(e.count));
    }
  }

  std::size_t heap() const {
    return heap_bytes(sparse.capacity() * sizeof(Entry)) +
           heap_bytes(dense.capacity() * sizeof(std::uint64_t));
  }

  void to_dense() {
    std::vector<std::uint64_t> d;
    std::int32_t l = 0;
    if (!sparse.empty()) {
      l = sparse.front().key;
      d.assign(static_cast<std::size_t>(sparse.back().key - l) + 1, 0);
      for (const Entry& e : sparse) d[static_cast<std::size_t>(e.key - l)] += e.count;
    }
    dense = std::move(d);
    lo = l;
    is_dense = true;
    std::vector<Entry>().swap(sparse);
  }

  // Adds `c` at `key` (already clamped to the floor of the new maximum); `floor` is that floor.
  void add(std::int32_t key, std::uint64_t c, std::int32_t floor) {
    if (is_dense) {
      add_dense(key, c, floor);
      return;
    }
    // Collapse everything below the floor into the floor bucket.
    if (!sparse.empty() && sparse.front().key < floor) {
      std::uint64_t below = 0;
      auto it = sparse.begin();
      while (it != sparse.end() && it->key < floor) below += (it++)->count;
      sparse.erase(sparse.begin(), it);
      insert_sparse(floor, below);
      if (is_dense) {
        add_dense(key, c, floor);
        return;
      }
    }
    insert_sparse(key, c);
    if (!is_dense && sparse.size() > kSparseMax) {
      std::size_t range = static_cast<std::size_t>(sparse.back().key - sparse.front().key) + 1;
      // Dense costs 8 bytes per key of the range, sparse 8 per entry but O(n) inserts. Memory
      // stays proportional to the entries (at most 64x), so decode() cannot be made to allocate
      // far more than the bytes it was given.
      if (range <= 4 * sparse.size() || (sparse.size() > kSparseHardMax && range <= 64 * sparse.size())) {
        to_dense();
      }
    }
  }

  void insert_sparse(std::int32_t key, std::uint64_t c) {
    auto it = std::lower_bound(sparse.begin(), sparse.end(), key,
                               [](const Entry& e, std::int32_t k) { return e.key < k; });
    if (it != sparse.end() && it->key == key) {
      if (c > std::numeric_limits<std::uint32_t>::max() - it->count) {
        to_dense();
        add_dense_in_range(key, c);
        return;
      }
      it->count += static_cast<std::uint32_t>(c);
      return;
    }
    if (c > std::numeric_limits<std::uint32_t>::max()) {
      to_dense();
      add_dense(key, c, std::numeric_limits<std::int32_t>::min());
      return;
    }
    sparse.insert(it, Entry{key, static_cast<std::uint32_t>(c)});
  }

  void add_dense_in_range(std::int32_t key, std::uint64_t c) {
    dense[static_cast<std::size_t>(key - lo)] += c;
  }

  void add_dense(std::int32_t key, std::uint64_t c, std::int32_t floor) {
    if (dense.empty()) {
      dense.assign(1, c);
      lo = key;
      return;
    }
    if (lo < floor) {  // collapse the front into the floor bucket
      std::size_t cut = static_cast<std::size_t>(floor - lo);
      std::uint64_t below = 0;
      std::size_t upto = std::min(cut, dense.size());
      for (std::size_t i = 0; i < upto; ++i) below += dense[i];
      dense.erase(dense.begin(), dense.begin() + static_cast<std::ptrdiff_t>(upto));
      lo = floor;
      if (dense.empty()) {
        dense.assign(1, below);
      } else {
        dense[0] += below;
      }
      // Keep the front non-zero.
      std::size_t z = 0;
      while (z + 1 < dense.size() && dense[z] == 0) ++z;
      dense.erase(dense.begin(), dense.begin() + static_cast<std::ptrdiff_t>(z));
      lo += static_cast<std::int32_t>(z);
    }
    std::int32_t hi = lo + static_cast<std::int32_t>(dense.size()) - 1;
    if (key < lo) {
      dense.insert(dense.begin(), static_cast<std::size_t>(lo - key), 0);
      lo = key;
    } else if (key > hi) {
      dense.resize(static_cast<std::size_t>(key - lo) + 1, 0);
    }
    dense[static_cast<std::size_t>(key - lo)] += c;
  }
};

struct Big {
  std::uint64_t total = 0;
  std::uint64_t zero = 0;
  Bins neg;  // keys -index(|x|)
  Bins pos;  // keys index(x)
};

}  // namespace

// Small mode (big == nullptr): up to kSmall (sign, key, count) buckets inline, so a group that
// saw 1-3 distinct values costs one 40-byte allocation. Then everything moves to `big`.
struct QuantileSketch::Store {
  std::unique_ptr<Big> big;
  std::uint8_t n = 0;
  std::int8_t sign[kSmall] = {};  // -1, 0 (the zero bucket, key 0), +1
  Entry small[kSmall] = {};

  Store() = default;
  Store(const Store& o) : big(o.big ? std::make_unique<Big>(*o.big) : nullptr), n(o.n) {
    std::copy(std::begin(o.sign), std::end(o.sign), std::begin(sign));
    std::copy(std::begin(o.small), std::end(o.small), std::begin(small));
  }

  std::uint64_t total() const {
    if (big) return big->total;
    std::uint64_t t = 0;
    for (std::size_t i = 0; i < n; ++i) t += small[i].count;
    return t;
  }

  // Visits buckets in ascending value order: (sign, key, count).
  template <typename F>
  void for_each(F&& f) const {
    if (big) {
      big->neg.for_each([&](std::int32_t k, std::uint64_t c) { f(-1, k, c); });
      if (big->zero) f(0, 0, big->zero);
      big->pos.for_each([&](std::int32_t k, std::uint64_t c) { f(1, k, c); });
      return;
    }
    // Insertion sort by hand: std::sort on a 3-element array trips GCC 12's -Warray-bounds.
    std::size_t order[kSmall];
    for (std::size_t i = 0; i < kSmall; ++i) order[i] = i;
    auto less = [&](std::size_t a, std::size_t b) {
      if (sign[a] != sign[b]) return sign[a] < sign[b];
      return small[a].key < small[b].key;
    };
    for (std::size_t i = 1; i < n; ++i) {
      for (std::size_t j = i; j > 0 && less(order[j], order[j - 1]); --j) {
        std::swap(order[j], order[j - 1]);
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      f(sign[order[i]], small[order[i]].key, static_cast<std::uint64_t>(small[order[i]].count));
    }
  }

  void promote() {
    auto b = std::make_unique<Big>();
    b->pos.sparse.reserve(8);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t c = small[i].count;
      b->total += c;
      if (sign[i] == 0) {
        b->zero += c;
      } else {
        Bins& bins = sign[i] < 0 ? b->neg : b->pos;
        bins.add(small[i].key, c, std::numeric_limits<std::int32_t>::min());
      }
    }
    big = std::move(b);
    n = 0;
  }

  // `key` is the unclamped key; clamping happens here, per sign.
  void add(int sgn, std::int32_t key, std::uint64_t c, std::uint32_t max_buckets) {
    if (big) {
      big->total += c;
      if (sgn == 0) {
        big->zero += c;
        return;
      }
      Bins& bins = sgn < 0 ? big->neg : big->pos;
      std::int32_t hi = bins.empty() ? key : std::max(key, bins.max_key());
      std::int32_t floor = clamp_floor(hi, max_buckets);
      bins.add(std::max(key, floor), c, floor);
      return;
    }
    if (sgn != 0) {
      std::int32_t hi = key, lo = std::numeric_limits<std::int32_t>::max();
      for (std::size_t i = 0; i < n; ++i) {
        if (sign[i] == sgn) {
          hi = std::max(hi, small[i].key);
          lo = std::min(lo, small[i].key);
        }
      }
      std::int32_t floor = clamp_floor(hi, max_buckets);
      key = std::max(key, floor);
      if (lo < floor) {
        // Collapse same-sign buckets below the floor into it (merging duplicates).
        for (std::size_t i = 0; i < n; ++i) {
          if (sign[i] == sgn && small[i].key < floor) small[i].key = floor;
        }
        dedupe();
        if (big) {  // dedupe overflowed a count
          add(sgn, key, c, max_buckets);
          return;
        }
      }
    } else {
      key = 0;
    }
    std::size_t at = n;
    for (std::size_t i = 0; i < n; ++i) {
      if (sign[i] == sgn && small[i].key == key) {
        at = i;
        break;
      }
    }
    if (at < n) {
      if (c <= std::numeric_limits<std::uint32_t>::max() - small[at].count) {
        small[at].count += static_cast<std::uint32_t>(c);
        return;
      }
      // The count would overflow 32 bits: the big store counts in 64.
    } else if (n < kSmall && c <= std::numeric_limits<std::uint32_t>::max()) {
      sign[n] = static_cast<std::int8_t>(sgn);
      small[n] = Entry{key, static_cast<std::uint32_t>(c)};
      ++n;
      return;
    }
    promote();
    add(sgn, key, c, max_buckets);
  }

  void dedupe() {
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = i + 1; j < n;) {
        if (sign[i] == sign[j] && small[i].key == small[j].key) {
          if (small[j].count > std::numeric_limits<std::uint32_t>::max() - small[i].count) {
            promote();  // Bins::add merges them with 64-bit counts
            return;
          }
          small[i].count += small[j].count;
          sign[j] = sign[n - 1];
          small[j] = small[n - 1];
          --n;
        } else {
          ++j;
        }
      }
    }
  }
};

QuantileSketch::QuantileSketch(double alpha, std::uint32_t max_buckets)
    : alpha_(std::isnan(alpha) ? 0.01 : std::clamp(alpha, kMinAlpha, kMaxAlpha)),
      max_buckets_(std::clamp<std::uint32_t>(max_buckets, 1, kMaxMaxBuckets)) {}

QuantileSketch::~QuantileSketch() = default;
QuantileSketch::QuantileSketch(QuantileSketch&&) noexcept = default;
QuantileSketch& QuantileSketch::operator=(QuantileSketch&&) noexcept = default;

QuantileSketch::QuantileSketch(const QuantileSketch& other)
    : store_(other.store_ ? std::make_unique<Store>(*other.store_) : nullptr),
      alpha_(other.alpha_),
      max_buckets_(other.max_buckets_) {}

QuantileSketch& QuantileSketch::operator=(const QuantileSketch& other) {
  if (this != &other) {
    QuantileSketch copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void QuantileSketch::add(double x) {
  if (std::isnan(x)) return;
  if (!store_) store_ = std::make_unique<Store>();
  if (x == 0.0) {
    store_->add(0, 0, 1, max_buckets_);
    return;
  }
  const Mapping& m = mapping_for(alpha_);
  double a = std::fabs(x);
  if (a > std::numeric_limits<double>::max()) a = std::numeric_limits<double>::max();
  std::int32_t idx = index_of(a, m);
  if (x > 0) {
    store_->add(1, idx, 1, max_buckets_);
  } else {
    store_->add(-1, -idx, 1, max_buckets_);
  }
}

void QuantileSketch::merge(const QuantileSketch& other) {
  if (!other.store_) return;
  if (&other == this) {
    QuantileSketch copy(other);
    merge(copy);
    return;
  }
  if (!store_) store_ = std::make_unique<Store>();
  if (other.alpha_ == alpha_) {
    other.store_->for_each([&](int sgn, std::int32_t key, std::uint64_t c) {
      store_->add(sgn, key, c, max_buckets_);
    });
    return;
  }
  // Different accuracy: re-map the other's representatives (accuracy becomes the sum of both).
  const Mapping& mo = mapping_for(other.alpha_);
  std::vector<std::pair<double, std::uint64_t>> values;
  other.store_->for_each([&](int sgn, std::int32_t key, std::uint64_t c) {
    values.emplace_back(sgn == 0 ? 0.0 : sgn * value_of(sgn * key, mo), c);
  });
  const Mapping& m = mapping_for(alpha_);
  for (const auto& [v, c] : values) {
    if (v == 0.0) {
      store_->add(0, 0, c, max_buckets_);
    } else {
      std::int32_t idx = index_of(std::fabs(v), m);
      store_->add(v > 0 ? 1 : -1, v > 0 ? idx : -idx, c, max_buckets_);
    }
  }
}

std::uint64_t QuantileSketch::count() const { return store_ ? store_->total() : 0; }

double QuantileSketch::quantile(double q) const {
  std::uint64_t n = count();
  if (n == 0 || std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  // rank = floor(q * (n - 1)), computed so that q = 1 gives exactly n - 1.
  long double r = std::floor(static_cast<long double>(q) * static_cast<long double>(n - 1));
  std::uint64_t rank = r >= static_cast<long double>(n - 1) ? n - 1 : static_cast<std::uint64_t>(r);
  const Mapping& m = mapping_for(alpha_);
  std::uint64_t seen = 0;
  double result = std::numeric_limits<double>::quiet_NaN();
  bool done = false;
  store_->for_each([&](int sgn, std::int32_t key, std::uint64_t c) {
    if (done) return;
    seen += c;
    if (seen > rank) {
      result = sgn == 0 ? 0.0 : sgn * value_of(sgn * key, m);
      done = true;
    }
  });
  return result;
}

double QuantileSketch::relative_accuracy() const { return alpha_; }

void QuantileSketch::encode(std::string* out) const {
  put_u8(out, kQuantileVersion);
  bool custom = alpha_ != 0.01 || max_buckets_ != 2048;
  put_u8(out, custom ? 1 : 0);
  if (custom) {
    put_f64(out, alpha_);
    put_varint(out, max_buckets_);
  }
  std::vector<std::pair<std::int32_t, std::uint64_t>> neg;
  std::vector<std::pair<std::int32_t, std::uint64_t>> pos;
  std::uint64_t zero = 0;
  if (store_) {
    store_->for_each([&](int sgn, std::int32_t key, std::uint64_t c) {
      if (sgn < 0) neg.emplace_back(key, c);
      if (sgn == 0) zero += c;
      if (sgn > 0) pos.emplace_back(key, c);
    });
  }
  put_varint(out, zero);
  for (const auto* bins : {&neg, &pos}) {
    put_varint(out, bins->size());
    for (std::size_t i = 0; i < bins->size(); ++i) {
      const auto& [key, c] = (*bins)[i];
      if (i == 0) {
        put_varint(out, zigzag(key));
      } else {
        put_varint(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(key) -
                                                    (*bins)[i - 1].first));
      }
      put_varint(out, c);
    }
  }
}

Status QuantileSketch::decode(std::string_view* in) {
  Reader r(*in);
  std::uint8_t version = 0;
  std::uint8_t flags = 0;
  if (!r.u8(&version)) return bad("quantile sketch", r, "truncated (empty)");
  if (version != kQuantileVersion) {
    return bad("quantile sketch", r, "unknown version " + std::to_string(version));
  }
  if (!r.u8(&flags)) return bad("quantile sketch", r, "truncated flags");
  if (flags > 1) return bad("quantile sketch", r, "unknown flags " + std::to_string(flags));
  double alpha = 0.01;
  std::uint64_t max_buckets = 2048;
  if (flags & 1) {
    if (!r.f64(&alpha)) return bad("quantile sketch", r, "truncated alpha");
    if (!(alpha >= kMinAlpha && alpha <= kMaxAlpha)) {
      return bad("quantile sketch", r, "alpha out of range");
    }
    if (!r.varint(&max_buckets)) return bad("quantile sketch", r, "truncated max_buckets");
    if (max_buckets < 1 || max_buckets > kMaxMaxBuckets) {
      return bad("quantile sketch", r, "max_buckets out of range");
    }
  }
  // Counts above 2^62 cannot come from adds; refusing them keeps later adds and merges far
  // from wrapping around.
  constexpr std::uint64_t kMaxTotal = std::uint64_t{1} << 62;
  std::uint64_t zero = 0;
  if (!r.varint(&zero)) return bad("quantile sketch", r, "truncated zero count");
  if (zero > kMaxTotal) return bad("quantile sketch", r, "zero count too large");
  std::int64_t key_lo = 0;
  std::int64_t key_hi = 0;
  key_bounds(mapping_for(alpha), &key_lo, &key_hi);
  QuantileSketch fresh(alpha, static_cast<std::uint32_t>(max_buckets));
  std::uint64_t total = zero;
  if (zero > 0) {
    fresh.store_ = std::make_unique<Store>();
    fresh.store_->add(0, 0, zero, fresh.max_buckets_);
  }
  for (int sgn : {-1, 1}) {
    std::uint64_t n = 0;
    if (!r.varint(&n)) return bad("quantile sketch", r, "truncated bucket count");
    if (n > r.left() / 2) {  // every bucket takes at least two bytes
      return bad("quantile sketch", r,
                 "bucket count " + std::to_string(n) + " exceeds the bytes left");
    }
    if (n > max_buckets) return bad("quantile sketch", r, "more buckets than max_buckets");
    std::int64_t first = 0;
    std::int64_t prev = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t raw = 0;
      std::uint64_t c = 0;
      if (!r.varint(&raw)) return bad("quantile sketch", r, "truncated bucket key");
      std::int64_t key = 0;
      if (i == 0) {
        key = unzigzag(raw);
        first = key;
      } else {
        if (raw == 0 || raw > static_cast<std::uint64_t>(key_hi - key_lo)) {
          return bad("quantile sketch", r, "bucket keys not increasing");
        }
        key = prev + static_cast<std::int64_t>(raw);
      }
      if (key < key_lo || key > key_hi) return bad("quantile sketch", r, "bucket key out of range");
      if (key - first + 1 > static_cast<std::int64_t>(max_buckets)) {
        return bad("quantile sketch", r, "bucket range exceeds max_buckets");
      }
      if (!r.varint(&c)) return bad("quantile sketch", r, "truncated bucket count");
      if (c == 0) return bad("quantile sketch", r, "empty bucket");
      if (c > kMaxTotal - total) return bad("quantile sketch", r, "total count too large");
      total += c;
      prev = key;
      if (!fresh.store_) fresh.store_ = std::make_unique<Store>();
      fresh.store_->add(sgn, static_cast<std::int32_t>(key), c, fresh.max_buckets_);
    }
  }
  *this = std::move(fresh);
  in->remove_prefix(r.pos());
  return Status::ok();
}

std::size_t QuantileSketch::memory_bytes() const {
  std::size_t b = sizeof(QuantileSketch);
  if (!store_) return b;
  b += heap_bytes(sizeof(Store));
  if (store_->big) {
    b += heap_bytes(sizeof(Big)) + store_->big->neg.heap() + store_->big->pos.heap();
  }
  return b;
}

// =============================================================================================
// DistinctCounter
// =============================================================================================
//
// Three representations, each a function of the set of hashes seen (so bytes are order
// independent): exact (up to 3 hashes inline), sparse (HLL++: one 32-bit entry per 25-bit
// index with its rank, linear counting over 2^25), dense (2^p one-byte registers, Ertl's
// improved raw estimator). A state moves on when its set outgrows the representation.

namespace {
constexpr std::uint8_t kDistinctVersion = 1;
constexpr int kSparseP = 25;
constexpr std::uint8_t kMinP = 4;
constexpr std::uint8_t kMaxP = 18;
constexpr std::size_t kExactMax = 3;
constexpr std::uint32_t kMaxSparseRho = 64 - kSparseP + 1;  // 40

std::uint32_t sparse_entry(std::uint64_t h) {
  auto idx = static_cast<std::uint32_t>(h >> (64 - kSparseP));
  std::uint64_t w = h << kSparseP;
  auto rho = static_cast<std::uint32_t>(std::min(std::countl_zero(w), 64 - kSparseP)) + 1;
  return (idx << 6) | rho;
}
std::uint32_t entry_index(std::uint32_t e) { return e >> 6; }
std::uint32_t entry_rho(std::uint32_t e) { return e & 63; }

std::size_t sparse_max(std::uint8_t p) { return (std::size_t{1} << p) / 4; }

// Register (index, rank) at precision p of a sparse entry: exact, the same as from the hash.
void entry_to_register(std::uint32_t e, std::uint8_t p, std::uint32_t* idx, std::uint8_t* rho) {
  int d = kSparseP - p;
  std::uint32_t i = entry_index(e);
  *idx = i >> d;
  std::uint32_t mid = i & ((1u << d) - 1);
  if (mid != 0) {
    *rho = static_cast<std::uint8_t>(std::countl_zero(mid) - (32 - d) + 1);
  } else {
    *rho = static_cast<std::uint8_t>(d + static_cast<int>(entry_rho(e)));
  }
}

void hash_to_register(std::uint64_t h, std::uint8_t p, std::uint32_t* idx, std::uint8_t* rho) {
  *idx = static_cast<std::uint32_t>(h >> (64 - p));
  *rho = static_cast<std::uint8_t>(std::min(std::countl_zero(h << p), 64 - p) + 1);
}

double ertl_sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1;
  double z = x;
  for (;;) {
    x *= x;
    double z_old = z;
    z += x * y;
    y += y;
    if (z == z_old) return z;
  }
}

double ertl_tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0;
  double z = 1 - x;
  for (;;) {
    x = std::sqrt(x);
    double z_old = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
    if (z == z_old) return z / 3;
  }
}
}  // namespace

struct DistinctCounter::Registers {
  enum Mode : std::uint8_t { kExact = 1, kSparse = 2, kDense = 3 };
  std::uint64_t small[kExactMax] = {};  // exact: sorted distinct hashes
  Mode mode = kExact;
  std::uint8_t n_small = 0;
  std::vector<std::uint32_t> data;  // sparse: sorted entries; dense: 2^p bytes of registers

  std::uint8_t* regs() { return reinterpret_cast<std::uint8_t*>(data.data()); }
  const std::uint8_t* regs() const { return reinterpret_cast<const std::uint8_t*>(data.data()); }

  void make_dense(std::uint8_t p) {
    std::vector<std::uint32_t> d((std::size_t{1} << p) / 4, 0);
    auto* r = reinterpret_cast<std::uint8_t*>(d.data());
    std::uint32_t idx = 0;
    std::uint8_t rho = 0;
    if (mode == kExact) {
      for (std::size_t i = 0; i < n_small; ++i) {
        hash_to_register(small[i], p, &idx, &rho);
        r[idx] = std::max(r[idx], rho);
      }
    } else if (mode == kSparse) {
      for (std::uint32_t e : data) {
        entry_to_register(e, p, &idx, &rho);
        r[idx] = std::max(r[idx], rho);
      }
    }
    data = std::move(d);
    mode = kDense;
    n_small = 0;
  }

  void make_sparse() {
    std::vector<std::uint32_t> d;
    d.reserve(8);
    data = std::move(d);
    mode = kSparse;
    for (std::size_t i = 0; i < n_small; ++i) insert_sparse(sparse_entry(small[i]));
    n_small = 0;
  }

  void insert_sparse(std::uint32_t e) {
    auto it = std::lower_bound(data.begin(), data.end(), e,
                               [](std::uint32_t a, std::uint32_t b) {
                                 return entry_index(a) < entry_index(b);
                               });
    if (it != data.end() && entry_index(*it) == entry_index(e)) {
      if (entry_rho(e) > entry_rho(*it)) *it = e;
    } else {
      data.insert(it, e);
    }
  }

  // Lowers a dense state's precision from `from` to `to` (to < from): exact, like re-hashing.
  void fold_dense(std::uint8_t from, std::uint8_t to) {
    std::vector<std::uint32_t> d((std::size_t{1} << to) / 4, 0);
    auto* out = reinterpret_cast<std::uint8_t*>(d.data());
    const std::uint8_t* in = regs();
    int k = from - to;
    for (std::uint32_t j = 0; j < (1u << from); ++j) {
      if (in[j] == 0) continue;
      std::uint32_t idx = j >> k;
      std::uint32_t mid = j & ((1u << k) - 1);
      auto rho = static_cast<std::uint8_t>(mid != 0 ? std::countl_zero(mid) - (32 - k) + 1
                                                    : k + in[j]);
      out[idx] = std::max(out[idx], rho);
    }
    data = std::move(d);
  }
};

DistinctCounter::DistinctCounter(std::uint8_t precision)
    : precision_(std::clamp(precision, kMinP, kMaxP)) {}

DistinctCounter::~DistinctCounter() = default;
DistinctCounter::DistinctCounter(DistinctCounter&&) noexcept = default;
DistinctCounter& DistinctCounter::operator=(DistinctCounter&&) noexcept = default;

DistinctCounter::DistinctCounter(const DistinctCounter& other)
    : registers_(other.registers_ ? std::make_unique<Registers>(*other.registers_) : nullptr),
      precision_(other.precision_) {}

DistinctCounter& DistinctCounter::operator=(const DistinctCounter& other) {
  if (this != &other) {
    DistinctCounter copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void DistinctCounter::add_hash(std::uint64_t hash) {
  if (!registers_) registers_ = std::make_unique<Registers>();
  Registers& r = *registers_;
  switch (r.mode) {
    case Registers::kExact: {
      std::uint64_t* end = r.small + r.n_small;
      std::uint64_t* it = std::lower_bound(r.small, end, hash);
      if (it != end && *it == hash) return;
      if (r.n_small < kExactMax) {
        std::copy_backward(it, end, end + 1);
        *it = hash;
        ++r.n_small;
        return;
      }
      r.make_sparse();
      [[fallthrough]];
    }
    case Registers::kSparse:
      r.insert_sparse(sparse_entry(hash));
      if (r.data.size() > sparse_max(precision_)) r.make_dense(precision_);
      return;
    case Registers::kDense: {
      std::uint32_t idx = 0;
      std::uint8_t rho = 0;
      hash_to_register(hash, precision_, &idx, &rho);
      std::uint8_t* regs = r.regs();
      regs[idx] = std::max(regs[idx], rho);
      return;
    }
  }
}

void DistinctCounter::merge(const DistinctCounter& other) {
  if (!other.registers_) return;
  if (&other == this) return;  // union with itself
  const Registers& o = *other.registers_;
  if (o.mode == Registers::kExact) {
    for (std::size_t i = 0; i < o.n_small; ++i) add_hash(o.small[i]);
    return;
  }
  if (!registers_) registers_ = std::make_unique<Registers>();
  Registers& r = *registers_;
  if (o.mode == Registers::kSparse) {
    if (r.mode == Registers::kDense) {
      std::uint8_t* regs = r.regs();
      std::uint32_t idx = 0;
      std::uint8_t rho = 0;
      for (std::uint32_t e : o.data) {
        entry_to_register(e, precision_, &idx, &rho);
        regs[idx] = std::max(regs[idx], rho);
      }
      return;
    }
    if (r.mode == Registers::kExact) r.make_sparse();
    std::vector<std::uint32_t> merged;
    merged.reserve(r.data.size() + o.data.size());
    auto a = r.data.begin();
    auto b = o.data.begin();
    while (a != r.data.end() || b != o.data.end()) {
      if (b == o.data.end() || (a != r.data.end() && entry_index(*a) < entry_index(*b))) {
        merged.push_back(*a++);
      } else if (a == r.data.end() || entry_index(*b) < entry_index(*a)) {
        merged.push_back(*b++);
      } else {
        merged.push_back(std::max(*a++, *b++));  // same index: the larger rank wins
      }
    }
    merged.shrink_to_fit();
    r.data = std::move(merged);
    if (r.data.size() > sparse_max(precision_)) r.make_dense(precision_);
    return;
  }
  // Other is dense: the result is dense at the lower of the two precisions.
  std::uint8_t target = std::min(precision_, other.precision_);
  if (r.mode != Registers::kDense) {
    r.make_dense(target);
  } else if (precision_ > target) {
    r.fold_dense(precision_, target);
  }
  precision_ = target;
  if (other.precision_ == target) {
    std::uint8_t* regs = r.regs();
    const std::uint8_t* oregs = o.regs();
    for (std::size_t j = 0; j < (std::size_t{1} << target); ++j) {
      regs[j] = std::max(regs[j], oregs[j]);
    }
  } else {
    Registers folded = o;
    folded.fold_dense(other.precision_, target);
    std::uint8_t* regs = r.regs();
    const std::uint8_t* oregs = folded.regs();
    for (std::size_t j = 0; j < (std::size_t{1} << target); ++j) {
      regs[j] = std::max(regs[j], oregs[j]);
    }
  }
}

std::uint64_t DistinctCounter::estimate() const {
  if (!registers_) return 0;
  const Registers& r = *registers_;
  switch (r.mode) {
    case Registers::kExact:
      return r.n_small;
    case Registers::kSparse: {
      double m = static_cast<double>(std::uint64_t{1} << kSparseP);
      double v = m - static_cast<double>(r.data.size());
      return static_cast<std::uint64_t>(std::llround(m * std::log(m / v)));
    }
    case Registers::kDense: {
      int q = 64 - precision_;
      std::size_t m = std::size_t{1} << precision_;
      std::vector<std::uint32_t> c(static_cast<std::size_t>(q) + 2, 0);
      const std::uint8_t* regs = r.regs();
      for (std::size_t j = 0; j < m; ++j) ++c[std::min<std::size_t>(regs[j], q + 1)];
      double md = static_cast<double>(m);
      double z = md * ertl_tau((md - c[static_cast<std::size_t>(q) + 1]) / md);
      for (int k = q; k >= 1; --k) z = 0.5 * (z + c[static_cast<std::size_t>(k)]);
      z += md * ertl_sigma(c[0] / md);
      double est = (md * md / (2.0 * std::log(2.0))) / z;
      return static_cast<std::uint64_t>(std::llround(est));
    }
  }
  return 0;
}

void DistinctCounter::encode(std::string* out) const {
  put_u8(out, kDistinctVersion);
  put_u8(out, precision_);
  if (!registers_) {
    put_u8(out, 0);
    return;
  }
  const Registers& r = *registers_;
  put_u8(out, r.mode);
  switch (r.mode) {
    case Registers::kExact:
      put_u8(out, r.n_small);
      for (std::size_t i = 0; i < r.n_small; ++i) put_u64(out, r.small[i]);
      break;
    case Registers::kSparse:
      put_varint(out, r.data.size());
      for (std::size_t i = 0; i < r.data.size(); ++i) {
        put_varint(out, i == 0 ? r.data[0] : r.data[i] - r.data[i - 1]);
      }
      break;
    case Registers::kDense:
      out->append(reinterpret_cast<const char*>(r.regs()), std::size_t{1} << precision_);
      break;
  }
}

Status DistinctCounter::decode(std::string_view* in) {
  Reader rd(*in);
  std::uint8_t version = 0;
  std::uint8_t p = 0;
  std::uint8_t mode = 0;
  if (!rd.u8(&version)) return bad("distinct counter", rd, "truncated (empty)");
  if (version != kDistinctVersion) {
    return bad("distinct counter", rd, "unknown version " + std::to_string(version));
  }
  if (!rd.u8(&p)) return bad("distinct counter", rd, "truncated precision");
  if (p < kMinP || p > kMaxP) {
    return bad("distinct counter", rd, "precision " + std::to_string(p) + " out of range");
  }
  if (!rd.u8(&mode)) return bad("distinct counter", rd, "truncated mode");
  DistinctCounter fresh(p);
  switch (mode) {
    case 0:
      break;
    case Registers::kExact: {
      std::uint8_t n = 0;
      if (!rd.u8(&n)) return bad("distinct counter", rd, "truncated count");
      if (n < 1 || n > kExactMax) return bad("distinct counter", rd, "bad exact count");
      auto r = std::make_unique<Registers>();
      for (std::size_t i = 0; i < n; ++i) {
        if (!rd.u64(&r->small[i])) return bad("distinct counter", rd, "truncated hash");
        if (i > 0 && r->small[i] <= r->small[i - 1]) {
          return bad("distinct counter", rd, "hashes not increasing");
        }
      }
      r->n_small = n;
      fresh.registers_ = std::move(r);
      break;
    }
    case Registers::kSparse: {
      std::uint64_t n = 0;
      if (!rd.varint(&n)) return bad("distinct counter", rd, "truncated entry count");
      // A sparse state holds more than 3 hashes but may have fewer entries (hashes sharing a
      // 25-bit index), so only emptiness is rejected.
      if (n < 1 || n > sparse_max(p) || n > rd.left()) {
        return bad("distinct counter", rd, "bad sparse entry count " + std::to_string(n));
      }
      auto r = std::make_unique<Registers>();
      r->mode = Registers::kSparse;
      r->data.reserve(n);
      std::uint64_t prev = 0;
      for (std::uint64_t i = 0; i < n; ++i) {
        std::uint64_t v = 0;
        if (!rd.varint(&v)) return bad("distinct counter", rd, "truncated entry");
        std::uint64_t e = i == 0 ? v : prev + v;
        if (e >= (std::uint64_t{1} << (kSparseP + 6))) {
          return bad("distinct counter", rd, "entry out of range");
        }
        auto e32 = static_cast<std::uint32_t>(e);
        if (entry_rho(e32) < 1 || entry_rho(e32) > kMaxSparseRho) {
          return bad("distinct counter", rd, "entry rank out of range");
        }
        if (i > 0 && entry_index(e32) <= entry_index(static_cast<std::uint32_t>(prev))) {
          return bad("distinct counter", rd, "entries not increasing");
        }
        r->data.push_back(e32);
        prev = e;
      }
      fresh.registers_ = std::move(r);
      break;
    }
    case Registers::kDense: {
      std::size_t m = std::size_t{1} << p;
      const char* bytes = nullptr;
      if (!rd.bytes(m, &bytes)) return bad("distinct counter", rd, "truncated registers");
      auto r = std::make_unique<Registers>();
      r->mode = Registers::kDense;
      r->data.assign(m / 4, 0);
      std::memcpy(r->regs(), bytes, m);
      for (std::size_t j = 0; j < m; ++j) {
        if (r->regs()[j] > 64 - p + 1) return bad("distinct counter", rd, "register out of range");
      }
      fresh.registers_ = std::move(r);
      break;
    }
    default:
      return bad("distinct counter", rd, "unknown mode " + std::to_string(mode));
  }
  *this = std::move(fresh);
  in->remove_prefix(rd.pos());
  return Status::ok();
}

std::size_t DistinctCounter::memory_bytes() const {
  std::size_t b = sizeof(DistinctCounter);
  if (!registers_) return b;
  return b + heap_bytes(sizeof(Registers)) +
         heap_bytes(registers_->data.capacity() * sizeof(std::uint32_t));
}

}  // namespace outpost::query
