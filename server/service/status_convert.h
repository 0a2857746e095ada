// absl::Status -> grpc::Status at the service edge. The codes are the same
// canonical codes, so nothing is lost.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_STATUS_CONVERT_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_STATUS_CONVERT_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace aoti_executor {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_STATUS_CONVERT_H_
