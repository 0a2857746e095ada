#include "server/service/executor_service.h"

#include <c10/core/InferenceMode.h>

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "server/common/status_macros.h"
#include "server/common/version.h"
#include "server/service/status_convert.h"
#include "server/service/tensor_refs.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

namespace v1 = aoti::executor::v1;

namespace {

constexpr uint32_t kProtocolVersion = 1;
// How long RegisterRegion waits for its memfd when the client set no deadline.
constexpr absl::Duration kDefaultRegionWait = absl::Seconds(5);

absl::Time DeadlineOf(const grpc::ServerContext& context) {
  const absl::Time deadline = absl::FromChrono(context.deadline());
  return std::min(deadline, absl::Now() + kDefaultRegionWait);
}

void DescribeNode(const OpKernel& kernel, v1::NodeInfo* node) {
  std::ostringstream schema;
  schema << kernel.schema();
  node->set_target(kernel.target());
  node->set_schema(schema.str());
  node->set_num_input_tensors(kernel.num_input_tensors());
  node->set_num_output_tensors(kernel.num_output_tensors());
  node->set_num_input_ints(kernel.num_input_ints());
  node->set_num_output_ints(kernel.num_output_ints());
  for (int index : kernel.mutated_input_tensors()) {
    node->add_mutated_input_tensors(index);
  }
}

}  // namespace

ExecutorService::ExecutorService(SessionRegistry* sessions)
    : sessions_(sessions) {}

grpc::Status ExecutorService::Hello(grpc::ServerContext*,
                                    const v1::HelloRequest*,
                                    v1::HelloResponse* response) {
  response->set_protocol_version(kProtocolVersion);
  response->set_attach_socket_path(sessions_->path());
  response->set_daemon_version(kDaemonVersion);
  return grpc::Status::OK;
}

grpc::Status ExecutorService::RegisterKernelSet(
    grpc::ServerContext*, const v1::RegisterKernelSetRequest* request,
    v1::RegisterKernelSetResponse* response) {
  absl::Status status = DoRegisterKernelSet(*request, response);
  if (!status.ok())
    spdlog::warn("RegisterKernelSet failed: {}", status.ToString());
  return ToGrpcStatus(status);
}

absl::Status ExecutorService::DoRegisterKernelSet(
    const v1::RegisterKernelSetRequest& request,
    v1::RegisterKernelSetResponse* response) {
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        sessions_->Find(request.session()));
  AOTI_ASSIGN_OR_RETURN(
      KernelSetCache::Entry entry,
      kernel_sets_.GetOrLoad(request.extern_kernels_json(), request.device()));
  session->AddKernelSet(entry.id, entry.kernels);
  response->set_kernel_set_id(entry.id);
  response->set_content_hash(entry.content_hash);
  for (size_t i = 0; i < entry.kernels->size(); ++i) {
    DescribeNode(**entry.kernels->Find(static_cast<int64_t>(i)),
                 response->add_nodes());
  }
  spdlog::info("kernel set {} ({} nodes, {}) registered for pid {}", entry.id,
               entry.kernels->size(), entry.content_hash.substr(0, 12),
               session->peer().pid);
  return absl::OkStatus();
}

grpc::Status ExecutorService::RegisterRegion(
    grpc::ServerContext* context, const v1::RegisterRegionRequest* request,
    v1::RegisterRegionResponse* response) {
  auto session = sessions_->Find(request->session());
  if (!session.ok()) return ToGrpcStatus(session.status());
  auto region_id = (*session)->RegisterClientRegion(request->attach_id(),
                                                    DeadlineOf(*context));
  if (!region_id.ok()) return ToGrpcStatus(region_id.status());
  auto region = (*session)->FindRegion(*region_id);
  response->set_region_id(*region_id);
  response->set_byte_size(region.ok() ? (*region)->size() : 0);
  return grpc::Status::OK;
}

grpc::Status ExecutorService::ReleaseRegion(
    grpc::ServerContext*, const v1::ReleaseRegionRequest* request,
    v1::ReleaseRegionResponse*) {
  auto session = sessions_->Find(request->session());
  if (!session.ok()) return ToGrpcStatus(session.status());
  return ToGrpcStatus((*session)->ReleaseClientRegion(request->region_id()));
}

grpc::Status ExecutorService::Call(grpc::ServerContext*,
                                   const v1::CallRequest* request,
                                   v1::CallResponse* response) {
  ++calls_in_flight_;
  absl::Status status = DoCall(*request, response);
  --calls_in_flight_;
  if (status.ok()) {
    ++calls_succeeded_;
  } else {
    ++calls_failed_;
    spdlog::debug("call failed: {}", status.ToString());
  }
  return ToGrpcStatus(status);
}

absl::Status ExecutorService::DoCall(const v1::CallRequest& request,
                                     v1::CallResponse* response) {
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        sessions_->Find(request.session()));
  for (const v1::OutputRelease& release : request.releases()) {
    absl::Status released =
        session->outputs().Release(release.region_id(), release.offset());
    if (!released.ok())
      spdlog::warn("pid {}: {}", session->peer().pid, released.ToString());
  }
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<const KernelSet> kernels,
                        session->FindKernelSet(request.kernel_set_id()));
  AOTI_ASSIGN_OR_RETURN(const OpKernel* kernel,
                        kernels->Find(request.node_index()));

  // Ops run like AOTI's generated code runs them: without autograd.
  c10::InferenceMode inference_mode;
  std::vector<at::Tensor> inputs;
  inputs.reserve(request.inputs_size());
  for (int i = 0; i < request.inputs_size(); ++i) {
    auto tensor = TensorFromRef(*session, request.inputs(i));
    if (!tensor.ok()) {
      return WithContext(tensor.status(), absl::StrCat(kernel->description(),
                                                       ", input tensor ", i));
    }
    inputs.push_back(*std::move(tensor));
  }
  AOTI_ASSIGN_OR_RETURN(std::vector<at::Tensor> outputs,
                        kernel->Run(absl::MakeConstSpan(request.ints().data(),
                                                        request.ints_size()),
                                    inputs));
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto ref = RefFromOutput(*session, outputs[i]);
    if (!ref.ok()) {
      // The client never hears of the blocks given so far: free them.
      for (const v1::TensorRef& given : response->outputs()) {
        if (given.owned()) {
          (void)session->outputs().Release(given.region_id(), given.offset());
        }
      }
      response->clear_outputs();
      return WithContext(ref.status(), absl::StrCat(kernel->description(),
                                                    ", output tensor ", i));
    }
    *response->add_outputs() = *std::move(ref);
  }
  for (uint64_t region_id : session->TakeRetiredRegions()) {
    response->add_retired_regions(region_id);
  }
  return absl::OkStatus();
}

grpc::Status ExecutorService::ReleaseOutputs(
    grpc::ServerContext*, const v1::ReleaseOutputsRequest* request,
    v1::ReleaseOutputsResponse*) {
  auto session = sessions_->Find(request->session());
  if (!session.ok()) return ToGrpcStatus(session.status());
  absl::Status first_error;
  for (const v1::OutputRelease& release : request->releases()) {
    absl::Status released =
        (*session)->outputs().Release(release.region_id(), release.offset());
    if (first_error.ok()) first_error = released;
  }
  return ToGrpcStatus(first_error);
}

grpc::Status ExecutorService::GetStatus(grpc::ServerContext*,
                                        const v1::GetStatusRequest*,
                                        v1::GetStatusResponse* response) {
  int64_t regions = 0, mapped = 0, output_bytes = 0;
  sessions_->Totals(&regions, &mapped, &output_bytes);
  response->set_daemon_version(kDaemonVersion);
  response->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - started_));
  response->set_sessions(static_cast<int64_t>(sessions_->size()));
  response->set_kernel_sets(static_cast<int64_t>(kernel_sets_.size()));
  response->set_calls_succeeded(calls_succeeded_.load());
  response->set_calls_failed(calls_failed_.load());
  response->set_calls_in_flight(calls_in_flight_.load());
  response->set_regions(regions);
  response->set_mapped_bytes(mapped);
  response->set_output_bytes_in_use(output_bytes);
  return grpc::Status::OK;
}

}  // namespace aoti_executor
