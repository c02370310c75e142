// The approximate and exact-summation aggregate states the query engine keeps per group.
//
// Every state here is deterministic (same input multiset -> same bytes, whatever the order or
// batching), mergeable (hop windows and sessions merge partial states) and encodable (query
// checkpoints store them; decode() rejects bytes it did not write with a message, never UB).
// They are plain value types, not virtual: a window with 1 M groups keeps one of each per
// group, so memory_bytes() of a small state must stay in the tens of bytes.
//
// Threads: none; a state belongs to the query thread that owns its group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace outpost::query {

// Sum of doubles whose result does not depend on the order of add()/merge() calls: the exact
// sum of the inputs, rounded once (Shewchuk partials, as Python's math.fsum). Infinities and
// NaN follow IEEE rules (inf + -inf = NaN). Typical sensor data keeps 1-3 partials.
class ExactSum {
 public:
  void add(double x);
  void merge(const ExactSum& other);
  double value() const;  // correctly rounded
  void encode(std::string* out) const;
  // Consumes the state's bytes from the front of *in.
  Status decode(std::string_view* in);
  std::size_t memory_bytes() const;

  // The partials: up to 3 inline (what sensor data needs), so a sum in a group's block costs
  // no allocation of its own; more move to the heap.
  class Partials {
   public:
    Partials() = default;
    Partials(const Partials& o) { *this = o; }
    Partials& operator=(const Partials& o);
    Partials(Partials&& o) noexcept { *this = std::move(o); }
    Partials& operator=(Partials&& o) noexcept;
    ~Partials() { release(); }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    std::size_t capacity() const { return heap_ ? cap_ : kInline; }
    double* data() { return heap_ ? heap_ : inline_; }
    const double* data() const { return heap_ ? heap_ : inline_; }
    double* begin() { return data(); }
    double* end() { return data() + size_; }
    const double* begin() const { return data(); }
    const double* end() const { return data() + size_; }
    double& operator[](std::size_t i) { return data()[i]; }
    double operator[](std::size_t i) const { return data()[i]; }
    void push_back(double x);
    void shrink_to(std::size_t n) { size_ = static_cast<std::uint32_t>(n); }  // n <= size()
    void clear() { size_ = 0; }
    bool on_heap() const { return heap_ != nullptr; }

   private:
    static constexpr std::size_t kInline = 3;
    void release();
    double inline_[kInline] = {};
    double* heap_ = nullptr;
    std::uint32_t size_ = 0;
    std::uint32_t cap_ = 0;  // of heap_
  };

 private:
  Partials partials_;   // non-overlapping, increasing magnitude
  double special_ = 0;  // sum of non-finite inputs (inf/nan), kept apart
};

// DDSketch-style quantile sketch: log-spaced buckets with relative accuracy `alpha`
// (default 0.01), so for any q the estimate v satisfies |v - x| <= alpha * |x| where x is the
// exact order statistic at rank floor(q * (n - 1)). Negative values, zero and positive values
// are kept apart. Memory is bounded by max_buckets per sign (default 2048): past that the
// lowest buckets are collapsed, which only loses accuracy for the lowest quantiles (documented
// in SKETCHES.md). The bucket store is sparse (sorted index/count pairs) while small, so a group
// that saw a handful of values costs tens of bytes.
class QuantileSketch {
 public:
  explicit QuantileSketch(double alpha = 0.01, std::uint32_t max_buckets = 2048);
  // Out of line: Store is incomplete here. Copies are deep (hop windows copy partial states).
  ~QuantileSketch();
  QuantileSketch(const QuantileSketch& other);
  QuantileSketch& operator=(const QuantileSketch& other);
  QuantileSketch(QuantileSketch&&) noexcept;
  QuantileSketch& operator=(QuantileSketch&&) noexcept;
  void add(double x);  // NaN is ignored (and counted by the caller); +-inf clamp to +-max
  void merge(const QuantileSketch& other);  // same alpha required (checked)
  std::uint64_t count() const;
  // q in [0, 1]; NaN when empty.
  double quantile(double q) const;
  void encode(std::string* out) const;
  Status decode(std::string_view* in);
  std::size_t memory_bytes() const;
  double relative_accuracy() const;

 private:
  struct Store;
  std::unique_ptr<Store> store_;  // null while empty: an unused sketch costs one pointer
  double alpha_;
  std::uint32_t max_buckets_;
};

// HyperLogLog distinct counter over 64-bit hashes (the caller hashes values with XXH3_64).
// Precision p = 14 by default: dense standard error 1.04 / sqrt(2^p) = 0.81%; exact (a sorted
// list of hashes) below a small threshold, then sparse, then dense 2^p registers, so small
// groups stay small. The bound and memory are documented in SKETCHES.md.
class DistinctCounter {
 public:
  explicit DistinctCounter(std::uint8_t precision = 14);
  ~DistinctCounter();
  DistinctCounter(const DistinctCounter& other);
  DistinctCounter& operator=(const DistinctCounter& other);
  DistinctCounter(DistinctCounter&&) noexcept;
  DistinctCounter& operator=(DistinctCounter&&) noexcept;
  void add_hash(std::uint64_t hash);
  void merge(const DistinctCounter& other);
  std::uint64_t estimate() const;
  void encode(std::string* out) const;
  Status decode(std::string_view* in);
  std::size_t memory_bytes() const;

 private:
  struct Registers;
  std::unique_ptr<Registers> registers_;  // null while empty
  std::uint8_t precision_;
};

}  // namespace outpost::query
