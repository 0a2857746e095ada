// Reconnecting to a restarted daemon (issue 4), end to end: the real
// aoti-executord is SIGKILLed and started again while one executor handle
// lives on. Calls during the outage fail within their deadline, naming the
// endpoint; reconnect attempts are spaced by the shim's backoff
// (client_shim/session/reconnect_backoff.h), which a listener standing in for
// the daemon counts; once the daemon is back the shim registers the model again
// by itself, and the same handle runs a model of several nodes, its staging
// regions registered anew. A reconnect that hangs blocks no other call, and
// delete does not wait for it.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client_shim/session/reconnect_backoff.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/raw_session.h"
#include "tests/e2e/shim_util.h"

namespace aoti_executor {
namespace e2e {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Scheduling slack on a loaded two-core machine, on top of a deadline: far
// less than what each bound tells apart (a hang, a 20 s connect timeout).
constexpr milliseconds kMargin(10000);
const milliseconds kBackoffCap(
    absl::ToInt64Milliseconds(client::kReconnectBackoffMax));

// Connections the daemon has accepted on its gRPC socket now: the connected
// sockets /proc/net/unix lists under that path (the listener is unconnected).
int AcceptedConnections(const std::string& socket_path) {
  std::ifstream table("/proc/net/unix");
  std::string line;
  std::getline(table, line);  // the header
  int connected = 0;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string num, refs, protocol, flags, type, state, inode, path;
    fields >> num >> refs >> protocol >> flags >> type >> state >> inode >>
        path;
    if (path == socket_path && state == "03") ++connected;
  }
  return connected;
}

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

// The calls of one pass of a model with several extern nodes: add.Tensor on
// a 4 MiB input (staged: more than the first 1 MiB staging region), add with
// alpha on that output (sent by reference), cat, and topk with two outputs,
// each checked against ATen. The daemon counts 4 calls.
constexpr int kModelCalls = 4;
bool RunModel(AOTIProxyExecutorHandle executor, int seed, std::string* error) {
  const int64_t n = int64_t{1} << 20;
  at::Tensor a = at::rand({n});
  at::Tensor b = at::full({n}, static_cast<double>(seed), at::kFloat);
  auto failed = [&](const char* what, AOTITorchError rc) {
    *error = std::string(what) + ": " +
             (rc == AOTI_TORCH_SUCCESS ? "wrong result" : LastError());
    return false;
  };
  at::Tensor sum;
  AOTITorchError rc = CallNode(executor, kAdd, {}, {&a, &b, &sum});
  if (rc != AOTI_TORCH_SUCCESS || !Same(sum, a + b)) return failed("add", rc);
  at::Tensor scaled;
  rc = CallNode(executor, kAddAlpha, {3}, {&sum, &b, &scaled});
  if (rc != AOTI_TORCH_SUCCESS || !Same(scaled, at::add(a + b, b, 3))) {
    return failed("add alpha", rc);
  }
  at::Tensor head = a.narrow(0, 0, 1000), tail = scaled.narrow(0, n - 10, 10);
  at::Tensor joined;
  rc = CallNode(executor, kCat, {0}, {&head, &tail, &b, &joined});
  if (rc != AOTI_TORCH_SUCCESS || !Same(joined, at::cat({head, tail, b}, 0))) {
    return failed("cat", rc);
  }
  at::Tensor x = scaled.reshape({1, n});
  const auto expected = at::topk(x, 5, 1, /*largest=*/false);
  at::Tensor values, indices;
  rc = CallNode(executor, kTopk, {5, 1}, {&x, &values, &indices});
  if (rc != AOTI_TORCH_SUCCESS || !Same(values, std::get<0>(expected)) ||
      !Same(indices, std::get<1>(expected))) {
    return failed("topk", rc);
  }
  return true;
}

// A listening Unix socket at `path`, in place of the SIGKILLed daemon's stale
// one; -1 if it cannot be made.
int ListenAt(const std::string& path) {
  unlink(path.c_str());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  if (fd >= 0 &&
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      listen(fd, 64) == 0) {
    return fd;
  }
  if (fd >= 0) close(fd);
  return -1;
}

// A daemon stand-in on a Unix socket path: accepts each connection and
// closes it at once, counting them. Every reconnect attempt of the shim is
// at least one connection, so the count bounds the attempts from below.
class CountingListener {
 public:
  explicit CountingListener(const std::string& path)
      : path_(path), fd_(ListenAt(path)) {
    if (ok()) thread_ = std::thread([this] { Loop(); });
  }
  ~CountingListener() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }

  bool ok() const { return fd_ >= 0; }
  int accepted() const { return accepted_.load(); }

 private:
  void Loop() {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 10) <= 0) continue;
      const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      ++accepted_;
      close(client);
    }
  }

  const std::string path_;
  const int fd_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

class ReconnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto daemon = DaemonProcess::Start();
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
  }

  // An executor of aten_ops.json whose calls have a `call_timeout_ms`
  // deadline.
  Executor CreateWithTimeout(int call_timeout_ms) {
    setenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS",
           std::to_string(call_timeout_ms).c_str(), 1);
    // Registering starts a worker process: slow on a loaded machine.
    setenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS", "20000", 1);
    Executor executor = CreateExecutor(daemon_->endpoint(), "aten_ops.json");
    unsetenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS");
    unsetenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS");
    return executor;
  }

  std::string SocketPath() const {
    return daemon_->endpoint().substr(std::string("unix:").size());
  }

  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(ReconnectTest, OutageCallsFailFastAndTheSameHandleRecoversItsRegions) {
  // Longer than registering the model with a fresh daemon takes (which
  // starts a worker process: up to about 750 ms on a loaded two-core
  // machine), shorter than the backoff cap.
  constexpr int kCallTimeoutMs = 1500;
  Executor executor = CreateWithTimeout(kCallTimeoutMs);
  ASSERT_NE(executor, nullptr) << LastError();
  std::string error;
  ASSERT_TRUE(RunModel(executor.get(), 1, &error)) << error;

  const int status = daemon_->KillAndWait(SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  // A tight loop of calls: each fails within its deadline, naming the
  // endpoint. The first few wait for the next attempt (the window ends
  // before their deadline); once the windows outgrow the deadline, calls
  // fail at once.
  constexpr int kCalls = 200;
  int in_window = 0;
  milliseconds slowest(0);
  at::Tensor x = at::arange(1000, at::kFloat);
  const auto loop_start = Clock::now();
  for (int i = 0; i < kCalls; ++i) {
    at::Tensor out;
    const auto start = Clock::now();
    ASSERT_EQ(CallNode(executor.get(), kAdd, {}, {&x, &x, &out}),
              AOTI_TORCH_FAILURE);
    slowest = std::max(slowest, Since(start));
    const std::string message = LastError();
    ASSERT_THAT(message,
                AllOf(HasSubstr("UNAVAILABLE"), HasSubstr(daemon_->endpoint()),
                      HasSubstr("extern node 0 (aten::add.Tensor)")));
    ASSERT_FALSE(out.defined());
    if (message.find("the next attempt is in") != std::string::npos) {
      ++in_window;
    }
    if (i == kCalls - 1) std::printf("the last: %s\n", message.c_str());
  }
  const milliseconds loop = Since(loop_start);
  std::printf(
      "%d calls during the outage: %lld ms in all, slowest %lld ms, "
      "%d failed at once inside the backoff window\n",
      kCalls, static_cast<long long>(loop.count()),
      static_cast<long long>(slowest.count()), in_window);
  EXPECT_LT(slowest, milliseconds(kCallTimeoutMs) + kMargin);
  EXPECT_GE(in_window, kCalls * 3 / 4);
  // Not each at its deadline (200 x 1.5 s).
  EXPECT_LT(loop, milliseconds(60000));

  // Once the daemon is back, the next call, at most the backoff cap later,
  // succeeds through the same handle: the shim opens a session, registers
  // the model again, and its staging region with the first call.
  ASSERT_TRUE(daemon_->Restart().ok());
  std::this_thread::sleep_for(kBackoffCap);
  const auto first = Clock::now();
  ASSERT_TRUE(RunModel(executor.get(), 2, &error)) << error;
  std::printf("the first model run after the restart: %lld ms\n",
              static_cast<long long>(Since(first).count()));
  auto daemon_status = DaemonStatus(daemon_->endpoint());
  ASSERT_TRUE(daemon_status.ok()) << daemon_status.status();
  EXPECT_EQ(daemon_status->sessions(), 1);
  EXPECT_EQ(daemon_status->kernel_sets(), 1);
  EXPECT_GE(daemon_status->regions(), 1);  // the staging region
  EXPECT_EQ(daemon_status->calls_succeeded(), kModelCalls);
  EXPECT_EQ(daemon_status->calls_failed(), 0);
  ASSERT_TRUE(RunModel(executor.get(), 3, &error)) << error;
}

// Without the backoff every one of these calls would connect: hundreds of
// connections in the second. With it, the attempts follow the windows
// (50 ms doubling, shortened by up to half): at most 6 start within 1 s.
TEST_F(ReconnectTest, ConnectAttemptsDuringAnOutageAreSpacedByTheBackoff) {
  Executor executor = CreateWithTimeout(100);
  ASSERT_NE(executor, nullptr) << LastError();
  ASSERT_TRUE(AddsRight(executor.get())) << LastError();
  daemon_->KillAndWait(SIGKILL);
  int calls = 0, accepted = 0;
  {
    CountingListener listener(SocketPath());
    ASSERT_TRUE(listener.ok()) << std::strerror(errno);
    at::Tensor x = at::arange(10, at::kFloat);
    const auto start = Clock::now();
    while (Since(start) < milliseconds(1000)) {
      at::Tensor out;
      ASSERT_EQ(CallNode(executor.get(), kAdd, {}, {&x, &x, &out}),
                AOTI_TORCH_FAILURE);
      ASSERT_THAT(LastError(), HasSubstr(daemon_->endpoint()));
      ++calls;
    }
    accepted = listener.accepted();
  }
  std::printf("1 s outage: %d calls, %d connections to the endpoint\n", calls,
              accepted);
  EXPECT_GE(calls, 200);
  EXPECT_GE(accepted, 2);
  EXPECT_LE(accepted, 12);

  // Calls this short may not fit registering with the restarted daemon;
  // the registration goes on in the background, and a call soon after
  // succeeds.
  ASSERT_TRUE(daemon_->Restart().ok());
  const auto restarted = Clock::now();
  at::Tensor x = at::arange(10, at::kFloat);
  int failed = 0;
  while (Since(restarted) < kBackoffCap + 2 * kMargin) {
    at::Tensor out;
    if (CallNode(executor.get(), kAdd, {}, {&x, &x, &out}) ==
        AOTI_TORCH_SUCCESS) {
      break;
    }
    ++failed;
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::printf("working again %lld ms after the restart, %d calls failed\n",
              static_cast<long long>(Since(restarted).count()), failed);
  at::Tensor out;
  ASSERT_EQ(CallNode(executor.get(), kAddAlpha, {2}, {&x, &x, &out}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(out, x * 3));
}

// A call whose deadline lies beyond the window waits for the attempt due
// when it ends (so its error is that attempt's, not the window's); right
// after a restart such a call succeeds within the backoff cap.
TEST_F(ReconnectTest, ACallWhoseDeadlineOutlastsTheWindowWaitsAndTries) {
  constexpr int kCallTimeoutMs = 5000;
  Executor executor = CreateWithTimeout(kCallTimeoutMs);
  ASSERT_NE(executor, nullptr) << LastError();
  std::string error;
  ASSERT_TRUE(RunModel(executor.get(), 1, &error)) << error;
  daemon_->KillAndWait(SIGKILL);

  at::Tensor x = at::arange(10, at::kFloat);
  milliseconds last(0);
  for (int i = 0; i < 5; ++i) {
    at::Tensor out;
    const auto start = Clock::now();
    ASSERT_EQ(CallNode(executor.get(), kAdd, {}, {&x, &x, &out}),
              AOTI_TORCH_FAILURE);
    last = Since(start);
    EXPECT_LT(last, milliseconds(kCallTimeoutMs) + kMargin);
    EXPECT_THAT(LastError(),
                AllOf(HasSubstr("UNAVAILABLE"), HasSubstr("reconnecting"),
                      HasSubstr(daemon_->endpoint()),
                      Not(HasSubstr("the next attempt is in"))));
  }
  // The fifth call waited out the window of four failures: 400 ms, less
  // up to half.
  EXPECT_GE(last, milliseconds(190));

  ASSERT_TRUE(daemon_->Restart().ok());
  const auto start = Clock::now();
  ASSERT_TRUE(RunModel(executor.get(), 2, &error)) << error;
  // The window, registering the model with the new daemon, the calls.
  EXPECT_LT(Since(start), kBackoffCap + 2 * kMargin);
}

// A reconnect attempt that hangs (the daemon is stopped: connections queue,
// nothing answers) holds no lock the calls need: a bad call on the same
// handle fails at once meanwhile, good ones fail at their own deadline, and
// the attempt, which outlives them, succeeds once the daemon runs again.
TEST_F(ReconnectTest, AHangingReconnectBlocksNoCallAndOutlivesThem) {
  constexpr int kCallTimeoutMs = 1000;
  Executor executor = CreateWithTimeout(kCallTimeoutMs);
  ASSERT_NE(executor, nullptr) << LastError();
  ASSERT_TRUE(AddsRight(executor.get())) << LastError();
  at::Tensor x = at::arange(10, at::kFloat);
  ASSERT_TRUE(daemon_->Freeze().ok());
  // Misses its deadline: the session is over, reconnecting starts, and its
  // Hello waits on the stopped daemon.
  {
    at::Tensor out;
    ASSERT_EQ(CallNode(executor.get(), kAdd, {}, {&x, &x, &out}),
              AOTI_TORCH_FAILURE);
    EXPECT_THAT(LastError(), HasSubstr("DEADLINE_EXCEEDED"));
  }

  std::string errors[2];
  milliseconds took[2];
  std::vector<std::thread> callers;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&, t] {
      at::Tensor in = x, out;
      const auto start = Clock::now();
      EXPECT_EQ(CallNode(executor.get(), kAddAlpha, {t}, {&in, &in, &out}),
                AOTI_TORCH_FAILURE);
      took[t] = Since(start);
      errors[t] = LastError();
    });
  }
  for (int i = 0; i < 10; ++i) {
    at::Tensor out;
    const auto start = Clock::now();
    EXPECT_EQ(CallNode(executor.get(), kNumAtenNodes + i, {}, {&x, &x, &out}),
              AOTI_TORCH_FAILURE);
    // Not behind the hanging attempt (its connect timeout is 20 s).
    EXPECT_LT(Since(start), milliseconds(5000));
    EXPECT_THAT(LastError(), HasSubstr("is out of range"));
  }
  for (std::thread& caller : callers) caller.join();
  for (int t = 0; t < 2; ++t) {
    EXPECT_THAT(
        errors[t],
        AllOf(HasSubstr("DEADLINE_EXCEEDED"), HasSubstr(daemon_->endpoint()),
              HasSubstr("reconnecting (in the background)")));
    EXPECT_GE(took[t], milliseconds(kCallTimeoutMs - 100));
    EXPECT_LT(took[t], milliseconds(kCallTimeoutMs) + kMargin);
  }

  // The attempt still waits in its Hello; answered, it opens the session
  // (registering may take longer than one call's deadline).
  daemon_->Thaw();
  const auto resumed = Clock::now();
  at::Tensor out;
  while (CallNode(executor.get(), kAddAlpha, {3}, {&x, &x, &out}) !=
             AOTI_TORCH_SUCCESS &&
         Since(resumed) < milliseconds(5000)) {
    EXPECT_THAT(LastError(), HasSubstr("DEADLINE_EXCEEDED"));
  }
  EXPECT_TRUE(Same(out, x * 4)) << LastError();
  auto daemon_status = DaemonStatus(daemon_->endpoint());
  ASSERT_TRUE(daemon_status.ok()) << daemon_status.status();
  EXPECT_EQ(daemon_status->sessions(), 1);
}

// A listener that never accepts: a connection to it is made (the kernel
// queues it), and then nothing answers. A reconnect attempt against it hangs
// until its own connect timeout.
class SilentListener {
 public:
  explicit SilentListener(const std::string& path)
      : path_(path), fd_(ListenAt(path)) {}
  ~SilentListener() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  bool ok() const { return fd_ >= 0; }

 private:
  const std::string path_;
  const int fd_;
};

// A call whose deadline passes while a reconnect attempt is still under way
// fails as UNAVAILABLE once an earlier attempt found no daemon: the daemon is
// what is missing, not time. (On a loaded machine an attempt against a dead
// socket can outlast a call's deadline; callers that retry on UNAVAILABLE
// must see the same code as for the other calls of the outage.)
TEST_F(ReconnectTest,
       ADeadlinePassingDuringAnAttemptAfterARefusalIsUnavailable) {
  constexpr int kCallTimeoutMs = 1500;
  Executor executor = CreateWithTimeout(kCallTimeoutMs);
  ASSERT_NE(executor, nullptr) << LastError();
  ASSERT_TRUE(AddsRight(executor.get())) << LastError();
  at::Tensor x = at::arange(10, at::kFloat);
  daemon_->KillAndWait(SIGKILL);
  // Waits for the first attempt, which the dead socket refuses. (Its first
  // try goes down the connection the executor shares with this process's
  // others, which the daemon's death broke; a second try on a new one is
  // what finds the socket dead, rather than "Broken pipe".)
  {
    at::Tensor out;
    ASSERT_EQ(CallNode(executor.get(), kAdd, {}, {&x, &x, &out}),
              AOTI_TORCH_FAILURE);
    ASSERT_THAT(LastError(), AllOf(HasSubstr("UNAVAILABLE"),
                                   HasSubstr("Connection refused")));
  }
  // The next attempt connects, and hangs for want of an answer.
  SilentListener silent(SocketPath());
  ASSERT_TRUE(silent.ok()) << std::strerror(errno);
  at::Tensor out;
  ASSERT_EQ(CallNode(executor.get(), kAdd, {}, {&x, &x, &out}),
            AOTI_TORCH_FAILURE);
  EXPECT_THAT(LastError(),
              AllOf(HasSubstr("UNAVAILABLE"), HasSubstr(daemon_->endpoint()),
                    HasSubstr("when this call's deadline passed"),
                    HasSubstr("Connection refused")));
}

// The executors of one process share one gRPC connection to their daemon
// (client_shim/session/daemon_channels.h). One made after the daemon
// restarted, which finds that connection stale, registers with the new
// daemon and runs the model.
TEST_F(ReconnectTest, ExecutorsShareAConnectionWhichARestartDoesNotStrand) {
  std::string error;
  {
    Executor first = CreateWithTimeout(20000);
    ASSERT_NE(first, nullptr) << LastError();
    Executor second = CreateWithTimeout(20000);
    ASSERT_NE(second, nullptr) << LastError();
    ASSERT_TRUE(RunModel(first.get(), 1, &error)) << error;
    ASSERT_TRUE(RunModel(second.get(), 2, &error)) << error;
    // Two would be a connection per executor. The daemon may still be
    // closing the one its readiness probe made.
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (AcceptedConnections(SocketPath()) != 1 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_EQ(AcceptedConnections(SocketPath()), 1);
  }
  // The shared connection outlives its executors, and this process has not
  // read from it since: it will find its daemon gone only when it tries.
  const int status = daemon_->KillAndWait(SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  ASSERT_TRUE(daemon_->Restart().ok());
  Executor after = CreateWithTimeout(20000);
  ASSERT_NE(after, nullptr) << LastError();
  ASSERT_TRUE(RunModel(after.get(), 3, &error)) << error;
  auto daemon_status = DaemonStatus(daemon_->endpoint());
  ASSERT_TRUE(daemon_status.ok()) << daemon_status.status();
  EXPECT_EQ(daemon_status->sessions(), 1);
  EXPECT_EQ(daemon_status->calls_succeeded(), kModelCalls);
}

// delete while a reconnect hangs: the attempt is cancelled, not waited out.
TEST_F(ReconnectTest, DeleteDuringAHangingReconnectReturnsPromptly) {
  Executor executor = CreateWithTimeout(500);
  ASSERT_NE(executor, nullptr) << LastError();
  at::Tensor x = at::arange(10, at::kFloat);
  ASSERT_TRUE(daemon_->Freeze().ok());
  at::Tensor out;
  ASSERT_EQ(CallNode(executor.get(), kAdd, {}, {&x, &x, &out}),
            AOTI_TORCH_FAILURE);
  std::this_thread::sleep_for(milliseconds(200));  // the Hello waits now
  const auto start = Clock::now();
  executor.reset();
  const milliseconds deleting = Since(start);
  daemon_->Thaw();
  std::printf("delete during a hanging reconnect: %lld ms\n",
              static_cast<long long>(deleting.count()));
  // Not the attempt's 20 s connect timeout.
  EXPECT_LT(deleting, milliseconds(10000));
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
