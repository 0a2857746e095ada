// A process with executors that forks (a server that starts its worker
// processes after loading a model): a child that creates an executor of its
// own gets a connection of its own, and the parent's connection, which the
// executors of the parent share (client_shim/session/daemon_channels.h),
// carries nothing of the child's. Were the child to use it, its HTTP/2
// frames would break the parent's stream order and the daemon would close
// the connection under the parent.
//
// gRPC itself does not follow fork without GRPC_ENABLE_FORK_SUPPORT: with its
// default epoll engine, parent and child would share one epoll set. The
// target runs with the poll engine (BUILD.bazel), which has none, so that
// the only state the two share is what the shim hands over.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/shim_util.h"

namespace aoti_executor {
namespace e2e {
namespace {

// The exit status of `child`, or nullopt if it has not exited by `deadline`
// (it is killed then).
std::optional<int> WaitOrKill(pid_t child, absl::Time deadline) {
  int status = 0;
  while (absl::Now() < deadline) {
    if (waitpid(child, &status, WNOHANG) == child) return status;
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  return std::nullopt;
}

TEST(ForkTest, AForkedChildConnectsOnItsOwnAndLeavesItsParentsConnection) {
  auto daemon = DaemonProcess::Start();
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const std::string endpoint = (*daemon)->endpoint();
  // Registering starts a worker process: slow on a loaded machine.
  setenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS", "20000", 1);
  Executor parent = CreateExecutor(endpoint, "aten_ops.json");
  ASSERT_NE(parent, nullptr) << LastError();
  ASSERT_TRUE(AddsRight(parent.get(), 1)) << LastError();

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Executor own = CreateExecutor(endpoint, "aten_ops.json");
    const bool ran = own != nullptr && AddsRight(own.get(), 2);
    if (!ran) std::fprintf(stderr, "child: %s\n", LastError().c_str());
    std::fflush(stderr);
    _exit(ran ? 0 : 1);
  }
  const std::optional<int> status =
      WaitOrKill(child, absl::Now() + absl::Seconds(120));
  ASSERT_TRUE(status.has_value()) << "the child hung";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;

  ASSERT_TRUE(AddsRight(parent.get(), 3)) << LastError();
  // A new executor of the parent goes over the parent's connection.
  Executor another = CreateExecutor(endpoint, "aten_ops.json");
  ASSERT_NE(another, nullptr) << LastError();
  EXPECT_TRUE(AddsRight(another.get(), 4)) << LastError();
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
