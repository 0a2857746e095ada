// CrashTracker's quarantine, on a clock the test sets: every time is an
// argument, so nothing here depends on how fast the machine is.
#include "server/workers/crash_tracker.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aoti_executor {
namespace {

constexpr int kMaxCrashes = 3;
constexpr char kModel[] = "hash-of-model";
constexpr char kOtherModel[] = "hash-of-other-model";
constexpr char kNode3[] = "extern node 3 (ns::op)";

const absl::Duration kWindow = absl::Minutes(5);
const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

absl::Status Boom(int n) {
  return absl::AbortedError("boom " + std::to_string(n));
}

TEST(CrashTrackerTest, QuarantinesAfterMaxCrashesWithinTheWindow) {
  CrashTracker tracker(kMaxCrashes, kWindow);
  tracker.RecordCrash(kModel, 3, kNode3, Boom(1), kStart);
  tracker.RecordCrash(kModel, 3, kNode3, Boom(2), kStart + absl::Minutes(1));
  EXPECT_TRUE(tracker.CheckAllowed(kModel, 3, kStart + absl::Minutes(2)).ok());
  EXPECT_FALSE(tracker.AnyQuarantined(kModel, kStart + absl::Minutes(2)));

  tracker.RecordCrash(kModel, 3, kNode3, Boom(3), kStart + absl::Minutes(2));
  // At 2m30s the first crash (at 0) leaves the 5m window in 2m30s, and the
  // node is tried again then, with two crashes left in the window.
  const absl::Time now = kStart + absl::Minutes(2) + absl::Seconds(30);
  const absl::Status refused = tracker.CheckAllowed(kModel, 3, now);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.message(),
            "extern node 3 (ns::op) is quarantined: it crashed or hung its "
            "worker 3 times in the last 5m (latest: boom 3); it will be tried "
            "again in 2m30s, or sooner if an operator clears the quarantine");
  EXPECT_TRUE(tracker.AnyQuarantined(kModel, now));
  // The verdict is the node's: not its neighbours', not another model's.
  EXPECT_TRUE(tracker.CheckAllowed(kModel, 4, now).ok());
  EXPECT_TRUE(tracker.CheckAllowed(kOtherModel, 3, now).ok());
  EXPECT_FALSE(tracker.AnyQuarantined(kOtherModel, now));
}

TEST(CrashTrackerTest, CrashesSpreadWiderThanTheWindowDoNotQuarantine) {
  CrashTracker tracker(kMaxCrashes, kWindow);
  tracker.RecordCrash(kModel, 3, kNode3, Boom(1), kStart);
  tracker.RecordCrash(kModel, 3, kNode3, Boom(2), kStart + absl::Minutes(3));
  tracker.RecordCrash(kModel, 3, kNode3, Boom(3), kStart + absl::Minutes(6));
  // At 6m the first crash is more than 5m old: two are left in the window.
  const absl::Time now = kStart + absl::Minutes(6);
  EXPECT_TRUE(tracker.CheckAllowed(kModel, 3, now).ok());
  EXPECT_FALSE(tracker.AnyQuarantined(kModel, now));
  const std::vector<CrashTracker::NodeRecord> records = tracker.Snapshot(now);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].crashes_in_window, 2);
  EXPECT_FALSE(records[0].quarantined);
}

TEST(CrashTrackerTest, QuarantineEndsWhenTheCrashesLeaveTheWindow) {
  CrashTracker tracker(kMaxCrashes, kWindow);
  for (int i = 1; i <= kMaxCrashes; ++i) {
    tracker.RecordCrash(kModel, 3, kNode3, Boom(i), kStart);
  }
  const absl::Status last_second =
      tracker.CheckAllowed(kModel, 3, kStart + kWindow - absl::Seconds(1));
  EXPECT_EQ(last_second.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(last_second.message(),
              testing::HasSubstr("it will be tried again in 1s"));
  // A crash exactly one window old is out of it.
  EXPECT_TRUE(tracker.CheckAllowed(kModel, 3, kStart + kWindow).ok());
  EXPECT_FALSE(tracker.AnyQuarantined(kModel, kStart + kWindow));
  EXPECT_TRUE(tracker.Snapshot(kStart + kWindow).empty());
}

TEST(CrashTrackerTest, ClearForgetsEveryCrashAndCountsTheQuarantined) {
  CrashTracker tracker(kMaxCrashes, kWindow);
  for (int i = 1; i <= kMaxCrashes; ++i) {
    tracker.RecordCrash(kModel, 3, kNode3, Boom(i), kStart);
    tracker.RecordCrash(kOtherModel, 0, "extern node 0 (ns::other)", Boom(i),
                        kStart);
  }
  tracker.RecordCrash(kModel, 7, "extern node 7 (ns::rare)", Boom(1), kStart);
  const absl::Time now = kStart + absl::Minutes(1);
  ASSERT_FALSE(tracker.CheckAllowed(kModel, 3, now).ok());

  EXPECT_EQ(tracker.Clear(now), 2);  // node 7 had one crash only
  EXPECT_TRUE(tracker.CheckAllowed(kModel, 3, now).ok());
  EXPECT_TRUE(tracker.CheckAllowed(kOtherModel, 0, now).ok());
  EXPECT_TRUE(tracker.Snapshot(now).empty());
  EXPECT_EQ(tracker.Clear(now), 0);
  // Counting starts again from nothing.
  tracker.RecordCrash(kModel, 3, kNode3, Boom(4), now);
  EXPECT_TRUE(tracker.CheckAllowed(kModel, 3, now).ok());
}

TEST(CrashTrackerTest, SnapshotListsEveryNodeWithACrashInTheWindow) {
  CrashTracker tracker(kMaxCrashes, kWindow);
  tracker.RecordCrash(kModel, 7, "extern node 7 (ns::rare)", Boom(1), kStart);
  for (int i = 1; i <= kMaxCrashes; ++i) {
    tracker.RecordCrash(kModel, 3, kNode3, Boom(i), kStart + absl::Minutes(i));
  }
  tracker.RecordCrash(kOtherModel, 0, "extern node 0 (ns::other)", Boom(9),
                      kStart + absl::Minutes(1));
  // At 5m30s node 7's only crash (at 0) has left the window.
  const std::vector<CrashTracker::NodeRecord> records =
      tracker.Snapshot(kStart + absl::Minutes(5) + absl::Seconds(30));
  ASSERT_EQ(records.size(), 2u);
  // Ordered by kernel set hash, then node.
  EXPECT_EQ(records[0].kernel_set_hash, kModel);
  EXPECT_EQ(records[0].node_index, 3);
  EXPECT_EQ(records[0].description, kNode3);
  EXPECT_EQ(records[0].crashes_in_window, 3);
  EXPECT_TRUE(records[0].quarantined);
  EXPECT_EQ(records[0].last_error, "boom 3");
  EXPECT_EQ(records[1].kernel_set_hash, kOtherModel);
  EXPECT_EQ(records[1].node_index, 0);
  EXPECT_EQ(records[1].description, "extern node 0 (ns::other)");
  EXPECT_EQ(records[1].crashes_in_window, 1);
  EXPECT_FALSE(records[1].quarantined);
  EXPECT_EQ(records[1].last_error, "boom 9");
}

TEST(CrashTrackerTest, TheWindowSlidesPastTheOldestCrash) {
  CrashTracker tracker(kMaxCrashes, kWindow);
  tracker.RecordCrash(kModel, 3, kNode3, Boom(1), kStart);
  tracker.RecordCrash(kModel, 3, kNode3, Boom(2), kStart + absl::Minutes(4));
  tracker.RecordCrash(kModel, 3, kNode3, Boom(3), kStart + absl::Minutes(4));
  // Quarantined until 5m, when the crash at 0 leaves the window, though the
  // latest crash is then only 1m old.
  const absl::Status at_4m30 =
      tracker.CheckAllowed(kModel, 3, kStart + absl::Seconds(270));
  EXPECT_THAT(at_4m30.message(),
              testing::HasSubstr("it will be tried again in 30s"));
  EXPECT_TRUE(tracker.CheckAllowed(kModel, 3, kStart + kWindow).ok());
  // Two crashes are still in the window: one more quarantines it again.
  tracker.RecordCrash(kModel, 3, kNode3, Boom(4), kStart + kWindow);
  EXPECT_FALSE(tracker.CheckAllowed(kModel, 3, kStart + kWindow).ok());
}

}  // namespace
}  // namespace aoti_executor
