#include "server/workers/worker_loop.h"

#include <c10/core/InferenceMode.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "server/common/status_macros.h"
#include "server/kernels/device.h"
#include "server/workers/kernel_set_image.h"
#include "server/workers/message_channel.h"
#include "server/workers/output_allocator.h"
#include "server/workers/tensor_refs.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

namespace v1 = aoti::executor::v1;
namespace wv1 = aoti::executor::worker::v1;

WorkerLoop::WorkerLoop(UniqueFd channel, uint64_t region_id_base,
                       int num_threads)
    : channel_(std::move(channel)),
      region_id_base_(region_id_base),
      arena_(
          [this](std::shared_ptr<SharedRegion> region) {
            return PublishOutputRegion(std::move(region));
          },
          [this](uint64_t region_id) { RetireOutputRegion(region_id); }),
      pool_(num_threads) {}

int WorkerLoop::Run() {
  wv1::FromWorker ready;
  ready.mutable_ready()->set_pid(getpid());
  if (!Send(ready).ok()) return 1;
  while (true) {
    wv1::ToWorker message;
    auto fd = ReceiveMessage(channel_.get(), &message);
    if (!fd.ok()) {
      if (absl::IsUnavailable(fd.status())) return 0;  // the daemon is gone
      spdlog::error("worker {}: {}", getpid(), fd.status().ToString());
      return 1;
    }
    Handle(message, *std::move(fd));
  }
}

void WorkerLoop::Handle(const wv1::ToWorker& message, UniqueFd fd) {
  absl::Status status;
  switch (message.kind_case()) {
    case wv1::ToWorker::kRegisterKernelSet:
      status = RegisterKernelSet(message.register_kernel_set(), std::move(fd));
      break;
    case wv1::ToWorker::kMapRegion:
      status = MapRegion(message.map_region(), std::move(fd));
      break;
    case wv1::ToWorker::kUnmapRegion:
      regions_.Remove(message.unmap_region().region_id());
      break;
    case wv1::ToWorker::kAssignSession:
      region_id_base_ = message.assign_session().region_id_base();
      break;
    case wv1::ToWorker::kRunCall:
      pool_.Schedule([this, call = message.run_call()] { RunCall(call); });
      break;
    case wv1::ToWorker::kWatchPage:
      status = AdoptWatchPage(message.watch_page(), std::move(fd));
      break;
    case wv1::ToWorker::kOpenLane:
      status = OpenLane(message.open_lane(), std::move(fd));
      break;
    case wv1::ToWorker::kSync: {
      // Everything sent before it is applied: this thread applies messages
      // in order.
      wv1::FromWorker answer;
      answer.mutable_call_result()->set_call_id(message.sync().call_id());
      status = Send(answer);
      break;
    }
    default:
      status = absl::InvalidArgumentError("unknown message from the daemon");
  }
  // A failed registration shows up as a clear error in the calls that need
  // it; the daemon validated both before forwarding them.
  if (!status.ok()) spdlog::warn("worker {}: {}", getpid(), status.ToString());
}

absl::Status WorkerLoop::RegisterKernelSet(
    const wv1::RegisterKernelSet& request, UniqueFd fd) {
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<const MappedKernelSetImage> image,
                        MappedKernelSetImage::Map(std::move(fd), request));
  AOTI_ASSIGN_OR_RETURN(c10::Device device, ParseDevice(request.device()));
  const absl::string_view json = image->json();
  std::vector<NodeSpan> spans = image->spans();
  auto kernels = std::make_shared<const LazyKernelSet>(
      std::move(image), json, std::move(spans), device);
  absl::MutexLock lock(&mu_);
  kernel_sets_[request.kernel_set_id()] = std::move(kernels);
  return absl::OkStatus();
}

absl::Status WorkerLoop::MapRegion(const wv1::MapRegion& request, UniqueFd fd) {
  AOTI_ASSIGN_OR_RETURN(
      SharedRegion region,
      SharedRegion::Adopt(std::move(fd), request.byte_size()));
  return regions_.Add(request.region_id(),
                      std::make_shared<SharedRegion>(std::move(region)));
}

absl::Status WorkerLoop::AdoptWatchPage(const wv1::WatchPage& request,
                                        UniqueFd fd) {
  AOTI_ASSIGN_OR_RETURN(
      SharedRegion page,
      SharedRegion::Adopt(std::move(fd), request.byte_size()));
  if (page.size() < CallWatch::kBytes) {
    return absl::InvalidArgumentError("the watch page is too small");
  }
  watch_page_ = std::make_shared<SharedRegion>(std::move(page));
  return absl::OkStatus();
}

absl::Status WorkerLoop::OpenLane(const wv1::OpenLane& request, UniqueFd fd) {
  AOTI_ASSIGN_OR_RETURN(
      SharedRegion adopted,
      SharedRegion::Adopt(std::move(fd), request.byte_size()));
  AOTI_ASSIGN_OR_RETURN(
      CallLane lane,
      CallLane::Over(std::make_shared<SharedRegion>(std::move(adopted))));
  if (watch_page_ == nullptr) {
    return absl::FailedPreconditionError(
        "a call lane came without its watch page");
  }
  // The first lane's page shows the output counters to the daemon.
  CallWatch* first = nullptr;
  watch_.compare_exchange_strong(
      first, reinterpret_cast<CallWatch*>(watch_page_->data()));
  lane_servers_.push_back(std::make_unique<LaneServer>(
      std::move(lane), std::move(watch_page_),
      [this](const v1::CallRequest& call) { return Run(call); },
      [this](const v1::CallResponse& response) { Discard(response); }));
  return absl::OkStatus();
}

void WorkerLoop::RunCall(const wv1::RunCall& call) {
  wv1::FromWorker answer;
  *answer.mutable_call_result() = Run(call.request());
  answer.mutable_call_result()->set_call_id(call.call_id());
  if (absl::Status sent = Send(answer); !sent.ok()) {
    spdlog::error("worker {}: cannot answer: {}", getpid(), sent.ToString());
  }
}

wv1::CallResult WorkerLoop::Run(const v1::CallRequest& request) {
  wv1::CallResult result;
  absl::Status status;
  try {
    status = Execute(request, result.mutable_response());
  } catch (const std::exception& e) {
    status = absl::InternalError(e.what());
  }
  // After the op: a region the call's releases emptied has served its
  // outputs first.
  arena_.RetireEmptyRegions();
  result.set_output_bytes_in_use(arena_.bytes_in_use());
  result.set_output_bytes_copied(output_bytes_copied_.load());
  if (CallWatch* watch = watch_.load()) {
    watch->output_bytes_in_use.store(result.output_bytes_in_use());
    watch->output_bytes_copied.store(result.output_bytes_copied());
  }
  result.set_code(static_cast<int32_t>(status.code()));
  result.set_message(std::string(status.message()));
  if (!status.ok()) result.clear_response();
  return result;
}

void WorkerLoop::Discard(const v1::CallResponse& response) {
  for (const v1::TensorRef& ref : response.outputs()) {
    if (ref.owned()) (void)ReleaseBlock(ref.region_id(), ref.offset());
  }
  arena_.RetireEmptyRegions();
  // The client must still hear of these: the next answer carries them.
  absl::MutexLock lock(&mu_);
  for (uint64_t region_id : response.retired_regions()) {
    retired_regions_.push_back(region_id);
  }
}

absl::Status WorkerLoop::Execute(const v1::CallRequest& request,
                                 v1::CallResponse* response) {
  // Kernel set ids start at 1: id 0 is the daemon's ReleaseOutputs, which
  // reports a bad release; a call only logs one, as the call itself is fine.
  const bool releases_only = request.kernel_set_id() == 0;
  absl::Status first_bad_release;
  for (const v1::OutputRelease& release : request.releases()) {
    absl::Status released = ReleaseBlock(release.region_id(), release.offset());
    if (released.ok()) continue;
    if (first_bad_release.ok()) first_bad_release = released;
    if (!releases_only) spdlog::warn("{}", released.ToString());
  }
  if (releases_only) return first_bad_release;
  std::shared_ptr<const LazyKernelSet> kernels;
  {
    absl::MutexLock lock(&mu_);
    auto it = kernel_sets_.find(request.kernel_set_id());
    if (it == kernel_sets_.end()) {
      return absl::NotFoundError(absl::StrCat("kernel set ",
                                              request.kernel_set_id(),
                                              " is not loaded in the worker"));
    }
    kernels = it->second;
  }
  AOTI_ASSIGN_OR_RETURN(const OpKernel* kernel,
                        kernels->Find(request.node_index()));

  // Ops run like AOTI's generated code runs them: without autograd.
  c10::InferenceMode inference_mode;
  std::vector<at::Tensor> inputs;
  inputs.reserve(request.inputs_size());
  for (int i = 0; i < request.inputs_size(); ++i) {
    auto tensor = TensorFromRef(regions_, request.inputs(i));
    if (!tensor.ok()) {
      return WithContext(tensor.status(), absl::StrCat(kernel->description(),
                                                       ", input tensor ", i));
    }
    inputs.push_back(*std::move(tensor));
  }
  absl::StatusOr<std::vector<at::Tensor>> ran;
  {
    // The op's large allocations, its outputs among them, go straight into
    // shared memory.
    OutputAllocator::Scope in_shared_memory(&arena_);
    ran = kernel->Run(
        absl::MakeConstSpan(request.ints().data(), request.ints_size()),
        inputs);
  }
  AOTI_ASSIGN_OR_RETURN(std::vector<at::Tensor> outputs, std::move(ran));
  uint64_t bytes_copied = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto ref = RefFromOutput(regions_, arena_, outputs[i], &bytes_copied);
    if (!ref.ok()) {
      // The client never hears of the blocks given so far: free them.
      for (const v1::TensorRef& given : response->outputs()) {
        if (given.owned())
          (void)ReleaseBlock(given.region_id(), given.offset());
      }
      response->clear_outputs();
      return WithContext(ref.status(), absl::StrCat(kernel->description(),
                                                    ", output tensor ", i));
    }
    *response->add_outputs() = *std::move(ref);
  }
  output_bytes_copied_ += bytes_copied;
  absl::MutexLock lock(&mu_);
  for (uint64_t region_id : retired_regions_)
    response->add_retired_regions(region_id);
  retired_regions_.clear();
  return absl::OkStatus();
}

absl::Status WorkerLoop::ReleaseBlock(uint64_t region_id, uint64_t offset) {
  if (OutputAllocator::ReleaseFromClient(region_id, offset)) {
    return absl::OkStatus();
  }
  return arena_.Release(region_id, offset);
}

absl::Status WorkerLoop::Send(const wv1::FromWorker& message, int fd) {
  absl::MutexLock lock(&send_mu_);
  return SendMessage(channel_.get(), message, fd);
}

absl::StatusOr<uint64_t> WorkerLoop::PublishOutputRegion(
    std::shared_ptr<SharedRegion> region) {
  const uint64_t id = region_id_base_ + next_region_number_++;
  wv1::FromWorker announce;
  announce.mutable_output_region()->set_region_id(id);
  announce.mutable_output_region()->set_byte_size(region->size());
  // Announced before any answer names it: the daemon forwards it to the
  // client before it forwards that answer.
  AOTI_RETURN_IF_ERROR(Send(announce, region->fd()));
  AOTI_RETURN_IF_ERROR(regions_.Add(id, std::move(region)));
  return id;
}

void WorkerLoop::RetireOutputRegion(uint64_t region_id) {
  regions_.Remove(region_id);
  {
    absl::MutexLock lock(&mu_);
    retired_regions_.push_back(region_id);
  }
  // The daemon counts the regions it forwarded; calls on the lane do not
  // pass it, so it hears of the retirement here.
  wv1::FromWorker retired;
  retired.mutable_output_region_retired()->set_region_id(region_id);
  (void)Send(retired);
}

}  // namespace aoti_executor
