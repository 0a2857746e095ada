// aoti-executord as a separate process with exactly the flags a test gives,
// its stderr kept in a file, optionally as another user: for the peer-policy
// and TLS tests, whose daemons DaemonProcess cannot start (it picks the
// socket directory, runs as the test's user and waits for a health check,
// which a daemon that refuses the test's user, or serves only TLS, fails).
#ifndef AOTI_EXECUTOR_TESTS_E2E_LOGGED_DAEMON_H_
#define AOTI_EXECUTOR_TESTS_E2E_LOGGED_DAEMON_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aoti_executor {
namespace e2e {

class LoggedDaemon {
 public:
  struct Options {
    std::vector<std::string> flags;
    // Where its stderr goes.
    std::string log_path;
    // If >= 0: the daemon runs as this uid and gid (no supplementary groups).
    int uid = -1;
    int gid = -1;
  };

  // Starts //server:aoti-executord with --log-level=info and `flags`, and
  // waits until it logs that it is ready. An error holding its log if it
  // exits first.
  static absl::StatusOr<std::unique_ptr<LoggedDaemon>> Start(Options options);
  // SIGTERM, then SIGKILL if it has not exited within 30 s.
  ~LoggedDaemon();

  pid_t pid() const { return pid_; }
  // Its stderr so far.
  std::string Log() const;
  // Waits (up to `timeout`) until its stderr holds `text`; false if not.
  bool WaitForLog(const std::string& text, absl::Duration timeout) const;
  // The port of "serving metrics on http://... (port N)" in its log, or -1.
  int MetricsPort() const;

 private:
  LoggedDaemon(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;
  std::string log_path_;
};

// Runs aoti-executord with `args` (e.g. a refused flag set, or --status) and
// `env` ("NAME=VALUE", added to the test's environment) to its exit.
struct CommandResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string output;  // stdout and stderr
};
absl::StatusOr<CommandResult> RunDaemonCommand(
    const std::vector<std::string>& args,
    const std::vector<std::string>& env = {});

// GET http://127.0.0.1:`port`/metrics; the page, or an error.
absl::StatusOr<std::string> ScrapeMetrics(int port);

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_LOGGED_DAEMON_H_
