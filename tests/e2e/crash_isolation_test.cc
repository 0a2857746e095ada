// Crash isolation, end to end: the real daemon, its real worker processes,
// and the real shim. A custom op that segfaults, aborts, exits, throws, hangs
// or allocates without bound costs its own call, with an error that says
// what happened; the next call works; other clients never notice; a node
// that keeps crashing is quarantined.
#include <ATen/ATen.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "aoti_remote/executor.h"
#include "proto/executor.grpc.pb.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/misbehaving_client.h"

namespace aoti_executor {
namespace e2e {
namespace {

namespace v1 = aoti::executor::v1;

using Client = MisbehavingClient;

v1::GetStatusResponse Status(const DaemonProcess& daemon) {
  auto stub = v1::Executor::NewStub(grpc::CreateChannel(
      daemon.endpoint(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::GetStatusResponse status;
  EXPECT_TRUE(stub->GetStatus(&context, v1::GetStatusRequest(), &status).ok());
  return status;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

struct CrashCase {
  MisbehavingNode node;
  const char* how;  // what the error must say
};

class CrashTest : public ::testing::TestWithParam<CrashCase> {};

TEST_P(CrashTest, CostsOneFailedCallAndTheNextCallWorks) {
  auto daemon = DaemonProcess::Start(MisbehavingOpsFlags());
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Client client((*daemon)->endpoint());
  client.ExpectHealthy();

  at::Tensor out;
  ASSERT_EQ(client.Call(GetParam().node, at::ones({4}), &out),
            AOTI_TORCH_FAILURE);
  const std::string error = aoti_remote_last_error();
  EXPECT_NE(error.find(GetParam().how), std::string::npos) << error;
  EXPECT_NE(error.find("extern node " + std::to_string(GetParam().node)),
            std::string::npos)
      << error;
  EXPECT_FALSE(out.defined());

  client.ExpectHealthy();
  EXPECT_EQ(Status(**daemon).worker_deaths(), 1);
  EXPECT_EQ(Status(**daemon).worker_restarts(), 1);
  EXPECT_EQ(Status(**daemon).workers(), 1);
}

const CrashCase kCrashCases[] = {{kSegfault, "SIGSEGV"},
                                 {kAbort, "SIGABRT"},
                                 {kExit, "exited with status 3"}};

std::string CrashName(const ::testing::TestParamInfo<CrashCase>& info) {
  const char* names[] = {"Segfault", "Abort", "Exit"};
  return names[info.index];
}

INSTANTIATE_TEST_SUITE_P(Crashes, CrashTest, ::testing::ValuesIn(kCrashCases),
                         CrashName);

TEST(CrashIsolationTest, AnOpThatThrowsKeepsItsWorker) {
  auto daemon = DaemonProcess::Start(MisbehavingOpsFlags());
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Client client((*daemon)->endpoint());
  at::Tensor out;
  ASSERT_EQ(client.Call(kThrow, at::ones({5}), &out), AOTI_TORCH_FAILURE);
  const std::string error = aoti_remote_last_error();
  EXPECT_NE(error.find("misbehaving::throw was asked to throw (numel 5)"),
            std::string::npos)
      << error;
  client.ExpectHealthy();
  EXPECT_EQ(Status(**daemon).worker_deaths(), 0);
  EXPECT_EQ(Status(**daemon).worker_restarts(), 0);
}

TEST(CrashIsolationTest, AHungCallFailsAtItsDeadlineAndItsWorkerIsReplaced) {
  // The daemon's own limit, shorter than the client's 30 s default.
  auto daemon =
      DaemonProcess::Start(MisbehavingOpsFlags({"--call-timeout-ms=1000"}));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Client client((*daemon)->endpoint());
  const auto start = std::chrono::steady_clock::now();
  at::Tensor out;
  ASSERT_EQ(client.Call(kHang, at::ones({1}), &out), AOTI_TORCH_FAILURE);
  // The daemon's deadline, not the client's 30 s: named by the message.
  EXPECT_LT(Seconds(start), 25.0);
  const std::string error = aoti_remote_last_error();
  EXPECT_NE(error.find("ran past its deadline"), std::string::npos) << error;
  EXPECT_NE(error.find("misbehaving::hang"), std::string::npos) << error;
  client.ExpectHealthy();
  // Killed; the shim, unsure what a call past its deadline did, opened a new
  // session, whose worker is new rather than a restart.
  EXPECT_EQ(Status(**daemon).worker_deaths(), 1);
  EXPECT_EQ(Status(**daemon).workers(), 1);
}

TEST(CrashIsolationTest, TheClientsOwnDeadlineBoundsAHungCall) {
  auto daemon = DaemonProcess::Start(MisbehavingOpsFlags());
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  // Not much less: the call after the hang opens a new session, whose new
  // worker (about 0.5 s to start, more on a loaded machine) must fit too.
  setenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS", "3000", 1);
  Client client((*daemon)->endpoint());
  unsetenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS");
  const auto start = std::chrono::steady_clock::now();
  at::Tensor out;
  ASSERT_EQ(client.Call(kHang, at::ones({1}), &out), AOTI_TORCH_FAILURE);
  EXPECT_GE(Seconds(start), 2.5);
  // The client's 3 s, not the daemon's 60 s default.
  EXPECT_LT(Seconds(start), 30.0);
  EXPECT_NE(std::string(aoti_remote_last_error()).find("eadline"),
            std::string::npos)
      << aoti_remote_last_error();
  client.ExpectHealthy();
}

TEST(CrashIsolationTest, RunawayAllocationFailsTheCallUnderTheMemoryLimit) {
  auto daemon = DaemonProcess::Start(
      MisbehavingOpsFlags({"--worker-memory-limit-mb=3072"}));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Client client((*daemon)->endpoint());
  at::Tensor out;
  ASSERT_EQ(client.Call(kAllocateForever, at::ones({1}), &out),
            AOTI_TORCH_FAILURE);
  const std::string error = aoti_remote_last_error();
  EXPECT_NE(error.find("misbehaving::allocate_forever"), std::string::npos)
      << error;
  EXPECT_NE(error.find("alloc"), std::string::npos) << error;
  client.ExpectHealthy();
}

TEST(CrashIsolationTest, OtherClientsNeverNotice) {
  auto daemon =
      DaemonProcess::Start(MisbehavingOpsFlags({"--quarantine-crashes=100"}));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Client victim((*daemon)->endpoint());
  Client bystander((*daemon)->endpoint());
  std::atomic<bool> done{false};
  std::atomic<int> calls{0}, failures{0};
  std::thread traffic([&] {
    const at::Tensor x = at::arange(16, at::kFloat);
    while (!done) {
      at::Tensor out;
      if (bystander.Call(kPlusOne, x, &out) != AOTI_TORCH_SUCCESS ||
          !at::equal(out, x + 1)) {
        ++failures;
      }
      ++calls;
    }
  });
  for (int i = 0; i < 3; ++i) {
    at::Tensor out;
    EXPECT_EQ(victim.Call(kSegfault, at::ones({1}), &out), AOTI_TORCH_FAILURE);
  }
  victim.ExpectHealthy();
  done = true;
  traffic.join();
  EXPECT_GT(calls, 0);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(Status(**daemon).worker_restarts(), 3);
}

TEST(CrashIsolationTest, ANodeThatKeepsCrashingIsQuarantinedUntilCleared) {
  auto daemon = DaemonProcess::Start(MisbehavingOpsFlags(
      {"--quarantine-crashes=2", "--quarantine-window-s=600"}));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Client client((*daemon)->endpoint());
  at::Tensor out;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(client.Call(kSegfault, at::ones({1}), &out), AOTI_TORCH_FAILURE);
  }
  // Fails fast: the counters below show that no worker was risked.
  ASSERT_EQ(client.Call(kSegfault, at::ones({1}), &out), AOTI_TORCH_FAILURE);
  const std::string error = aoti_remote_last_error();
  EXPECT_NE(error.find("quarantined"), std::string::npos) << error;
  EXPECT_NE(error.find("misbehaving::segfault"), std::string::npos) << error;

  v1::GetStatusResponse status = Status(**daemon);
  // Started, crashed, replaced once, crashed: the third call risked nothing
  // (not even a new worker for a call lane: only a call starts one).
  EXPECT_EQ(status.worker_restarts(), 1);
  EXPECT_EQ(status.workers(), 0);
  ASSERT_EQ(status.crashed_nodes_size(), 1);
  EXPECT_TRUE(status.crashed_nodes(0).quarantined());
  EXPECT_EQ(status.crashed_nodes(0).node_index(), kSegfault);
  EXPECT_EQ(status.crashed_nodes(0).crashes_in_window(), 2);
  client.ExpectHealthy();  // other nodes of the model still run

  auto stub = v1::Executor::NewStub(grpc::CreateChannel(
      (*daemon)->endpoint(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ClearQuarantineResponse cleared;
  ASSERT_TRUE(stub->ClearQuarantine(&context, {}, &cleared).ok());
  EXPECT_EQ(cleared.cleared(), 1);
  ASSERT_EQ(client.Call(kSegfault, at::ones({1}), &out), AOTI_TORCH_FAILURE);
  EXPECT_NE(std::string(aoti_remote_last_error()).find("SIGSEGV"),
            std::string::npos)
      << aoti_remote_last_error();
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
