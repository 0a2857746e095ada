// The thread that keeps systemd informed while the daemon serves: every
// period it asks the daemon's own gRPC server for its status (a
// LivenessProbe), and only if the answer comes does it send the counters as
// STATUS= and, under WatchdogSec=, ping WATCHDOG=1. A daemon whose serving
// threads are stuck therefore stops pinging, and systemd restarts it; a
// missed answer is shown as STATUS= instead.
//
// The thread runs only under systemd (NOTIFY_SOCKET set); it pings only if
// systemd watches this process (WATCHDOG_USEC, WATCHDOG_PID).
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_SYSTEMD_WATCHDOG_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_SYSTEMD_WATCHDOG_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/service/systemd_notifier.h"

namespace aoti_executor {

class SystemdWatchdog {
 public:
  // The proof of life: the status line, or why there is none, within
  // `timeout` (LivenessProbe::Check).
  using Probe =
      std::function<absl::StatusOr<std::string>(absl::Duration timeout)>;

  // The thread's name, so that a test can tell it from the serving threads.
  static constexpr char kThreadName[] = "aoti-watchdog";

  // Starts the thread if `notifier` is enabled; `notifier` must outlive
  // this object.
  SystemdWatchdog(const SystemdNotifier* notifier, Probe probe);
  ~SystemdWatchdog();  // Stop()
  SystemdWatchdog(const SystemdWatchdog&) = delete;
  SystemdWatchdog& operator=(const SystemdWatchdog&) = delete;

  // Ends the thread (at SIGTERM: systemd does not watch a stopping service).
  // Idempotent.
  void Stop();

  // Half of WatchdogSec= (systemd's advice) but at most 5 s, so that STATUS=
  // stays fresh; 5 s without a watchdog.
  static absl::Duration Period(const SystemdNotifier& notifier);

 private:
  void Loop();

  const SystemdNotifier* const notifier_;
  const Probe probe_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_SYSTEMD_WATCHDOG_H_
