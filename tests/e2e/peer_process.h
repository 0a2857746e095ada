// A helper program run as a separate client process of the daemon, with its
// stdin and stdout piped to the test: the test reads the lines it prints
// ("ready") and closes its stdin to let it go on.
#ifndef AOTI_EXECUTOR_TESTS_E2E_PEER_PROCESS_H_
#define AOTI_EXECUTOR_TESTS_E2E_PEER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aoti_executor {
namespace e2e {

class PeerProcess {
 public:
  // Runs `binary` with `args` (posix_spawn, so safe in a process with gRPC
  // threads), inheriting the environment and stderr.
  static absl::StatusOr<std::unique_ptr<PeerProcess>> Spawn(
      const std::string& binary, const std::vector<std::string>& args);
  // SIGKILLs and reaps the process if it is still running.
  ~PeerProcess();

  pid_t pid() const { return pid_; }

  // The next line it printed (without the newline), waiting up to `timeout`.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);
  // Closes its stdin: it reads EOF.
  void CloseStdin();
  // Waits up to `timeout` for it to exit; returns its wait status.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // Sends `signal` and reaps it; returns its wait status.
  int KillAndWait(int signal);

 private:
  PeerProcess() = default;

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
};

}  // namespace e2e
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_TESTS_E2E_PEER_PROCESS_H_
