#include "tests/e2e/daemon_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/unique_fd.h"
#include "server/health_check.h"
#include "tests/e2e/proc_probe.h"

namespace aoti_executor {
namespace e2e {

std::string RunfilePath(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && workspace != nullptr) {
    return absl::StrCat(srcdir, "/", workspace, "/", relative);
  }
  return relative;
}

int FreeTcpPort() {
  const UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
          0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) !=
          0) {
    return -1;
  }
  return ntohs(address.sin_port);
}

DaemonProcess::DaemonProcess(std::string dir, std::vector<std::string> flags)
    : dir_(std::move(dir)),
      endpoint_(absl::StrCat("unix:", dir_, "/executor.sock")),
      flags_(std::move(flags)) {}

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(
    const std::vector<std::string>& extra_flags) {
  // Not $TEST_TMPDIR: its paths are too long for sockaddr_un.
  char dir[] = "/tmp/aoti-e2e.XXXXXX";
  if (mkdtemp(dir) == nullptr) {
    return absl::ErrnoToStatus(errno, "mkdtemp");
  }
  std::vector<std::string> flags = {
      absl::StrCat("--listen=unix:", dir, "/executor.sock"),
      absl::StrCat("--load-library=",
                   RunfilePath("tests/ops/libaoti_test_ops.so")),
      "--log-level=warn"};
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  std::unique_ptr<DaemonProcess> daemon(
      new DaemonProcess(dir, std::move(flags)));
  if (absl::Status launched = daemon->Launch(); !launched.ok()) return launched;
  return daemon;
}

absl::Status DaemonProcess::Launch() {
  const std::string binary = RunfilePath("server/aoti-executord");
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (std::string& flag : flags_) argv.push_back(flag.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid_ == 0) {
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  absl::Status health;
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("aoti-executord exited during start, status ", status));
    }
    health = CheckHealth(endpoint_, absl::Seconds(1));
    if (health.ok()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "aoti-executord did not become healthy: ", health.ToString()));
}

int DaemonProcess::KillAndWait(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

absl::StatusOr<int> DaemonProcess::SignalAndWait(int signal,
                                                 absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("no daemon running");
  kill(pid_, signal);
  const absl::Time give_up = absl::Now() + timeout;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat("aoti-executord did not exit within ",
                       absl::FormatDuration(timeout), " of signal ", signal));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  pid_ = -1;
  return status;
}

absl::Status DaemonProcess::Restart() { return Launch(); }

std::vector<std::string> MisbehavingOpsFlags(std::vector<std::string> more) {
  more.push_back(absl::StrCat(
      "--load-library=", RunfilePath("tests/ops/libaoti_misbehaving_ops.so")));
  return more;
}

absl::Status DaemonProcess::Freeze() {
  frozen_workers_.clear();
  for (pid_t child : ChildrenOf(pid_)) {
    absl::optional<ProcessInfo> info = ReadProcess(child);
    if (info.has_value() && IsWorker(*info)) frozen_workers_.push_back(child);
  }
  for (pid_t worker : frozen_workers_) kill(worker, SIGSTOP);
  kill(pid_, SIGSTOP);
  int status = 0;
  if (waitpid(pid_, &status, WUNTRACED) != pid_ || !WIFSTOPPED(status)) {
    return absl::InternalError("the daemon did not stop");
  }
  // Not our children: stopping shows in /proc/PID/stat.
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (pid_t worker : frozen_workers_) {
    while (true) {
      absl::optional<ProcessInfo> info = ReadProcess(worker);
      if (!info.has_value() || info->state == 'T') break;
      if (std::chrono::steady_clock::now() > give_up) {
        return absl::InternalError(
            absl::StrCat("worker pid ", worker, " did not stop"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return absl::OkStatus();
}

void DaemonProcess::Thaw() {
  kill(pid_, SIGCONT);
  for (pid_t worker : frozen_workers_) kill(worker, SIGCONT);
  frozen_workers_.clear();
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    const auto give_up =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > give_up) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace e2e
}  // namespace aoti_executor
