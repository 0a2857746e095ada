#include "server/service/systemd_watchdog.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

SystemdWatchdog::SystemdWatchdog(const SystemdNotifier* notifier, Probe probe)
    : notifier_(notifier), probe_(std::move(probe)) {
  if (notifier_->enabled()) thread_ = std::thread([this] { Loop(); });
}

SystemdWatchdog::~SystemdWatchdog() { Stop(); }

void SystemdWatchdog::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Duration SystemdWatchdog::Period(const SystemdNotifier& notifier) {
  const absl::Duration most = absl::Seconds(5);
  if (!notifier.watchdog_timeout().has_value()) return most;
  return std::min(*notifier.watchdog_timeout() / 2, most);
}

void SystemdWatchdog::Loop() {
  pthread_setname_np(pthread_self(), kThreadName);
  const absl::Duration period = Period(*notifier_);
  bool answered = true;  // whether the last probe was answered
  while (true) {
    const absl::Time next = absl::Now() + period;
    // A probe that takes a whole period is a daemon too slow to count as
    // serving.
    absl::StatusOr<std::string> line = probe_(period);
    if (line.ok()) {
      notifier_->Status(*line);
      notifier_->PingWatchdog();
      if (!answered) spdlog::info("watchdog: the daemon answers again");
    } else {
      notifier_->Status("not answering: " + line.status().ToString());
      // Once per outage: the log must not fill while it lasts.
      if (answered) {
        spdlog::error("watchdog: no proof of life ({}); not pinging",
                      line.status().ToString());
      }
    }
    answered = line.ok();
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithDeadline(absl::Condition(&stopping_), next)) return;
  }
}

}  // namespace aoti_executor
