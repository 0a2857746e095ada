#include "server/workers/process_launcher.h"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "server/workers/process_spawn.h"

namespace aoti_executor {
namespace {

class RealProcessLauncher final : public ProcessLauncher {
 public:
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                              int child_fd) override {
    return SpawnProcess(argv, child_fd);
  }

  absl::Status Kill(pid_t pid, int signal) override {
    if (kill(pid, signal) != 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("kill(", pid, ", ", SignalName(signal), ")"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<int>> TryWait(pid_t pid) override {
    int status = 0;
    pid_t waited;
    do {
      waited = waitpid(pid, &status, WNOHANG);
    } while (waited < 0 && errno == EINTR);
    if (waited < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("waitpid(", pid, ")"));
    }
    if (waited == 0) return std::nullopt;
    return status;
  }

  absl::StatusOr<int> Wait(pid_t pid) override {
    int status = 0;
    pid_t waited;
    do {
      waited = waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (waited < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("waitpid(", pid, ")"));
    }
    return status;
  }
};

}  // namespace

ProcessLauncher* ProcessLauncher::Real() {
  static ProcessLauncher* const real = new RealProcessLauncher();
  return real;
}

}  // namespace aoti_executor
