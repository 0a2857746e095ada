// The lane watchdog's rules (server/service/lane_verdict.h): when a lane call
// is hung, and what a call in flight on a dead worker's lane is answered and
// charged. The end-to-end behaviour (a real worker killed, crashed, or ended
// with its session) is in tests/e2e/call_lane_test.cc; these are the rules
// it rests on, case by case, with values worked out by hand.
#include "server/service/lane_verdict.h"

#include <cstdint>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aoti_executor {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMs = 1'000'000;  // ns
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const absl::Duration kMargin = absl::Milliseconds(50);
const absl::Duration kTimeout = absl::Seconds(60);
const absl::Duration kShortestHang = absl::Milliseconds(100);
constexpr char kNode[] = "extern node 3 'buf3' (aoti_test::hang)";

TEST(LaneVerdictTest, TheClientsDeadlineLessTheMarginWhenItComesFirst) {
  // Started at 1000 ms, client deadline at 1500 ms: hung past 1450 ms.
  EXPECT_EQ(LaneCallLimitNs(1000 * kMs, 1500 * kMs, kMargin, kTimeout),
            1450 * kMs);
}

TEST(LaneVerdictTest, TheDaemonsCallTimeoutWhenItComesFirst) {
  // A client deadline an hour away: the daemon's 60 s after the start.
  EXPECT_EQ(LaneCallLimitNs(1000 * kMs, 3'600'000 * kMs, kMargin, kTimeout),
            61'000 * kMs);
}

TEST(LaneVerdictTest, NoDeadlineAndExtremeTimesSaturate) {
  // A client with no deadline sends the largest time: the timeout decides.
  EXPECT_EQ(LaneCallLimitNs(5 * kMs, kMax, kMargin, kTimeout),
            5 * kMs + 60'000 * kMs);
  // A start time so late that adding the timeout would overflow.
  EXPECT_EQ(LaneCallLimitNs(kMax - 1, kMax, kMargin, kTimeout),
            kMax - 50 * kMs);
  EXPECT_EQ(LaneCallLimitNs(0, std::numeric_limits<int64_t>::min(), kMargin,
                            kTimeout),
            std::numeric_limits<int64_t>::min());
}

ClosedLaneFacts Facts() {
  ClosedLaneFacts facts;
  facts.death = absl::AbortedError("died of SIGSEGV (Segmentation fault)");
  facts.pid = 4242;
  facts.node = kNode;
  return facts;
}

TEST(LaneVerdictTest, AHangThatHadItsTimeIsChargedAndNamed) {
  ClosedLaneFacts facts = Facts();
  facts.death = absl::AbortedError("killed by the daemon");
  facts.killed_by_daemon = true;
  facts.hung = true;
  facts.hung_run_ns = 100 * kMs;  // exactly the shortest hang
  const ClosedLaneVerdict verdict = JudgeClosedLane(facts, kShortestHang);
  EXPECT_EQ(verdict.answer.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(verdict.answer.message(),
            std::string(kNode) +
                " ran past its deadline; its worker (pid 4242) was killed "
                "and will be replaced");
  // Killed by the daemon, but for this very call: the node's doing.
  EXPECT_TRUE(verdict.charge_node);
}

TEST(LaneVerdictTest, AHangWithAlmostNoTimeIsNotCharged) {
  ClosedLaneFacts facts = Facts();
  facts.killed_by_daemon = true;
  facts.hung = true;
  facts.hung_run_ns = 100 * kMs - 1;
  const ClosedLaneVerdict verdict = JudgeClosedLane(facts, kShortestHang);
  EXPECT_EQ(verdict.answer.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(verdict.charge_node);
}

TEST(LaneVerdictTest, AWorkerThatDiedUnderItsCallChargesTheNode) {
  ClosedLaneFacts facts = Facts();
  facts.running = true;
  const ClosedLaneVerdict verdict = JudgeClosedLane(facts, kShortestHang);
  EXPECT_EQ(verdict.answer.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(
      verdict.answer.message(),
      std::string(kNode) + " failed: died of SIGSEGV (Segmentation fault)");
  EXPECT_TRUE(verdict.charge_node);
}

TEST(LaneVerdictTest, AWorkerKilledForAnotherReasonDoesNotChargeTheNode) {
  ClosedLaneFacts facts = Facts();
  facts.death =
      absl::AbortedError("killed: extern node 1 ran past its deadline");
  facts.killed_by_daemon = true;
  facts.running = true;
  const ClosedLaneVerdict verdict = JudgeClosedLane(facts, kShortestHang);
  EXPECT_EQ(verdict.answer.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(verdict.answer.message(), HasSubstr(kNode));
  EXPECT_THAT(verdict.answer.message(), HasSubstr("extern node 1"));
  EXPECT_FALSE(verdict.charge_node);
}

TEST(LaneVerdictTest, ASessionThatEndedDoesNotChargeTheNode) {
  ClosedLaneFacts facts = Facts();
  facts.death = absl::CancelledError("the session ended");
  facts.running = true;
  EXPECT_FALSE(JudgeClosedLane(facts, kShortestHang).charge_node);
}

TEST(LaneVerdictTest, AnIdleLaneIsClosedWithTheWorkersDeath) {
  ClosedLaneFacts facts = Facts();
  facts.node.clear();
  const ClosedLaneVerdict verdict = JudgeClosedLane(facts, kShortestHang);
  EXPECT_EQ(verdict.answer.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(verdict.answer.message(),
            "a call on the call lane failed: died of SIGSEGV (Segmentation "
            "fault)");
  EXPECT_FALSE(verdict.charge_node);
}

}  // namespace
}  // namespace aoti_executor
