// Many callers at once against the real aoti-executord: threads sharing one
// executor handle, threads with a handle each, and separate client processes
// (tests/e2e/shim_peer, linked against libaoti_remote.so). Every result is
// checked against ATen in the calling process, and afterwards the daemon's
// own counters must show every call, every session and every output block
// accounted for.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/peer_process.h"
#include "tests/e2e/raw_session.h"
#include "tests/e2e/shim_util.h"

namespace aoti_executor {
namespace e2e {
namespace {

constexpr int kThreads = 8;

// The errors of many threads, kept for the test's report.
class Errors {
 public:
  void Add(const std::string& error) {
    std::lock_guard<std::mutex> lock(mu_);
    if (errors_.size() < 10) errors_.push_back(error);
    ++count_;
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::string Report() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string report;
    for (const std::string& error : errors_) report += error + "\n";
    return report;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> errors_;
  int count_ = 0;
};

class ConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto daemon = DaemonProcess::Start();
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
  }

  v1::GetStatusResponse Status() {
    auto status = DaemonStatus(daemon_->endpoint());
    EXPECT_TRUE(status.ok()) << status.status();
    return status.ok() ? *status : v1::GetStatusResponse();
  }

  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(ConcurrencyTest, EightThreadsThroughOneHandle) {
  constexpr int kCalls = 60;
  Executor executor = CreateExecutor(daemon_->endpoint(), "aten_ops.json");
  ASSERT_NE(executor, nullptr) << LastError();
  Errors errors;
  absl::Barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      at::Tensor carried = at::zeros({1});
      start.Block();
      for (int i = 0; i < kCalls; ++i) {
        std::string error;
        if (!MixedCall(executor.get(), t + 1, i, &carried, &error)) {
          errors.Add(error);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.count(), 0) << errors.Report();

  v1::GetStatusResponse status = Status();
  EXPECT_EQ(status.sessions(), 1);
  EXPECT_EQ(status.calls_succeeded(), kThreads * kCalls);
  EXPECT_EQ(status.calls_failed(), 0);
  // A staging region per call in flight at most, and the output region.
  EXPECT_LE(status.regions(), kThreads + 1);

  // Every output the threads dropped was released: after one more call has
  // carried the queued releases, only its own block (64 bytes) is in use.
  at::Tensor x = at::ones({4}), out;
  ASSERT_EQ(CallNode(executor.get(), kAdd, {}, {&x, &x, &out}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(out, x * 2));
  EXPECT_EQ(Status().output_bytes_in_use(), 64);
}

TEST_F(ConcurrencyTest, EightThreadsWithAHandleEach) {
  constexpr int kCalls = 40;
  Errors errors;
  absl::Barrier created(kThreads + 1);
  absl::Barrier go(kThreads + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Executor executor = CreateExecutor(daemon_->endpoint(), "aten_ops.json");
      if (executor == nullptr) errors.Add("create: " + LastError());
      created.Block();
      go.Block();
      at::Tensor carried = at::zeros({1});
      for (int i = 0; executor != nullptr && i < kCalls; ++i) {
        std::string error;
        if (!MixedCall(executor.get(), 100 + t, i, &carried, &error)) {
          errors.Add(error);
        }
      }
    });
  }
  created.Block();
  v1::GetStatusResponse status = Status();
  EXPECT_EQ(status.sessions(), kThreads);
  // One model, so one kernel set shared by every session.
  EXPECT_EQ(status.kernel_sets(), 1);
  go.Block();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.count(), 0) << errors.Report();
  EXPECT_EQ(Status().calls_succeeded(), kThreads * kCalls);

  // Each delete ended its session, and with it every region and block.
  EXPECT_TRUE(WaitFor(
      [&] {
        v1::GetStatusResponse s = Status();
        return s.sessions() == 0 && s.regions() == 0 &&
               s.output_bytes_in_use() == 0 && s.mapped_bytes() == 0;
      },
      absl::Seconds(60)))
      << Status().DebugString();
}

// Threads keep calling through one handle while the daemon is SIGKILLed and
// started again: every call either succeeds with the right result or fails
// within its deadline, and once the daemon is back every thread's calls
// succeed again through the same handle.
TEST_F(ConcurrencyTest, ThreadsRideThroughADaemonRestart) {
  constexpr int kCallTimeoutMs = 2000;
  constexpr int kCallers = 4;
  setenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS", "2000", 1);
  Executor executor = CreateExecutor(daemon_->endpoint(), "aten_ops.json");
  unsetenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS");
  ASSERT_NE(executor, nullptr) << LastError();

  std::atomic<bool> restarted{false};
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::atomic<int> failed{0};
  std::atomic<int64_t> slowest_failure_ms{0};
  std::vector<std::atomic<int>> ok_after_restart(kCallers);
  Errors errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kCallers; ++t) {
    threads.emplace_back([&, t] {
      at::Tensor carried = at::zeros({1});
      for (int i = 0; !stop.load(); ++i) {
        const bool after = restarted.load();
        const auto start = std::chrono::steady_clock::now();
        std::string error;
        switch (
            MixedCallOutcome(executor.get(), 200 + t, i, &carried, &error)) {
          case Outcome::kOk:
            if (after) ++ok_after_restart[t];
            break;
          case Outcome::kWrong:
            ++wrong;
            errors.Add(error);
            break;
          case Outcome::kFailed: {
            ++failed;
            const int64_t ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
            if (ms > slowest_failure_ms.load()) slowest_failure_ms = ms;
            if (after) errors.Add(error);
            break;
          }
        }
      }
    });
  }
  // Kill once calls have succeeded, restart once they have been seen to fail
  // (no sleep that hopes for either).
  // (EXPECT, not ASSERT: the callers must be joined below.)
  EXPECT_TRUE(WaitFor([&] { return Status().calls_succeeded() >= kCallers; },
                      absl::Seconds(60)));
  daemon_->KillAndWait(SIGKILL);
  EXPECT_TRUE(WaitFor([&] { return failed.load() > 0; }, absl::Seconds(60)));
  EXPECT_TRUE(daemon_->Restart().ok());
  restarted = true;
  const bool recovered = WaitFor(
      [&] {
        for (auto& ok : ok_after_restart) {
          if (ok.load() < 20) return false;
        }
        return true;
      },
      absl::Seconds(60));
  stop = true;
  for (std::thread& thread : threads) thread.join();
  EXPECT_TRUE(recovered) << errors.Report();
  EXPECT_EQ(wrong.load(), 0) << errors.Report();
  // Bounded by their deadline, with slack for a loaded machine: a call that
  // hung would exceed it by far more.
  EXPECT_LT(slowest_failure_ms.load(), kCallTimeoutMs + 20000);
  // One session for the handle in the new daemon.
  EXPECT_TRUE(
      WaitFor([&] { return Status().sessions() == 1; }, absl::Seconds(60)));
}

class ClientProcessesTest : public ConcurrencyTest {
 protected:
  absl::StatusOr<std::unique_ptr<PeerProcess>> SpawnPeer(int calls, int seed) {
    return PeerProcess::Spawn(
        RunfilePath("tests/e2e/shim_peer"),
        {daemon_->endpoint(), FixturePath("aten_ops.json"),
         std::to_string(calls), std::to_string(seed)});
  }
};

TEST_F(ClientProcessesTest, TwoClientProcessesAtOnce) {
  constexpr int kCalls = 300;
  std::vector<std::unique_ptr<PeerProcess>> peers;
  for (int seed : {11, 22}) {
    auto peer = SpawnPeer(kCalls, seed);
    ASSERT_TRUE(peer.ok()) << peer.status();
    peers.push_back(*std::move(peer));
  }
  for (auto& peer : peers) {
    auto line = peer->ReadLine(absl::Seconds(30));
    ASSERT_TRUE(line.ok()) << line.status();
    ASSERT_EQ(*line, "ready");
  }
  // Both sessions are open before either calls: the calls overlap.
  EXPECT_EQ(Status().sessions(), 2);
  for (auto& peer : peers) peer->CloseStdin();

  // This process calls too, meanwhile: a third client.
  Executor executor = CreateExecutor(daemon_->endpoint(), "aten_ops.json");
  ASSERT_NE(executor, nullptr) << LastError();
  at::Tensor carried = at::zeros({1});
  for (int i = 0; i < 40; ++i) {
    std::string error;
    EXPECT_TRUE(MixedCall(executor.get(), 33, i, &carried, &error)) << error;
  }

  for (auto& peer : peers) {
    auto line = peer->ReadLine(absl::Seconds(50));
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_EQ(*line, "ok " + std::to_string(kCalls));
    auto status = peer->Wait(absl::Seconds(10));
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  }
  EXPECT_EQ(Status().calls_succeeded(), 2 * kCalls + 40);
  EXPECT_EQ(Status().calls_failed(), 0);
  executor.reset();
  EXPECT_TRUE(WaitFor(
      [&] {
        v1::GetStatusResponse s = Status();
        return s.sessions() == 0 && s.regions() == 0;
      },
      absl::Seconds(60)))
      << Status().DebugString();
}

// A client process killed mid-run costs the daemon its session only: the
// other client finishes every call.
TEST_F(ClientProcessesTest, KilledClientProcessDoesNotDisturbAnother) {
  constexpr int kCalls = 200;
  auto victim = SpawnPeer(100000, 44);
  auto survivor = SpawnPeer(kCalls, 55);
  ASSERT_TRUE(victim.ok()) << victim.status();
  ASSERT_TRUE(survivor.ok()) << survivor.status();
  for (PeerProcess* peer : {victim->get(), survivor->get()}) {
    auto line = peer->ReadLine(absl::Seconds(30));
    ASSERT_TRUE(line.ok()) << line.status();
    ASSERT_EQ(*line, "ready");
    peer->CloseStdin();
  }
  // Kill the victim once it has made some calls.
  EXPECT_TRUE(WaitFor([&] { return Status().calls_succeeded() >= 50; },
                      absl::Seconds(60)));
  const int killed = (*victim)->KillAndWait(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(killed) && WTERMSIG(killed) == SIGKILL) << killed;

  auto line = (*survivor)->ReadLine(absl::Seconds(50));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "ok " + std::to_string(kCalls));
  auto status = (*survivor)->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_TRUE(WaitFor(
      [&] {
        v1::GetStatusResponse s = Status();
        return s.sessions() == 0 && s.regions() == 0 &&
               s.output_bytes_in_use() == 0;
      },
      absl::Seconds(60)))
      << Status().DebugString();
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
