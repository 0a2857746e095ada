#include "server/service/lane_verdict.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<int64_t>::max()
               : std::numeric_limits<int64_t>::min();
}

}  // namespace

int64_t LaneCallLimitNs(int64_t started_ns, int64_t deadline_ns,
                        absl::Duration margin, absl::Duration call_timeout) {
  return std::min(
      SaturatingAdd(deadline_ns, -absl::ToInt64Nanoseconds(margin)),
      SaturatingAdd(started_ns, absl::ToInt64Nanoseconds(call_timeout)));
}

ClosedLaneVerdict JudgeClosedLane(const ClosedLaneFacts& facts,
                                  absl::Duration shortest_hang) {
  ClosedLaneVerdict verdict;
  if (facts.hung) {
    verdict.answer = absl::DeadlineExceededError(
        absl::StrCat(facts.node, " ran past its deadline; its worker (pid ",
                     facts.pid, ") was killed and will be replaced"));
    // A call its client left almost no time is no evidence of a hang.
    verdict.charge_node =
        facts.hung_run_ns >= absl::ToInt64Nanoseconds(shortest_hang);
  } else if (facts.running) {
    verdict.answer = absl::AbortedError(
        absl::StrCat(facts.node, " failed: ", facts.death.message()));
    verdict.charge_node =
        !facts.killed_by_daemon && !absl::IsCancelled(facts.death);
  } else {
    verdict.answer = absl::AbortedError(absl::StrCat(
        "a call on the call lane failed: ", facts.death.message()));
  }
  return verdict;
}

}  // namespace aoti_executor
