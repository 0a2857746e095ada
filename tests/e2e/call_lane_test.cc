// Call lanes end to end: small calls go from the shim straight to the
// session's worker through shared memory, and everything the daemon
// promises for a Call still holds for them: results, counters, errors that
// name the node, crashes charged to the node that ran, deadlines. Large
// host tensors from the shim's shared-memory allocator travel by reference.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client_shim/remote_executor.h"
#include "proto/executor.grpc.pb.h"
#include "proto/worker.pb.h"
#include "server/lane/futex.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/misbehaving_client.h"
#include "tests/e2e/raw_session.h"
#include "tests/e2e/shim_util.h"

namespace aoti_executor {
namespace e2e {
namespace {

namespace v1 = aoti::executor::v1;
using ::testing::AllOf;
using ::testing::HasSubstr;

v1::GetStatusResponse Status(const DaemonProcess& daemon) {
  absl::StatusOr<v1::GetStatusResponse> status =
      DaemonStatus(daemon.endpoint());
  EXPECT_TRUE(status.ok()) << status.status();
  return status.ok() ? *status : v1::GetStatusResponse();
}

std::shared_ptr<client::Session> SessionOf(AOTIProxyExecutorHandle executor) {
  auto session = client::RemoteExecutor::FromHandle(executor)->CurrentSession(
      absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(session.ok()) << session.status();
  return session.ok() ? *session : nullptr;
}

// Runs `calls` mixed calls (add, add with alpha, cat) and checks each
// against ATen in this process.
// Calls kPlusOne until the daemon's count of calls over a lane exceeds
// `lane_calls` (on a loaded machine a lane may come up after the call that
// asked for it); returns that count and adds the calls made to
// `*succeeded`.
int64_t CallUntilTheLaneCarries(MisbehavingClient& client,
                                const DaemonProcess& daemon, int64_t lane_calls,
                                int64_t* succeeded) {
  const at::Tensor x = at::arange(5, at::kFloat);
  for (int i = 0; i < 100; ++i) {
    at::Tensor out;
    EXPECT_EQ(client.Call(kPlusOne, x, &out), AOTI_TORCH_SUCCESS)
        << LastError();
    EXPECT_TRUE(out.defined() && at::equal(out, x + 1));
    ++*succeeded;
    const int64_t now = Status(daemon).lane_calls();
    if (now > lane_calls) return now;
  }
  ADD_FAILURE() << "no call went over the call lane";
  return lane_calls;
}

void RunMixed(AOTIProxyExecutorHandle executor, int calls) {
  at::Tensor carried = at::zeros({1});
  for (int i = 0; i < calls; ++i) {
    std::string error;
    ASSERT_TRUE(MixedCall(executor, 7, i, &carried, &error)) << error;
  }
}

TEST(CallLaneTest, CallsGoOverTheLaneAndCountLikeCalls) {
  auto daemon = DaemonProcess::Start();
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Executor executor = CreateExecutor((*daemon)->endpoint(), "aten_ops.json");
  ASSERT_NE(executor, nullptr) << LastError();
  constexpr int kCalls = 300;
  RunMixed(executor.get(), kCalls);
  EXPECT_EQ(SessionOf(executor.get())->call_lane_count(),
            1);  // one thread: one
  const v1::GetStatusResponse status = Status(**daemon);
  EXPECT_EQ(status.calls_succeeded(), kCalls);
  EXPECT_EQ(status.calls_failed(), 0);
  EXPECT_EQ(status.lane_calls(), kCalls);  // every one took the lane
  EXPECT_EQ(status.call_lanes(), 1);
  EXPECT_EQ(status.calls_in_flight(), 0);
}

TEST(CallLaneTest, TheHostCanTurnLanesOff) {
  auto daemon = DaemonProcess::Start();
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  setenv("AOTI_EXECUTOR_CALL_LANE", "0", 1);
  Executor executor = CreateExecutor((*daemon)->endpoint(), "aten_ops.json");
  unsetenv("AOTI_EXECUTOR_CALL_LANE");
  ASSERT_NE(executor, nullptr) << LastError();
  RunMixed(executor.get(), 50);
  EXPECT_EQ(SessionOf(executor.get())->call_lane_count(), 0);
  const v1::GetStatusResponse status = Status(**daemon);
  EXPECT_EQ(status.calls_succeeded(), 50);
  EXPECT_EQ(status.lane_calls(), 0);
  EXPECT_EQ(status.call_lanes(), 0);
}

TEST(CallLaneTest, TheDaemonCanTurnLanesOff) {
  auto daemon = DaemonProcess::Start({"--call-lanes=0"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Executor executor = CreateExecutor((*daemon)->endpoint(), "aten_ops.json");
  ASSERT_NE(executor, nullptr) << LastError();
  RunMixed(executor.get(), 50);
  const v1::GetStatusResponse status = Status(**daemon);
  EXPECT_EQ(status.calls_succeeded(), 50);
  EXPECT_EQ(status.lane_calls(), 0);
  EXPECT_EQ(status.call_lanes(), 0);
}

// `threads` threads, sharing `executor`, each making `calls` mixed calls
// checked against ATen.
void RunMixedOnThreads(AOTIProxyExecutorHandle executor, int threads,
                       int calls) {
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([=] {
      at::Tensor carried = at::zeros({1});
      for (int i = 0; i < calls; ++i) {
        std::string error;
        EXPECT_TRUE(MixedCall(executor, 50 + t, i, &carried, &error)) << error;
      }
    });
  }
  for (std::thread& thread : running) thread.join();
}

// One call at a time per lane: threads sharing a handle get a lane each, up
// to the daemon's --call-lanes, and the calls beyond take the Call RPC
// instead of queueing. Every result is right.
TEST(CallLaneTest, ThreadsSharingAHandleGetLanesUpToTheLimit) {
  auto daemon = DaemonProcess::Start({"--call-lanes=2"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Executor executor = CreateExecutor((*daemon)->endpoint(), "aten_ops.json");
  ASSERT_NE(executor, nullptr) << LastError();
  constexpr int kThreads = 4;
  constexpr int kCalls = 200;
  RunMixedOnThreads(executor.get(), kThreads, kCalls);
  const v1::GetStatusResponse status = Status(**daemon);
  EXPECT_EQ(status.calls_succeeded(), kThreads * kCalls);
  EXPECT_EQ(status.calls_failed(), 0);
  EXPECT_EQ(status.call_lanes(), 2);  // the limit, not one per thread
  EXPECT_EQ(SessionOf(executor.get())->call_lane_count(), 2);
  EXPECT_GT(status.lane_calls(), 0);
  EXPECT_LT(status.lane_calls(), kThreads * kCalls);  // some overflowed
  std::cout << "[ lanes    ] " << status.lane_calls() << " of "
            << kThreads * kCalls << " calls took a lane\n";
}

// With lanes enough for its threads, nearly every call takes one: only the
// few that came while a lane was being opened took the RPC.
TEST(CallLaneTest, ThreadsSharingAHandleEachFindALane) {
  auto daemon = DaemonProcess::Start();  // 4 lanes per session
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Executor executor = CreateExecutor((*daemon)->endpoint(), "aten_ops.json");
  ASSERT_NE(executor, nullptr) << LastError();
  constexpr int kThreads = 3;
  constexpr int kCalls = 300;
  RunMixedOnThreads(executor.get(), kThreads, kCalls);
  const v1::GetStatusResponse status = Status(**daemon);
  EXPECT_EQ(status.calls_succeeded(), kThreads * kCalls);
  EXPECT_GE(status.call_lanes(), 2);
  EXPECT_LE(status.call_lanes(), kThreads);
  EXPECT_GE(status.lane_calls(), kThreads * kCalls * 3 / 4);
  std::cout << "[ lanes    ] " << status.lane_calls() << " of "
            << kThreads * kCalls << " calls took one of " << status.call_lanes()
            << " lanes\n";
}

TEST(CallLaneTest, ACrashOnTheLaneNamesTheNodeAndIsChargedToIt) {
  auto daemon = DaemonProcess::Start(MisbehavingOpsFlags());
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  MisbehavingClient client((*daemon)->endpoint());
  int64_t succeeded = 0;
  const int64_t lane_calls =
      CallUntilTheLaneCarries(client, **daemon, 0, &succeeded);
  ASSERT_GT(lane_calls, 0);
  ASSERT_EQ(SessionOf(client.handle())->call_lane_count(), 1);
  at::Tensor out;
  ASSERT_EQ(client.Call(kSegfault, at::ones({3}), &out), AOTI_TORCH_FAILURE);
  EXPECT_THAT(LastError(),
              AllOf(HasSubstr("ABORTED"), HasSubstr("extern node 1"),
                    HasSubstr("misbehaving::segfault"), HasSubstr("SIGSEGV")));
  // The client may learn of the crash before the daemon's lane watchdog has
  // charged it.
  EXPECT_TRUE(WaitFor(
      [&] {
        const v1::GetStatusResponse now = Status(**daemon);
        return now.calls_failed() == 1 && now.lane_calls() == lane_calls + 1;
      },
      absl::Seconds(60)));
  v1::GetStatusResponse status = Status(**daemon);
  EXPECT_EQ(status.lane_calls(), lane_calls + 1);  // it went over the lane
  EXPECT_EQ(status.calls_failed(), 1);
  ASSERT_EQ(status.crashed_nodes_size(), 1);
  EXPECT_EQ(status.crashed_nodes(0).node_index(), kSegfault);
  EXPECT_EQ(status.crashed_nodes(0).crashes_in_window(), 1);
  // The next call takes the Call RPC, which starts a new worker; a later one
  // goes over that worker's new lane.
  CallUntilTheLaneCarries(client, **daemon, lane_calls + 1, &succeeded);
  status = Status(**daemon);
  EXPECT_EQ(status.calls_succeeded(), succeeded);
  EXPECT_EQ(status.call_lanes(), 1);
  EXPECT_EQ(status.worker_restarts(), 1);
}

TEST(CallLaneTest, AHungLaneCallIsKilledAtTheDaemonsDeadline) {
  auto daemon =
      DaemonProcess::Start(MisbehavingOpsFlags({"--call-timeout-ms=500"}));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  MisbehavingClient client((*daemon)->endpoint());
  at::Tensor out;
  // So that the hung call surely goes over the lane.
  int64_t succeeded = 0;
  const int64_t lane_calls =
      CallUntilTheLaneCarries(client, **daemon, 0, &succeeded);
  ASSERT_GT(lane_calls, 0);
  const absl::Time start = absl::Now();
  ASSERT_EQ(client.Call(kHang, at::ones({1}), &out), AOTI_TORCH_FAILURE);
  // Killed no earlier than the deadline (no upper bound: the machine may be
  // loaded; the message says which deadline ended it).
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(450));
  EXPECT_THAT(LastError(),
              AllOf(HasSubstr("DEADLINE_EXCEEDED"), HasSubstr("extern node 5"),
                    HasSubstr("misbehaving::hang"),
                    HasSubstr("ran past its deadline")));
  EXPECT_TRUE(WaitFor(
      [&] {
        const v1::GetStatusResponse now = Status(**daemon);
        return now.crashed_nodes_size() == 1 &&
               now.lane_calls() == lane_calls + 1;
      },
      absl::Seconds(60)));
  const v1::GetStatusResponse status = Status(**daemon);
  EXPECT_EQ(status.lane_calls(), lane_calls + 1);
  ASSERT_EQ(status.crashed_nodes_size(), 1);
  EXPECT_EQ(status.crashed_nodes(0).node_index(), kHang);
  ASSERT_EQ(client.Call(kPlusOne, at::ones({3}), &out), AOTI_TORCH_SUCCESS)
      << LastError();
}

// A client that asks gets its session's first lane with the registration,
// one round trip fewer, and the lane carries calls; one that does not ask
// gets none, nor does one whose daemon runs with lanes off, and both
// register all the same.
TEST(CallLaneTest, ARegistrationThatAsksCarriesTheFirstLane) {
  auto daemon = DaemonProcess::Start();
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const std::string json = FixturePath("aten_ops.json");
  auto asks = RawSession::Open((*daemon)->endpoint());
  ASSERT_TRUE(asks.ok()) << asks.status();
  auto registered = (*asks)->Register(json, /*open_call_lane=*/true);
  ASSERT_TRUE(registered.ok()) << registered.status();
  ASSERT_TRUE(registered->has_call_lane());
  EXPECT_GT(registered->call_lane().byte_size(), 0);
  auto lane = (*asks)->TakeLane(registered->call_lane().lane_id());
  ASSERT_TRUE(lane.ok()) << lane.status();
  EXPECT_EQ(Status(**daemon).call_lanes(), 1);

  // Node 0 is aten::add.Tensor(self, other).
  auto region_id = (*asks)->AddRegion(1 << 12);
  ASSERT_TRUE(region_id.ok()) << region_id.status();
  SharedRegion& region = (*asks)->region(*region_id);
  const at::Tensor a = at::arange(4, at::kFloat), b = at::full({4}, 0.5);
  v1::CallRequest request;
  request.set_session((*asks)->secret());
  request.set_kernel_set_id(registered->kernel_set_id());
  request.set_node_index(0);
  *request.add_inputs() = PlaceTensor(a, region, *region_id, 0);
  *request.add_inputs() = PlaceTensor(b, region, *region_id, 64);
  ASSERT_TRUE(lane->Post(request.SerializeAsString(), INT64_MAX).ok());
  SpinBudget no_spin(0);
  auto answer = lane->AwaitAnswer(MonotonicNanos() + 60000000000, &no_spin,
                                  [] { return true; });
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(answer->has_value());
  aoti::executor::worker::v1::CallResult result;
  ASSERT_TRUE(result.ParseFromString(**answer));
  ASSERT_EQ(result.code(), 0) << result.message();
  ASSERT_EQ(result.response().outputs_size(), 1);
  auto sum = (*asks)->ReadOutput(result.response().outputs(0));
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_TRUE(at::equal(*sum, at::add(a, b)));

  auto does_not_ask = RawSession::Open((*daemon)->endpoint());
  ASSERT_TRUE(does_not_ask.ok()) << does_not_ask.status();
  registered = (*does_not_ask)->Register(json, /*open_call_lane=*/false);
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_FALSE(registered->has_call_lane());
  EXPECT_EQ(Status(**daemon).call_lanes(), 1);  // the first session's

  auto lanes_off = DaemonProcess::Start({"--call-lanes=0"});
  ASSERT_TRUE(lanes_off.ok()) << lanes_off.status();
  auto refused = RawSession::Open((*lanes_off)->endpoint());
  ASSERT_TRUE(refused.ok()) << refused.status();
  registered = (*refused)->Register(json, /*open_call_lane=*/true);
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_FALSE(registered->has_call_lane());
  EXPECT_EQ(Status(**lanes_off).call_lanes(), 0);
}

// A client may write anything into its lane. It cannot get a node charged
// with hangs it did not have (a far deadline, then giving the call up), nor
// run a quarantined node by clearing the lane's gate.
TEST(CallLaneTest, AHostileLaneClientCanNeitherPoisonNorSkipTheQuarantine) {
  auto daemon = DaemonProcess::Start(MisbehavingOpsFlags(
      {"--quarantine-crashes=1", "--quarantine-window-s=600"}));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto raw = RawSession::Open((*daemon)->endpoint());
  ASSERT_TRUE(raw.ok()) << raw.status();
  RawSession& session = **raw;
  auto kernel_set =
      session.RegisterKernelSet(FixturePath("misbehaving_ops.json"));
  ASSERT_TRUE(kernel_set.ok()) << kernel_set.status();
  auto region_id = session.AddRegion(1 << 20);
  ASSERT_TRUE(region_id.ok()) << region_id.status();
  auto request_for = [&](int node) {
    v1::CallRequest request;
    request.set_kernel_set_id(*kernel_set);
    request.set_node_index(node);
    *request.add_inputs() =
        PlaceTensor(at::ones({4}), session.region(*region_id), *region_id, 0);
    return request.SerializeAsString();
  };

  // The hang node, posted with a deadline that never comes, given up after
  // 200 ms by the client: the worker is killed, nothing is charged.
  auto lane = session.OpenLane();
  ASSERT_TRUE(lane.ok()) << lane.status();
  ASSERT_TRUE(lane->Post(request_for(kHang), INT64_MAX).ok());
  SpinBudget no_spin(0);
  auto answer = lane->AwaitAnswer(MonotonicNanos() + 200000000, &no_spin,
                                  [] { return true; });
  EXPECT_TRUE(absl::IsDeadlineExceeded(answer.status())) << answer.status();
  // Counted as a failed call once its lane is closed.
  ASSERT_TRUE(WaitFor([&] { return Status(**daemon).calls_failed() == 1; },
                      absl::Seconds(60)));
  v1::GetStatusResponse status = Status(**daemon);
  EXPECT_EQ(status.worker_deaths(), 1);
  EXPECT_EQ(status.crashed_nodes_size(), 0) << status.DebugString();

  // A real crash (over the Call RPC) quarantines the segfault node.
  v1::CallRequest crash;
  crash.ParseFromString(request_for(kSegfault));
  v1::CallResponse response;
  EXPECT_FALSE(session.Call(crash, &response).ok());
  status = Status(**daemon);
  ASSERT_EQ(status.crashed_nodes_size(), 1);
  EXPECT_TRUE(status.crashed_nodes(0).quarantined());
  // A new worker (started by a call) and its lane, gated.
  v1::CallRequest healthy;
  healthy.ParseFromString(request_for(kPlusOne));
  ASSERT_TRUE(session.Call(healthy, &response).ok());
  lane = session.OpenLane();
  ASSERT_TRUE(lane.ok()) << lane.status();
  ASSERT_TRUE(WaitFor([&] { return !lane->Usable(); }, absl::Seconds(60)));
  // Clearing the gate the client can see does not open it.
  lane->SetGated(false);
  ASSERT_TRUE(lane->Post(request_for(kSegfault), INT64_MAX).ok());
  answer = lane->AwaitAnswer(MonotonicNanos() + 5000000000, &no_spin,
                             [] { return true; });
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(answer->has_value());
  aoti::executor::worker::v1::CallResult result;
  ASSERT_TRUE(result.ParseFromString(**answer));
  EXPECT_TRUE(result.refused());
  status = Status(**daemon);
  EXPECT_EQ(status.worker_deaths(), 2);  // the hang's and the crash's only
  EXPECT_EQ(status.crashed_nodes(0).crashes_in_window(), 1);
}

TEST(CallLaneTest, SharedAllocatorInputsTravelByReference) {
  auto daemon = DaemonProcess::Start();
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  ASSERT_EQ(aoti_remote_install_shared_allocator(), AOTI_TORCH_SUCCESS)
      << LastError();
  Executor aten = CreateExecutor((*daemon)->endpoint(), "aten_ops.json");
  Executor custom = CreateExecutor((*daemon)->endpoint(), "custom_ops.json");
  ASSERT_NE(aten, nullptr) << LastError();
  ASSERT_NE(custom, nullptr) << LastError();

  const at::Tensor a = at::rand({1 << 20});  // 4 MiB each: shared memory
  const at::Tensor b = at::rand({1 << 20});
  at::Tensor sum;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(CallNode(aten.get(), kAdd, {},
                       {const_cast<at::Tensor*>(&a),
                        const_cast<at::Tensor*>(&b), &sum}),
              AOTI_TORCH_SUCCESS)
        << LastError();
  }
  EXPECT_TRUE(Same(sum, a + b));
  std::shared_ptr<client::Session> session = SessionOf(aten.get());
  EXPECT_EQ(session->host_region_count(), 2);     // a and b, registered once
  EXPECT_EQ(session->staging_region_count(), 0);  // nothing was copied

  // A mutated input in shared memory is mutated where it lies.
  at::Tensor t0 = at::rand({512, 1024}), t1 = at::rand({512, 1024}),
             t2 = at::rand({512, 1024}), square, minus;
  const at::Tensor t0_expected = t0 + t1, t2_expected = t2 * 2;
  ASSERT_EQ(CallNode(custom.get(), kInputMutation, {},
                     {&t0, &t1, &t2, &square, &minus}),
            AOTI_TORCH_SUCCESS)
      << LastError();
  EXPECT_TRUE(Same(t0, t0_expected));
  EXPECT_TRUE(Same(t2, t2_expected));
  EXPECT_TRUE(Same(square, t1 * t1));
  EXPECT_EQ(SessionOf(custom.get())->staging_region_count(), 0);
  EXPECT_EQ(SessionOf(custom.get())->host_region_count(), 3);
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
