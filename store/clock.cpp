#include "store/clock.h"

#include <time.h>

namespace outpost::store {
namespace {

std::int64_t read_ms(clockid_t id) {
  struct timespec ts;
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

class SystemClock final : public Clock {
 public:
  std::int64_t wall_ms() const override { return read_ms(CLOCK_REALTIME); }
  std::int64_t steady_ms() const override { return read_ms(CLOCK_MONOTONIC); }
};

}  // namespace

Clock* Clock::system() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

}  // namespace outpost::store
