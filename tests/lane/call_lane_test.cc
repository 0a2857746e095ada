// The call lane's protocol between its three parties (server/lane/call_lane.h):
// the client, the worker and the daemon, as threads over one real memfd, and
// once as two processes, so the futex doorbells are the shared kind.
#include "server/lane/call_lane.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "server/lane/futex.h"
#include "server/lane/spin_budget.h"

namespace aoti_executor {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1000000000;

int64_t In(int64_t ns) { return MonotonicNanos() + ns; }

CallLane NewLane() {
  auto region = CallLane::CreateRegion();
  EXPECT_TRUE(region.ok()) << region.status();
  auto lane = CallLane::Over(*region);
  EXPECT_TRUE(lane.ok()) << lane.status();
  return *lane;
}

bool Alive() { return true; }

// Serves `calls` calls on `lane`, answering each request reversed.
void ServeReversed(CallLane lane, int calls) {
  std::atomic<bool> stop{false};
  SpinBudget spin(SpinBudget::MaxForThisMachine(50000));
  for (int i = 0; i < calls; ++i) {
    std::string request;
    int64_t deadline = 0;
    if (!lane.TakeRequest(stop, &spin, &request, &deadline)) return;
    lane.Answer(std::string(request.rbegin(), request.rend()));
  }
}

TEST(CallLaneTest, RefusesARegionOfAnotherSize) {
  auto region = SharedRegion::Create("not-a-lane", 4096);
  ASSERT_TRUE(region.ok());
  auto lane =
      CallLane::Over(std::make_shared<SharedRegion>(*std::move(region)));
  EXPECT_TRUE(absl::IsInvalidArgument(lane.status())) << lane.status();
}

TEST(CallLaneTest, ManyRoundTripsBetweenThreads) {
  CallLane lane = NewLane();
  constexpr int kCalls = 2000;
  std::thread worker(ServeReversed, lane, kCalls);
  SpinBudget spin(SpinBudget::MaxForThisMachine(50000));
  for (int i = 0; i < kCalls; ++i) {
    const std::string request = "call " + std::to_string(i);
    ASSERT_TRUE(lane.Usable());
    ASSERT_TRUE(lane.Post(request, In(5 * kSecond)).ok());
    auto answer = lane.AwaitAnswer(In(5 * kSecond), &spin, Alive);
    ASSERT_TRUE(answer.ok()) << answer.status();
    ASSERT_TRUE(answer->has_value());
    EXPECT_EQ(**answer, std::string(request.rbegin(), request.rend()));
    EXPECT_EQ(lane.state(), CallLane::kIdle);
  }
  worker.join();
}

TEST(CallLaneTest, RoundTripsBetweenProcessesWakeSleepers) {
  CallLane lane = NewLane();
  constexpr int kCalls = 200;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // No spinning, so every request must wake a sleeping worker through the
    // shared futex.
    std::atomic<bool> stop{false};
    SpinBudget no_spin(0);
    for (int i = 0; i < kCalls; ++i) {
      std::string request;
      int64_t deadline = 0;
      if (!lane.TakeRequest(stop, &no_spin, &request, &deadline)) _exit(1);
      lane.Answer(request + "!");
    }
    _exit(0);
  }
  SpinBudget no_spin(0);
  for (int i = 0; i < kCalls; ++i) {
    const std::string request = std::to_string(i);
    ASSERT_TRUE(lane.Post(request, In(5 * kSecond)).ok());
    auto answer = lane.AwaitAnswer(In(5 * kSecond), &no_spin, Alive);
    ASSERT_TRUE(answer.ok()) << answer.status();
    ASSERT_TRUE(answer->has_value());
    EXPECT_EQ(**answer, request + "!");
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(CallLaneTest, TheWorkerSeesTheClientsDeadline) {
  CallLane lane = NewLane();
  const int64_t deadline = In(7 * kSecond);
  ASSERT_TRUE(lane.Post("x", deadline).ok());
  std::atomic<bool> stop{false};
  SpinBudget spin(0);
  std::string request;
  int64_t seen = 0;
  ASSERT_TRUE(lane.TakeRequest(stop, &spin, &request, &seen));
  EXPECT_EQ(seen, deadline);
  EXPECT_EQ(lane.state(), CallLane::kRunning);
}

TEST(CallLaneTest, ARequestTooLargeIsRefusedAndTheLaneStaysIdle) {
  CallLane lane = NewLane();
  const std::string huge(lane.request_capacity() + 1, 'x');
  const absl::Status posted = lane.Post(huge, In(kSecond));
  EXPECT_TRUE(absl::IsResourceExhausted(posted)) << posted;
  EXPECT_EQ(lane.state(), CallLane::kIdle);
}

TEST(CallLaneTest, PostingOnABusyLaneIsRefused) {
  CallLane lane = NewLane();
  ASSERT_TRUE(lane.Post("first", In(kSecond)).ok());
  EXPECT_FALSE(lane.Usable());
  EXPECT_TRUE(absl::IsFailedPrecondition(lane.Post("second", In(kSecond))));
}

TEST(CallLaneTest, AClosedLaneTakesNoCall) {
  CallLane lane = NewLane();
  EXPECT_FALSE(lane.CloseAndFail("unused"));
  EXPECT_TRUE(lane.closed());
  EXPECT_FALSE(lane.Usable());
  EXPECT_TRUE(absl::IsUnavailable(lane.Post("late", In(kSecond))));
  EXPECT_EQ(lane.state(), CallLane::kIdle);  // taken back: it never ran
}

TEST(CallLaneTest, ClosingHandsAPostedCallBackUnrun) {
  CallLane lane = NewLane();
  ASSERT_TRUE(lane.Post("never taken", In(kSecond)).ok());
  EXPECT_FALSE(lane.CloseAndFail("the worker died"));
  SpinBudget spin(0);
  auto answer = lane.AwaitAnswer(In(kSecond), &spin, Alive);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_FALSE(answer->has_value());
  EXPECT_EQ(lane.state(), CallLane::kIdle);
}

TEST(CallLaneTest, ClosingFailsARunningCallWithTheDaemonsAnswer) {
  CallLane lane = NewLane();
  ASSERT_TRUE(lane.Post("runs", In(kSecond)).ok());
  std::atomic<bool> stop{false};
  SpinBudget spin(0);
  std::string request;
  int64_t deadline = 0;
  ASSERT_TRUE(lane.TakeRequest(stop, &spin, &request, &deadline));
  std::thread daemon([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_TRUE(lane.CloseAndFail("worker pid 1 died of SIGSEGV"));
  });
  auto answer = lane.AwaitAnswer(In(5 * kSecond), &spin, Alive);
  daemon.join();
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(answer->has_value());
  EXPECT_EQ(**answer, "worker pid 1 died of SIGSEGV");
  // The dead worker's answer, had it come, has no call to go to.
  EXPECT_FALSE(lane.Answer("too late"));
}

TEST(CallLaneTest, AMissedDeadlineAbandonsTheCallForGood) {
  CallLane lane = NewLane();
  ASSERT_TRUE(lane.Post("slow", In(kSecond)).ok());
  std::atomic<bool> stop{false};
  SpinBudget spin(0);
  std::string request;
  int64_t deadline = 0;
  ASSERT_TRUE(lane.TakeRequest(stop, &spin, &request, &deadline));
  const int64_t start = MonotonicNanos();
  auto answer = lane.AwaitAnswer(In(50000000), &spin, Alive);
  const int64_t waited = MonotonicNanos() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(answer.status())) << answer.status();
  EXPECT_GE(waited, 45000000);
  EXPECT_LT(waited, kSecond);
  EXPECT_EQ(lane.state(), CallLane::kAbandoned);
  EXPECT_FALSE(lane.Answer("after the deadline"));
  EXPECT_FALSE(lane.Usable());
}

TEST(CallLaneTest, AGoneDaemonEndsTheWaitLongBeforeTheDeadline) {
  CallLane lane = NewLane();
  ASSERT_TRUE(lane.Post("orphan", In(60 * kSecond)).ok());
  SpinBudget spin(0);
  const int64_t start = MonotonicNanos();
  auto answer = lane.AwaitAnswer(In(60 * kSecond), &spin, [] { return false; });
  const int64_t waited = MonotonicNanos() - start;
  EXPECT_TRUE(absl::IsUnavailable(answer.status())) << answer.status();
  EXPECT_LT(waited, 2 * CallLane::kLivenessCheckNs + 50000000);
  EXPECT_EQ(lane.state(), CallLane::kAbandoned);
}

TEST(CallLaneTest, AnAnswerSizeBeyondTheAreaIsAnErrorNotAnOverread) {
  CallLane lane = NewLane();
  ASSERT_TRUE(lane.Post("x", In(kSecond)).ok());
  std::atomic<bool> stop{false};
  SpinBudget spin(0);
  std::string request;
  int64_t deadline = 0;
  ASSERT_TRUE(lane.TakeRequest(stop, &spin, &request, &deadline));
  ASSERT_TRUE(lane.Answer("ok"));
  // A hostile peer rewrites the answer's size in the shared header (its
  // second cache line from the end of the header fields; find it by value).
  uint8_t* base = lane.region()->data();
  bool patched = false;
  for (uint64_t off = 0; off + 8 <= CallLane::kHeaderBytes; off += 8) {
    uint64_t value;
    std::memcpy(&value, base + off, 8);
    if (value == 2) {  // answer_bytes of "ok"
      const uint64_t huge = uint64_t{1} << 40;
      std::memcpy(base + off, &huge, 8);
      patched = true;
    }
  }
  ASSERT_TRUE(patched);
  auto answer = lane.AwaitAnswer(In(kSecond), &spin, Alive);
  EXPECT_TRUE(absl::IsInternal(answer.status())) << answer.status();
  EXPECT_THAT(std::string(answer.status().message()), HasSubstr("claims"));
}

TEST(CallLaneTest, AStoppedWorkerLeavesTakeRequest) {
  CallLane lane = NewLane();
  std::atomic<bool> stop{false};
  std::atomic<bool> returned{false};
  std::thread worker([&] {
    SpinBudget spin(0);
    std::string request;
    int64_t deadline = 0;
    EXPECT_FALSE(lane.TakeRequest(stop, &spin, &request, &deadline));
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(returned.load());
  stop = true;
  lane.WakeAll();
  worker.join();
  EXPECT_TRUE(returned.load());
}

// Expectations by hand, for a maximum of 50 us: a wait of at most 50 us is
// short, a budget covers twice the longest short one and is at least 12.5
// us, and it is spent while shorts x 50 us > longs x budget (kHistory = 8).
TEST(SpinBudgetTest, CoversTheShortGapsItSaw) {
  SpinBudget budget(50000);
  EXPECT_EQ(budget.spin_ns(), 50000);  // nothing seen yet
  budget.Observe(1000);                // back to back: the floor
  EXPECT_EQ(budget.spin_ns(), 12500);
  budget.Observe(20000);  // twice 20 us
  EXPECT_EQ(budget.spin_ns(), 40000);
  budget.Observe(60000);               // within twice the maximum, still long
  EXPECT_EQ(budget.spin_ns(), 40000);  // 2 x 50 > 1 x 40
  budget.Observe(60000);
  EXPECT_EQ(budget.spin_ns(), 40000);  // 2 x 50 > 2 x 40
  budget.Observe(60000);
  EXPECT_EQ(budget.spin_ns(), 0);  // 2 x 50 <= 3 x 40
}

TEST(SpinBudgetTest, SparseCallsStopSpinningAndComeBackOnlyWithShortGaps) {
  SpinBudget budget(50000);
  budget.Observe(10000000);  // no short wait at all
  EXPECT_EQ(budget.spin_ns(), 0);
  for (int i = 0; i < 10; ++i) budget.Observe(10000000);
  EXPECT_EQ(budget.spin_ns(), 0);
  budget.Observe(3000);
  EXPECT_EQ(budget.spin_ns(), 0);  // 1 x 50 <= 7 x 12.5
  budget.Observe(3000);
  EXPECT_EQ(budget.spin_ns(), 12500);  // 2 x 50 > 6 x 12.5
}

TEST(SpinBudgetTest, GapsJustPastTheMaximumSleepAtOnce) {
  SpinBudget budget(50000);
  budget.Observe(80000);
  EXPECT_EQ(budget.spin_ns(), 0);
}

TEST(SpinBudgetTest, BurstsBetweenLongPausesKeepTheirBudget) {
  SpinBudget budget(50000);
  // Three calls 2 us apart, then 1 ms of host work: 6 short, 2 long in
  // every window of 8 once it is full, so 6 x 50 > 2 x 12.5.
  for (int burst = 0; burst < 10; ++burst) {
    for (int call = 0; call < 3; ++call) {
      budget.Observe(2000);
      EXPECT_EQ(budget.spin_ns(), 12500);
    }
    budget.Observe(1000000);
    EXPECT_EQ(budget.spin_ns(), 12500);
  }
}

TEST(SpinBudgetTest, ForgetsAGapOlderThanItsHistory) {
  SpinBudget budget(50000);
  budget.Observe(40000);
  EXPECT_EQ(budget.spin_ns(), 50000);  // twice 40 us, capped
  for (int i = 1; i < SpinBudget::kHistory; ++i) budget.Observe(1000);
  EXPECT_EQ(budget.spin_ns(), 50000);  // the 40 us gap is still in view
  budget.Observe(1000);
  EXPECT_EQ(budget.spin_ns(), 12500);
}

TEST(SpinBudgetTest, AZeroMaximumNeverSpins) {
  SpinBudget budget(0);
  EXPECT_EQ(budget.spin_ns(), 0);
  budget.Observe(0);
  EXPECT_EQ(budget.spin_ns(), 0);
  budget.Observe(1000);
  EXPECT_EQ(budget.spin_ns(), 0);
}

}  // namespace
}  // namespace aoti_executor
