#include "server/service/rpc_drain.h"

#include "absl/time/clock.h"

namespace aoti_executor {

bool RpcDrain::Enter() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  ++running_;
  return true;
}

void RpcDrain::Leave() {
  absl::MutexLock lock(&mu_);
  --running_;
  last_returned_ = absl::Now();
}

absl::Time RpcDrain::last_returned() const {
  absl::MutexLock lock(&mu_);
  return last_returned_;
}

bool RpcDrain::Stop(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  const auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return running_ == 0;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

grpc::Status RpcDrain::Stopping() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "aoti-executord is stopping");
}

}  // namespace aoti_executor
