#include "base/backoff.h"

#include <chrono>
#include <random>

namespace outpost::base {
namespace {

// splitmix64: spreads a seed's bits (and never leaves the xorshift state zero).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x ? x : 0x9E3779B97F4A7C15ull;
}

std::uint64_t instance_seed(const void* self) {
  std::uint64_t seed = static_cast<std::uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  seed ^= reinterpret_cast<std::uintptr_t>(self);
  try {
    std::random_device rd;  // getrandom(2) on Linux
    seed ^= (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {
    // No OS random source: the address and the time still differ between instances.
  }
  return seed;
}

}  // namespace

Backoff::Backoff(BackoffOptions options) : options_(options), rng_(mix(instance_seed(this))) {}

Backoff::Backoff(BackoffOptions options, std::uint64_t seed) : options_(options), rng_(mix(seed)) {}

std::int64_t Backoff::next_delay_ms() {
  std::int64_t delay = options_.min_ms > 0 ? options_.min_ms : 1;
  for (int i = 0; i < attempt_ && delay < options_.max_ms; ++i) delay *= 2;
  if (delay > options_.max_ms) delay = options_.max_ms;
  ++attempt_;
  // xorshift64: jitter needs no quality, only independence between instances.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  const double unit = static_cast<double>(rng_ % 10001) / 10000.0;  // [0, 1]
  const double factor = 0.8 + 0.4 * unit;
  const auto jittered = static_cast<std::int64_t>(static_cast<double>(delay) * factor);
  return jittered < 1 ? 1 : jittered;
}

}  // namespace outpost::base
