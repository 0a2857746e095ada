#include "client_shim/session/reconnect_backoff.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace client {
namespace {

uint32_t Seed(const void* object) {
  // Differs between processes (and executors) started at the same moment,
  // which is what the jitter is for; no randomness needed beyond that.
  const uint64_t mixed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) ^
                         (static_cast<uint64_t>(getpid()) << 32) ^
                         reinterpret_cast<uintptr_t>(object);
  return static_cast<uint32_t>(mixed ^ (mixed >> 32)) | 1u;
}

}  // namespace

ReconnectBackoff::ReconnectBackoff() : random_(Seed(this)) {}

absl::Duration ReconnectBackoff::Delay(int failures) {
  absl::Duration delay = kReconnectBackoffInitial;
  for (int i = 1; i < failures && delay < kReconnectBackoffMax; ++i) {
    delay *= kReconnectBackoffMultiplier;
  }
  return std::min(delay, kReconnectBackoffMax);
}

void ReconnectBackoff::Failed(const absl::Status& error, absl::Time now) {
  if (failures_ < 1000) ++failures_;  // far past the cap; never overflows
  last_error_ = error;
  const double shortened =
      kReconnectBackoffJitter *
      std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  next_attempt_ = now + Delay(failures_) * (1.0 - shortened);
}

void ReconnectBackoff::Succeeded() {
  failures_ = 0;
  next_attempt_ = absl::InfinitePast();
  last_error_ = absl::OkStatus();
}

absl::Status ReconnectBackoff::WindowError(const std::string& endpoint,
                                           absl::Time now) const {
  const int64_t wait_ms =
      std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::Ceil(
                               next_attempt_ - now, absl::Milliseconds(1))));
  return absl::UnavailableError(absl::StrCat(
      "aoti-executord at ", endpoint, " is unreachable: ", failures_,
      failures_ == 1 ? " connect attempt" : " connect attempts in a row",
      " failed, the last with \"", last_error_.message(),
      "\"; the next attempt is in ", wait_ms, " ms (reconnect backoff)"));
}

}  // namespace client
}  // namespace aoti_executor
