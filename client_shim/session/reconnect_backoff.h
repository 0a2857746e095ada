// How long an executor waits, after failing to open a session with
// aoti-executord, before it tries again: exponential backoff with jitter, so a
// daemon that is down or restarting is not hammered by every call of every
// client, and one that comes back is found again within kReconnectBackoffMax.
//
// The numbers live here and nowhere else; docs/client.md states them for
// hosts.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_SESSION_RECONNECT_BACKOFF_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_SESSION_RECONNECT_BACKOFF_H_

#include <cstdint>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace aoti_executor {
namespace client {

// The window after the first failed attempt...
inline constexpr absl::Duration kReconnectBackoffInitial =
    absl::Milliseconds(50);
// ...multiplied by this after each further failure...
inline constexpr int kReconnectBackoffMultiplier = 2;
// ...up to this cap. A success resets it to kReconnectBackoffInitial.
inline constexpr absl::Duration kReconnectBackoffMax = absl::Seconds(2);
// Jitter: each window is shortened by a random fraction in
// [0, kReconnectBackoffJitter) of itself, so clients that lost the same
// daemon at the same moment do not all come back at the same moment. A
// window is never longer than kReconnectBackoffMax.
inline constexpr double kReconnectBackoffJitter = 0.5;

// Not thread-safe: the executor guards it with its own mutex.
class ReconnectBackoff {
 public:
  ReconnectBackoff();

  // The window after `failures` (>= 1) failures in a row, before jitter:
  // kReconnectBackoffInitial * kReconnectBackoffMultiplier^(failures - 1),
  // at most kReconnectBackoffMax.
  static absl::Duration Delay(int failures);

  // An attempt that ended at `now` failed with `error`: no attempt before
  // the window that starts now ends.
  void Failed(const absl::Status& error, absl::Time now);
  // An attempt succeeded: the next failure starts over at the initial delay.
  void Succeeded();

  // When the next attempt may be made (the past if it may be made now).
  absl::Time next_attempt() const { return next_attempt_; }
  int failures() const { return failures_; }
  const absl::Status& last_error() const { return last_error_; }

  // Unavailable, for a call that arrives at `now` inside the window: names
  // `endpoint`, the last attempt's error, and when the next attempt is due.
  absl::Status WindowError(const std::string& endpoint, absl::Time now) const;

 private:
  int failures_ = 0;
  absl::Time next_attempt_ = absl::InfinitePast();
  absl::Status last_error_;
  std::minstd_rand random_;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_SESSION_RECONNECT_BACKOFF_H_
