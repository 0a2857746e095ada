// ReconnectBackoff against reconnect_backoff.h: the window after each failure
// (doubling from 50 ms to a 2 s cap, shortened by under half for jitter),
// Succeeded's reset, and the error a call inside the window gets. Times are
// made up, so nothing here waits.
#include "client_shim/session/reconnect_backoff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace aoti_executor {
namespace client {
namespace {

using ::testing::HasSubstr;

// An arbitrary fixed moment.
const absl::Time kStart = absl::FromUnixSeconds(1700000000);

TEST(ReconnectBackoffTest, DelayDoublesFrom50msUpTo2s) {
  // 50 ms * 2^(failures - 1), written out.
  EXPECT_EQ(ReconnectBackoff::Delay(1), absl::Milliseconds(50));
  EXPECT_EQ(ReconnectBackoff::Delay(2), absl::Milliseconds(100));
  EXPECT_EQ(ReconnectBackoff::Delay(3), absl::Milliseconds(200));
  EXPECT_EQ(ReconnectBackoff::Delay(4), absl::Milliseconds(400));
  EXPECT_EQ(ReconnectBackoff::Delay(5), absl::Milliseconds(800));
  EXPECT_EQ(ReconnectBackoff::Delay(6), absl::Milliseconds(1600));
  // 3200 ms would exceed the cap.
  EXPECT_EQ(ReconnectBackoff::Delay(7), absl::Seconds(2));
  EXPECT_EQ(ReconnectBackoff::Delay(8), absl::Seconds(2));
  EXPECT_EQ(ReconnectBackoff::Delay(64), absl::Seconds(2));
  EXPECT_EQ(ReconnectBackoff::Delay(100000), absl::Seconds(2));
}

TEST(ReconnectBackoffTest, ConstantsAreTheDocumentedOnes) {
  EXPECT_EQ(kReconnectBackoffInitial, absl::Milliseconds(50));
  EXPECT_EQ(kReconnectBackoffMultiplier, 2);
  EXPECT_EQ(kReconnectBackoffMax, absl::Seconds(2));
  EXPECT_EQ(kReconnectBackoffJitter, 0.5);
}

TEST(ReconnectBackoffTest, FreshBackoffAllowsAnAttemptAtOnce) {
  ReconnectBackoff backoff;
  EXPECT_EQ(backoff.failures(), 0);
  EXPECT_LT(backoff.next_attempt(), kStart);
  EXPECT_TRUE(backoff.last_error().ok());
}

// Each window starts at the failure and lasts Delay(failures), shortened by
// a fraction in [0, 0.5): in (now + Delay / 2, now + Delay].
void ExpectWindow(const ReconnectBackoff& backoff, absl::Time failed_at,
                  int failures) {
  const absl::Duration delay = ReconnectBackoff::Delay(failures);
  EXPECT_GT(backoff.next_attempt(), failed_at + delay / 2)
      << "after " << failures << " failures";
  EXPECT_LE(backoff.next_attempt(), failed_at + delay)
      << "after " << failures << " failures";
}

TEST(ReconnectBackoffTest, WindowGrowsWithEachFailureAndIsCapped) {
  ReconnectBackoff backoff;
  absl::Time now = kStart;
  for (int failures = 1; failures <= 12; ++failures) {
    backoff.Failed(absl::UnavailableError(absl::StrCat("try ", failures)), now);
    EXPECT_EQ(backoff.failures(), failures);
    EXPECT_EQ(backoff.last_error(),
              absl::UnavailableError(absl::StrCat("try ", failures)));
    ExpectWindow(backoff, now, failures);
    // Never past the cap, however many failures.
    EXPECT_LE(backoff.next_attempt() - now, absl::Seconds(2));
    now = backoff.next_attempt() + absl::Milliseconds(1);
  }
}

TEST(ReconnectBackoffTest, JitterStaysWithinItsBoundsOverManyBackoffs) {
  // Many executors, as many clients of one daemon would have: every window
  // is inside its bounds, and they are not all the same (the jitter's
  // point). 200 draws of a uniform fraction all equal would be a broken
  // generator, not bad luck.
  absl::Duration shortest = absl::InfiniteDuration();
  absl::Duration longest = absl::ZeroDuration();
  for (int i = 0; i < 200; ++i) {
    ReconnectBackoff backoff;
    backoff.Failed(absl::UnavailableError("down"), kStart);
    ExpectWindow(backoff, kStart, 1);
    shortest = std::min(shortest, backoff.next_attempt() - kStart);
    longest = std::max(longest, backoff.next_attempt() - kStart);
  }
  EXPECT_LT(shortest, longest);
}

TEST(ReconnectBackoffTest, SucceededStartsOverAtTheInitialWindow) {
  ReconnectBackoff backoff;
  absl::Time now = kStart;
  for (int i = 0; i < 9; ++i) {
    backoff.Failed(absl::UnavailableError("down"), now);
    now += absl::Seconds(3);
  }
  ASSERT_EQ(backoff.failures(), 9);
  backoff.Succeeded();
  EXPECT_EQ(backoff.failures(), 0);
  EXPECT_TRUE(backoff.last_error().ok());
  EXPECT_LT(backoff.next_attempt(), now);

  backoff.Failed(absl::UnavailableError("down again"), now);
  EXPECT_EQ(backoff.failures(), 1);
  ExpectWindow(backoff, now, 1);
}

TEST(ReconnectBackoffTest, WindowErrorNamesEndpointErrorCountAndWait) {
  ReconnectBackoff backoff;
  backoff.Failed(absl::UnavailableError("connection refused"), kStart);
  const absl::Time due = backoff.next_attempt();
  // 10 ms before the attempt is due: "in 10 ms".
  const absl::Status error =
      backoff.WindowError("unix:/tmp/x.sock", due - absl::Milliseconds(10));
  EXPECT_EQ(error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(error.message(), HasSubstr("unix:/tmp/x.sock"));
  EXPECT_THAT(error.message(), HasSubstr("1 connect attempt failed"));
  EXPECT_THAT(error.message(), HasSubstr("\"connection refused\""));
  EXPECT_THAT(error.message(), HasSubstr("in 10 ms"));
}

TEST(ReconnectBackoffTest, WindowErrorCountsFailuresInARow) {
  ReconnectBackoff backoff;
  backoff.Failed(absl::UnavailableError("first"), kStart);
  backoff.Failed(absl::DeadlineExceededError("second"),
                 kStart + absl::Seconds(1));
  backoff.Failed(absl::UnavailableError("third"), kStart + absl::Seconds(2));
  const absl::Status error =
      backoff.WindowError("tcp:host:1", kStart + absl::Seconds(2));
  EXPECT_EQ(error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(error.message(), HasSubstr("3 connect attempts in a row"));
  // Only the last attempt's error.
  EXPECT_THAT(error.message(), HasSubstr("\"third\""));
  EXPECT_THAT(error.message(), ::testing::Not(HasSubstr("second")));
}

TEST(ReconnectBackoffTest, WindowErrorNeverNamesANegativeWait) {
  ReconnectBackoff backoff;
  backoff.Failed(absl::UnavailableError("down"), kStart);
  const absl::Time due = backoff.next_attempt();
  // Asked after the window ended: 0, not a negative wait.
  EXPECT_THAT(backoff.WindowError("e", due + absl::Seconds(5)).message(),
              HasSubstr("in 0 ms"));
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor
