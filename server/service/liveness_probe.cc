#include "server/service/liveness_probe.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace aoti_executor {
namespace {

namespace v1 = aoti::executor::v1;

// One call, shared by the caller and gRPC's callback: the caller may give up
// waiting while gRPC still holds the context.
struct PendingStatus {
  grpc::ClientContext context;
  v1::GetStatusRequest request;
  v1::GetStatusResponse response;
  grpc::Status status;
  absl::Notification done;
};

std::string StatusLine(const v1::GetStatusResponse& status) {
  return absl::StrCat("serving: ", status.sessions(), " sessions, ",
                      status.workers(), " workers, ",
                      status.calls_succeeded() + status.calls_failed(),
                      " calls (", status.calls_failed(), " failed, ",
                      status.calls_in_flight(), " in flight)");
}

}  // namespace

LivenessProbe::LivenessProbe(std::shared_ptr<grpc::Channel> channel)
    : stub_(v1::Executor::NewStub(std::move(channel))) {}

absl::StatusOr<std::string> LivenessProbe::Check(absl::Duration timeout) {
  auto pending = std::make_shared<PendingStatus>();
  pending->context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  stub_->async()->GetStatus(&pending->context, &pending->request,
                            &pending->response, [pending](grpc::Status status) {
                              pending->status = std::move(status);
                              pending->done.Notify();
                            });
  // gRPC's deadline needs gRPC's timer thread; this wait does not.
  if (!pending->done.WaitForNotificationWithTimeout(timeout)) {
    pending->context.TryCancel();
    return absl::DeadlineExceededError(absl::StrCat(
        "GetStatus got no answer in ", absl::FormatDuration(timeout)));
  }
  if (!pending->status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GetStatus failed: ", pending->status.error_message()));
  }
  return StatusLine(pending->response);
}

}  // namespace aoti_executor
