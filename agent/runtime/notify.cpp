#include "agent/runtime/notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace outpost::runtime {

SystemdNotifier::SystemdNotifier() {
  enabled_ = std::getenv("NOTIFY_SOCKET") != nullptr;
  std::uint64_t usec = 0;
  // sd_watchdog_enabled checks WATCHDOG_PID against our pid too.
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_usec_ = usec;
}

void SystemdNotifier::send(const std::string& text) {
  if (enabled_) sd_notify(0, text.c_str());
}

void SystemdNotifier::ready(const std::string& status) { send("READY=1\nSTATUS=" + status); }
void SystemdNotifier::status(const std::string& status) { send("STATUS=" + status); }
void SystemdNotifier::watchdog() { send("WATCHDOG=1"); }
void SystemdNotifier::stopping(const std::string& status) { send("STOPPING=1\nSTATUS=" + status); }
void SystemdNotifier::reloading() { send("RELOADING=1"); }

}  // namespace outpost::runtime
