// Retry delays: exponential back-off with +-20% jitter. Each instance draws its jitter from its
// own seed (the OS's random source mixed with the instance's address and the time), so gateways
// that lost the same broker or cluster at the same moment do not retry in step, and neither do
// two sources of one process.
//
// Threads: an instance belongs to the thread that calls it.
#pragma once

#include <cstdint>

namespace outpost::base {

struct BackoffOptions {
  std::int64_t min_ms = 500;    // first delay (at least 1 ms)
  std::int64_t max_ms = 30000;  // cap; the delay doubles per failed attempt up to this
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options);
  // A fixed seed, for tests that need the same delays twice.
  Backoff(BackoffOptions options, std::uint64_t seed);

  // Delay before the next attempt: min_ms * 2^attempts, capped at max_ms, times a factor drawn
  // uniformly from [0.8, 1.2]; never below 1 ms.
  std::int64_t next_delay_ms();
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffOptions options_;
  int attempt_ = 0;
  std::uint64_t rng_;
};

}  // namespace outpost::base
