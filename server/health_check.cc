#include "server/health_check.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "proto/health.grpc.pb.h"
#include "server/common/endpoint.h"
#include "server/common/transport_security.h"
#include "server/service/status_convert.h"

namespace aoti_executor {

absl::Status CheckHealth(const std::string& listen, absl::Duration timeout) {
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(listen);
  if (endpoint.ok()) endpoint = WithClientTls(*std::move(endpoint));
  if (!endpoint.ok()) return endpoint.status();
  auto channel = CreateChannelTo(*endpoint, grpc::ChannelArguments());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat(listen, ": ", status.error_message()));
  }
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(
        absl::StrCat(listen, " is ",
                     grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                         response.status())));
  }
  return absl::OkStatus();
}

}  // namespace aoti_executor
