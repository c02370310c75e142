// Wall and monotonic time for store/, behind an interface so tests can make wall time jump
// (a board without an RTC boots in 1970, then NTP answers) and step the monotonic clock.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

namespace outpost::store {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t wall_ms() const = 0;    // ms since the Unix epoch; may jump
  virtual std::int64_t steady_ms() const = 0;  // monotonic ms since an arbitrary start
  // The system clocks (CLOCK_REALTIME, CLOCK_MONOTONIC); never null, never freed.
  static Clock* system();
};

// A clock for tests: starts where told and moves only when told.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t wall_ms = 1'700'000'000'000, std::int64_t steady_ms = 1'000)
      : wall_(wall_ms), steady_(steady_ms) {}
  std::int64_t wall_ms() const override { return wall_.load(); }
  std::int64_t steady_ms() const override { return steady_.load(); }
  void set_wall_ms(std::int64_t v) { wall_.store(v); }
  void advance_wall_ms(std::int64_t d) { wall_.fetch_add(d); }
  void advance_steady_ms(std::int64_t d) { steady_.fetch_add(d); }
  // Both clocks move by d (ordinary passing of time).
  void advance_ms(std::int64_t d) {
    advance_wall_ms(d);
    advance_steady_ms(d);
  }

 private:
  std::atomic<std::int64_t> wall_;
  std::atomic<std::int64_t> steady_;
};

}  // namespace outpost::store
