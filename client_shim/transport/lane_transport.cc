#include "client_shim/transport/lane_transport.h"

#include <utility>

#include "client_shim/transport/rpc_error.h"
#include "server/common/protocol.h"

namespace aoti_executor {
namespace client {

namespace v1 = ::aoti::executor::v1;
namespace wv1 = ::aoti::executor::worker::v1;

LaneTransport::LaneTransport(Opener open, bool enabled,
                             const Endpoint* endpoint)
    : open_(std::move(open)), endpoint_(endpoint), enabled_(enabled) {}

absl::optional<absl::StatusOr<v1::CallResponse>> LaneTransport::TryCall(
    const v1::CallRequest& request, absl::Time deadline) {
  std::shared_ptr<const LaneSet> lanes = Lanes(deadline);
  if (lanes == nullptr) return absl::nullopt;
  for (const std::shared_ptr<LaneCaller>& lane : *lanes) {
    if (auto answered = lane->TryCall(request, deadline)) {
      return FromLane(*std::move(answered));
    }
  }
  // Every lane is busy with another thread's call: one more, if the daemon
  // allows it.
  if (std::shared_ptr<LaneCaller> added = AddLane(deadline, lanes)) {
    if (auto answered = added->TryCall(request, deadline)) {
      return FromLane(*std::move(answered));
    }
  }
  return absl::nullopt;
}

absl::StatusOr<v1::CallResponse> LaneTransport::FromLane(
    absl::StatusOr<wv1::CallResult> answered) const {
  if (!answered.ok()) return RpcError(*endpoint_, "Call", answered.status());
  if (answered->code() != 0) {
    return RpcError(*endpoint_, "Call",
                    absl::Status(FailureCodeFromWire(answered->code()),
                                 answered->message()));
  }
  return std::move(*answered->mutable_response());
}

void LaneTransport::Adopt(std::shared_ptr<LaneCaller> lane) {
  absl::MutexLock lock(&mu_);
  if (!enabled_ || opening_ || lanes_ != nullptr) return;
  lanes_ = std::make_shared<const LaneSet>(LaneSet{std::move(lane)});
}

size_t LaneTransport::count() const {
  absl::MutexLock lock(&mu_);
  return lanes_ != nullptr ? lanes_->size() : 0;
}

std::shared_ptr<const LaneTransport::LaneSet> LaneTransport::Lanes(
    absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (lanes_ != nullptr) {
      bool open = true;
      for (const auto& lane : *lanes_) open = open && lane->Open();
      if (open) return lanes_;
    }
    // None yet, or the worker behind them is gone (they close together).
    lanes_ = nullptr;
    if (!enabled_ || opening_) return nullptr;
    opening_ = true;
  }
  absl::StatusOr<std::shared_ptr<LaneCaller>> opened = open_(deadline);
  absl::MutexLock lock(&mu_);
  opening_ = false;
  full_ = false;
  if (opened.ok()) {
    lanes_ = std::make_shared<const LaneSet>(LaneSet{*std::move(opened)});
  } else if (absl::IsFailedPrecondition(opened.status()) ||
             absl::IsUnimplemented(opened.status())) {
    enabled_ = false;  // the daemon offers none: every call takes the RPC
  }
  return lanes_;
}

std::shared_ptr<LaneCaller> LaneTransport::AddLane(
    absl::Time deadline, const std::shared_ptr<const LaneSet>& seen) {
  {
    absl::MutexLock lock(&mu_);
    if (lanes_ != seen || full_ || opening_) return nullptr;
    opening_ = true;
  }
  absl::StatusOr<std::shared_ptr<LaneCaller>> opened = open_(deadline);
  absl::MutexLock lock(&mu_);
  opening_ = false;
  if (!opened.ok()) {
    // The most the daemon allows, or its worker is going: the RPC it is.
    full_ = true;
    return nullptr;
  }
  if (lanes_ == seen) {
    LaneSet grown = *seen;
    grown.push_back(*opened);
    lanes_ = std::make_shared<const LaneSet>(std::move(grown));
  }
  return *std::move(opened);
}

}  // namespace client
}  // namespace aoti_executor
