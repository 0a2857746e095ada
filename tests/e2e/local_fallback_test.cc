// The shim's optional local fallback ($AOTI_EXECUTOR_LOCAL_FALLBACK=1,
// client_shim/local_fallback.h), end to end with the real daemon: without a
// daemon, create succeeds and calls run in this process with ATen's results;
// once the daemon is up they go to it again; without the switch, create
// fails naming the endpoint; custom ops run here only with their library
// loaded here; and a call the daemon received and failed (an op that
// throws, crashes its worker or hangs) is never rerun in the host.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client_shim/session/reconnect_backoff.h"
#include "server/kernels/op_library.h"
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

constexpr char kRanHere[] = "running extern-kernel calls in this process";
constexpr char kBack[] = "calls run there again";
// How long, at most, until the shim has a session with a daemon that came
// back: the backoff cap, registering the model, and scheduling slack.
const absl::Duration kReconnectBound =
    client::kReconnectBackoffMax + absl::Seconds(4);

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + what.size())) {
    ++n;
  }
  return n;
}

int64_t CallsSucceeded(const std::string& endpoint) {
  auto status = DaemonStatus(endpoint);
  return status.ok() ? status->calls_succeeded() : -1;
}

// Sets the shim's environment for one test and restores it after.
class LocalFallbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("AOTI_EXECUTOR_LOCAL_FALLBACK", "1", 1);
    setenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS", "300", 1);
    setenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS", "3000", 1);
  }
  void TearDown() override {
    unsetenv("AOTI_EXECUTOR_LOCAL_FALLBACK");
    unsetenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS");
    unsetenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS");
  }

  // A daemon started and SIGKILLed, so its endpoint has nobody behind it
  // until Restart().
  std::unique_ptr<DaemonProcess> DeadDaemon(
      const std::vector<std::string>& flags = {}) {
    auto daemon = DaemonProcess::Start(flags);
    EXPECT_TRUE(daemon.ok()) << daemon.status();
    if (!daemon.ok()) return nullptr;
    (*daemon)->KillAndWait(SIGKILL);
    return *std::move(daemon);
  }
};

// `calls` calls of the mixed sequence (add, add with alpha on an earlier
// output, cat, topk), each checked against ATen in-process.
void ExpectMixedCallsRight(AOTIProxyExecutorHandle executor, int seed,
                           int calls) {
  at::Tensor carried = at::zeros({1});
  for (int i = 0; i < calls; ++i) {
    std::string error;
    ASSERT_TRUE(MixedCall(executor, seed, i, &carried, &error)) << error;
  }
}

TEST_F(LocalFallbackTest, CallsRunInProcessWhileTheDaemonIsAwayAndRemoteOnce) {
  std::unique_ptr<DaemonProcess> daemon = DeadDaemon();
  ASSERT_NE(daemon, nullptr);

  // No daemon at create: it succeeds, and calls run here.
  testing::internal::CaptureStderr();
  Executor executor = CreateExecutor(daemon->endpoint(), "aten_ops.json");
  ASSERT_NE(executor, nullptr) << LastError();
  ExpectMixedCallsRight(executor.get(), 1, 40);
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(Count(log, kRanHere), 1) << log;
  EXPECT_THAT(log, HasSubstr(daemon->endpoint()));

  // The daemon comes up: calls go to it, with nothing done here.
  ASSERT_TRUE(daemon->Restart().ok());
  testing::internal::CaptureStderr();
  const absl::Time give_up = absl::Now() + kReconnectBound;
  int seed = 100;
  while (CallsSucceeded(daemon->endpoint()) <= 0 && absl::Now() < give_up) {
    ExpectMixedCallsRight(executor.get(), ++seed, 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int64_t remote = CallsSucceeded(daemon->endpoint());
  ASSERT_GT(remote, 0) << "no call reached the restarted daemon";
  ExpectMixedCallsRight(executor.get(), ++seed, 8);
  EXPECT_EQ(CallsSucceeded(daemon->endpoint()), remote + 8);
  log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(Count(log, kBack), 1) << log;
  EXPECT_EQ(Count(log, kRanHere), 0) << log;

  // Lost again: in-process again, logged once for this outage; back again.
  daemon->KillAndWait(SIGKILL);
  testing::internal::CaptureStderr();
  ExpectMixedCallsRight(executor.get(), ++seed, 20);
  log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(Count(log, kRanHere), 1) << log;
  ASSERT_TRUE(daemon->Restart().ok());
  const absl::Time again = absl::Now() + kReconnectBound;
  while (CallsSucceeded(daemon->endpoint()) <= 0 && absl::Now() < again) {
    ExpectMixedCallsRight(executor.get(), ++seed, 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(CallsSucceeded(daemon->endpoint()), 0);
}

TEST_F(LocalFallbackTest, OffByDefaultCreateFailsNamingTheEndpoint) {
  std::unique_ptr<DaemonProcess> daemon = DeadDaemon();
  ASSERT_NE(daemon, nullptr);
  for (const char* off : {"", "0", "off"}) {
    if (off[0] == '\0') {
      unsetenv("AOTI_EXECUTOR_LOCAL_FALLBACK");
    } else {
      setenv("AOTI_EXECUTOR_LOCAL_FALLBACK", off, 1);
    }
    Executor executor = CreateExecutor(daemon->endpoint(), "aten_ops.json");
    EXPECT_EQ(executor, nullptr) << off;
    EXPECT_THAT(LastError(),
                AllOf(HasSubstr("UNAVAILABLE"), HasSubstr(daemon->endpoint())))
        << off;
  }
  setenv("AOTI_EXECUTOR_LOCAL_FALLBACK", "sometimes", 1);
  EXPECT_EQ(CreateExecutor(daemon->endpoint(), "aten_ops.json"), nullptr);
  EXPECT_THAT(LastError(), AllOf(HasSubstr("INVALID_ARGUMENT"),
                                 HasSubstr("$AOTI_EXECUTOR_LOCAL_FALLBACK")));
}

// Custom ops resolve in the host only once their library is loaded there.
// (No other test of this program loads libaoti_test_ops.so.)
TEST_F(LocalFallbackTest, CustomOpsRunInProcessOnlyWithTheirLibraryLoaded) {
  std::unique_ptr<DaemonProcess> daemon = DeadDaemon();
  ASSERT_NE(daemon, nullptr);
  EXPECT_EQ(CreateExecutor(daemon->endpoint(), "custom_ops.json"), nullptr);
  EXPECT_THAT(LastError(),
              AllOf(HasSubstr(daemon->endpoint()), HasSubstr("library"),
                    HasSubstr("aoti_test::")));

  ASSERT_TRUE(LoadOpLibrary(RunfilePath("tests/ops/libaoti_test_ops.so")).ok());
  Executor executor = CreateExecutor(daemon->endpoint(), "custom_ops.json");
  ASSERT_NE(executor, nullptr) << LastError();
  // Inputs the op mutates are mutated in place, as in-process.
  at::Tensor t0 = at::arange(12, at::kFloat).reshape({3, 4});
  at::Tensor t1 = at::full({3, 4}, 10.0);
  at::Tensor t2 = at::arange(12, at::kFloat).reshape({3, 4}) - 3;
  const at::Tensor t0_expected = t0 + t1, t2_expected = t2 * 2;
  at::Tensor square, minus;
  ASSERT_EQ(CallNode(executor.get(), kInputMutation, {},
                     {&t0, &t1, &t2, &square, &minus}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(t0, t0_expected));
  EXPECT_TRUE(Same(t2, t2_expected));
  EXPECT_TRUE(Same(square, t1 * t1));
  EXPECT_TRUE(Same(minus, t1 - 5));
  // An op's own error, run here, says so.
  at::Tensor x = at::ones({2, 3}), out;
  EXPECT_EQ(CallNode(executor.get(), kAlwaysThrows, {}, {&x, &out}),
            AOTI_TORCH_FAILURE);
  EXPECT_THAT(LastError(),
              AllOf(HasSubstr("extern node 35"), HasSubstr("run in-process"),
                    HasSubstr("refuses a tensor of 2 dims")));
  EXPECT_FALSE(out.defined());
}

// Node indices of tests/fixtures/misbehaving_ops.json.
enum Misbehaving { kPlusOne, kSegfault, kAbort, kExit, kThrow, kHang };

// The misbehaving ops are loaded into this process on purpose, against
// their library's rule: if the shim ever reran a failed call here, the
// segfault would kill this test and the hang would stall it.
TEST_F(LocalFallbackTest, CallsTheDaemonFailedAreNeverRerunInTheHost) {
  const std::string ops = RunfilePath("tests/ops/libaoti_misbehaving_ops.so");
  ASSERT_TRUE(LoadOpLibrary(ops).ok());
  auto started = DaemonProcess::Start(
      {absl::StrCat("--load-library=", ops), "--call-timeout-ms=1000"});
  ASSERT_TRUE(started.ok()) << started.status();
  DaemonProcess& daemon = **started;
  const std::string json = RunfilePath("tests/fixtures/misbehaving_ops.json");
  // The daemon is up: give it time to answer even on a loaded machine, so
  // that create does not fall back.
  setenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS", "20000", 1);
  AOTIProxyExecutorHandle handle = nullptr;
  ASSERT_EQ(aoti_remote_executor_create(daemon.endpoint().c_str(), json.c_str(),
                                        "cpu", &handle),
            AOTI_TORCH_SUCCESS)
      << LastError();
  Executor executor(handle);
  auto call = [&](int node, at::Tensor* out) {
    at::Tensor x = at::ones({5});
    return CallNode(executor.get(), node, {}, {&x, out});
  };

  testing::internal::CaptureStderr();
  at::Tensor out;
  ASSERT_EQ(call(kThrow, &out), AOTI_TORCH_FAILURE);
  EXPECT_THAT(LastError(),
              AllOf(HasSubstr("misbehaving::throw was asked to throw"),
                    Not(HasSubstr("in-process"))));
  ASSERT_EQ(call(kSegfault, &out), AOTI_TORCH_FAILURE);
  EXPECT_THAT(LastError(),
              AllOf(HasSubstr("SIGSEGV"), Not(HasSubstr("in-process"))));
  EXPECT_FALSE(out.defined());
  ASSERT_EQ(call(kPlusOne, &out), AOTI_TORCH_SUCCESS) << LastError();
  EXPECT_TRUE(Same(out, at::ones({5}) + 1));
  auto status = DaemonStatus(daemon.endpoint());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->calls_failed(), 2);
  EXPECT_EQ(status->calls_succeeded(), 1);

  // A call past its deadline is not rerun either, nor is the same call
  // retried while the shim reconnects (the session ended with the missed
  // deadline; the daemon is there). Were either run here, it would hang
  // for good: give up after 20 s and end the program.
  auto hung = std::make_shared<std::promise<std::string>>();
  std::future<std::string> result = hung->get_future();
  std::thread([&call, hung] {
    std::string errors;
    for (int attempt = 0; attempt < 2; ++attempt) {
      at::Tensor late;
      const AOTITorchError rc = call(kHang, &late);
      errors += (rc == AOTI_TORCH_SUCCESS ? "success" : LastError()) + "\n";
    }
    hung->set_value(errors);
  }).detach();
  if (result.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::printf("FAILED: the hanging op was rerun in the host\n");
    std::fflush(stdout);
    std::_Exit(1);
  }
  const std::string errors = result.get();
  EXPECT_EQ(Count(errors, "ran past its deadline"), 2) << errors;
  EXPECT_THAT(errors, Not(HasSubstr("in-process")));
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(Count(log, kRanHere), 0) << log;
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
