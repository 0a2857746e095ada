#include "server/service/systemd_notifier.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "spdlog/spdlog.h"

namespace aoti_executor {

SystemdNotifier::SystemdNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && socket[0] != '\0';
  uint64_t usec = 0;
  // Keeps the variables (unset_environment = 0): they are harmless in the
  // workers, whose pid is not WATCHDOG_PID, and a process that runs the
  // daemon in-process (a test) may read them again.
  const int watched = sd_watchdog_enabled(0, &usec);
  if (watched < 0) {
    spdlog::warn("systemd watchdog settings ignored: {}",
                 std::strerror(-watched));
  } else if (enabled_ && watched > 0 && usec > 0) {
    watchdog_timeout_ = absl::Microseconds(static_cast<int64_t>(usec));
  }
}

void SystemdNotifier::Ready() const { Notify("READY=1"); }

void SystemdNotifier::Stopping() const { Notify("STOPPING=1"); }

void SystemdNotifier::PingWatchdog() const {
  if (watchdog_timeout_.has_value()) Notify("WATCHDOG=1");
}

void SystemdNotifier::Status(const std::string& text) const {
  std::string line = "STATUS=" + text;
  // The protocol is one assignment per line.
  std::replace(line.begin(), line.end(), '\n', ' ');
  Notify(line);
}

void SystemdNotifier::Notify(const std::string& state) const {
  if (!enabled_) return;
  const int sent = sd_notify(/*unset_environment=*/0, state.c_str());
  // Not fatal: systemd may have gone away (daemon-reexec), and the watchdog
  // is what notices a daemon that really stopped notifying.
  if (sent < 0) {
    spdlog::debug("sd_notify({}): {}", state, std::strerror(-sent));
  }
}

}  // namespace aoti_executor
