// The daemon's side of systemd's service notification protocol (Type=notify
// and WatchdogSec=), through libsystemd's sd_notify: READY=1, STATUS=,
// STOPPING=1 and WATCHDOG=1. Outside systemd (no NOTIFY_SOCKET in the
// environment) every call is a no-op, so the daemon runs the same anywhere.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_SYSTEMD_NOTIFIER_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_SYSTEMD_NOTIFIER_H_

#include <string>

#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace aoti_executor {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID once. The watchdog
  // counts only if WATCHDOG_PID is this process (or unset): workers inherit
  // the environment, and systemd watches the main process alone.
  SystemdNotifier();

  // Whether systemd listens (NOTIFY_SOCKET is set).
  bool enabled() const { return enabled_; }
  // How often systemd expects WATCHDOG=1 at the latest (WatchdogSec=), or
  // nullopt when it does not watch this process.
  absl::optional<absl::Duration> watchdog_timeout() const {
    return watchdog_timeout_;
  }

  // Startup is done: the sockets accept and a worker is ready.
  void Ready() const;
  // One line for `systemctl status`; newlines are replaced by spaces.
  void Status(const std::string& text) const;
  // Shutdown has begun (before the drain, which may take a while).
  void Stopping() const;
  // Proof of life; call only after checking that the daemon serves.
  void PingWatchdog() const;

 private:
  void Notify(const std::string& state) const;

  bool enabled_ = false;
  absl::optional<absl::Duration> watchdog_timeout_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_SYSTEMD_NOTIFIER_H_
