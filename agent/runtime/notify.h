// systemd's notification protocol (sd_notify(3)) for `outpost run` under Type=notify.
//
// All calls are no-ops when NOTIFY_SOCKET is not set, so the daemon runs the same by hand.
// Owned by the daemon's loop thread.
#pragma once

#include <cstdint>
#include <string>

namespace outpost::runtime {

class SystemdNotifier {
 public:
  SystemdNotifier();

  bool enabled() const { return enabled_; }
  // WATCHDOG_USEC from the environment, 0 when the watchdog is off (or not meant for us).
  std::uint64_t watchdog_usec() const { return watchdog_usec_; }

  void ready(const std::string& status);
  void status(const std::string& status);
  void watchdog();
  void stopping(const std::string& status);
  void reloading();

 private:
  void send(const std::string& text);
  bool enabled_ = false;
  std::uint64_t watchdog_usec_ = 0;
};

}  // namespace outpost::runtime
