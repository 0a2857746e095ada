// The real aoti-executord, started as a separate process for a test: its own
// temporary socket directory, its own op libraries, and a clean stop.
#ifndef AOTI_EXECUTOR_TESTS_E2E_DAEMON_PROCESS_H_
#define AOTI_EXECUTOR_TESTS_E2E_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aoti_executor {
namespace e2e {

// The absolute path of a runfile given relative to the workspace root.
std::string RunfilePath(const std::string& relative);

// A TCP port on 127.0.0.1 that nothing listens on now (bound to 0, read back,
// released), for a daemon's --listen=tcp: or --metrics-listen.
int FreeTcpPort();

// Daemon flags that load tests/ops/libaoti_misbehaving_ops.so (ops that
// crash, hang, throw...), followed by `more`. The test must have the library
// in its data.
std::vector<std::string> MisbehavingOpsFlags(
    std::vector<std::string> more = {});

class DaemonProcess {
 public:
  // Starts //server:aoti-executord with `--listen=unix:<tmp>/executor.sock`,
  // --load-library for the test op library, and `extra_flags`; waits until
  // its health check answers SERVING.
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(
      const std::vector<std::string>& extra_flags = {});

  // Stops the daemon (SIGTERM, then SIGKILL after 10 s) and removes the
  // socket directory.
  ~DaemonProcess();

  // "unix:/tmp/aoti-e2e.XXXXXX/executor.sock".
  const std::string& endpoint() const { return endpoint_; }
  const std::string& socket_dir() const { return dir_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` and reaps the process; returns its wait status.
  int KillAndWait(int signal);
  // Sends `signal` and reaps the process if it exits within `timeout`;
  // returns its wait status, or DeadlineExceeded (it is still running).
  absl::StatusOr<int> SignalAndWait(int signal, absl::Duration timeout);
  // Starts the daemon again on the same endpoint (after KillAndWait).
  absl::Status Restart();

  // Stops (SIGSTOP) the daemon and its workers, as a frozen container would,
  // and waits until all of them are stopped; a call over the call lane
  // reaches the worker without the daemon, so stopping the daemon alone
  // would not stop calls. Thaw sends SIGCONT to each.
  absl::Status Freeze();
  void Thaw();

 private:
  DaemonProcess(std::string dir, std::vector<std::string> flags);
  absl::Status Launch();

  std::string dir_;
  std::string endpoint_;
  std::vector<std::string> flags_;
  pid_t pid_ = -1;
  std::vector<pid_t> frozen_workers_;
};

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_DAEMON_PROCESS_H_
