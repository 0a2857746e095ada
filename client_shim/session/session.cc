#include "client_shim/session/session.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "client_shim/session/daemon_channels.h"
#include "client_shim/session/registration_memo.h"
#include "server/common/protocol.h"
#include "server/common/status_macros.h"
#include "server/kernels/serialized_enums.h"
#include "server/shm/sealed_bytes.h"
#include "server/shm/tensor_layout.h"
#include "server/shm/tensor_ref_layout.h"

namespace aoti_executor {
namespace client {

namespace {

// Why the attach socket that Hello named cannot be used, for a TCP client:
// the socket is a file on the daemon's host, and tensors cross in shared
// memory, so a client elsewhere cannot have a session at all.
absl::Status AttachUnreachable(const Endpoint& endpoint,
                               const std::string& path,
                               const absl::Status& error) {
  if (endpoint.kind != Endpoint::Kind::kTcp) {
    // On the daemon's own host: it went away between Hello and the connect.
    return absl::IsNotFound(error) ? absl::UnavailableError(error.message())
                                   : error;
  }
  if (absl::IsNotFound(error)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "aoti-executord at ", endpoint.ToString(),
        " answered, but its attach socket ", path,
        " does not exist here: tensors cross in shared memory, so the client "
        "must run on the daemon's host and see that socket (TCP carries only "
        "the calls' metadata)"));
  }
  return error;
}

}  // namespace

void OpenCanceller::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (rpc_ != nullptr) rpc_->TryCancel();
}

bool OpenCanceller::Enter(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  rpc_ = context;
  return true;
}

void OpenCanceller::Leave() {
  absl::MutexLock lock(&mu_);
  rpc_ = nullptr;
}

bool OpenCanceller::cancelled() {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

absl::StatusOr<std::shared_ptr<Session>> Session::Open(
    const Endpoint& endpoint, const Json& json, const std::string& device,
    const OpenOptions& options) {
  std::shared_ptr<Session> session(new Session(endpoint));
  DaemonChannels& channels = DaemonChannels::Process();
  const DaemonChannels::Channel channel = channels.Get(endpoint);
  session->UseChannel(channel.channel);
  std::string attach_path;
  absl::Status hello = session->Hello(options, &attach_path);
  if (absl::IsUnavailable(hello) && channel.reused &&
      absl::Now() < options.connect_deadline) {
    // Its connection may be to a daemon that has gone since.
    session->UseChannel(channels.Renew(endpoint, channel.channel));
    hello = session->Hello(options, &attach_path);
  }
  AOTI_RETURN_IF_ERROR(hello);
  if (options.canceller != nullptr && options.canceller->cancelled()) {
    return absl::CancelledError("opening a session was cancelled");
  }
  absl::StatusOr<std::unique_ptr<AttachSocket>> attach =
      AttachSocket::Connect(attach_path, options.connect_deadline);
  if (!attach.ok()) {
    const absl::Status why =
        AttachUnreachable(endpoint, attach_path, attach.status());
    if (absl::IsFailedPrecondition(why)) return why;
    return WithContext(why,
                       absl::StrCat("aoti-executord at ", endpoint.ToString()));
  }
  session->attach_ = *std::move(attach);
  Session* self = session.get();  // outlives what it owns
  session->inbox_ = std::make_unique<AttachInbox>(
      session->attach_.get(),
      [self](uint64_t region_id, std::shared_ptr<SharedRegion> region) {
        self->outputs_->Add(region_id, std::move(region));
      });
  session->outputs_ = std::make_unique<OutputRegions>(session->inbox_.get());
  session->staging_ = std::make_unique<StagingPool>(session.get());
  session->host_regions_ = std::make_unique<HostRegions>(session.get());
  session->rpc_ =
      std::make_unique<RpcTransport>(session->stub_.get(), &session->endpoint_);
  session->lanes_ = std::make_unique<LaneTransport>(
      [self](absl::Time deadline) { return self->OpenLane(deadline); },
      options.call_lane, &session->endpoint_);
  AOTI_RETURN_IF_ERROR(session->RegisterKernelSet(json, device, options));
  // The registration's answer carries the first call lane; a daemon that
  // predates that is asked for it now rather than in the first call.
  session->lanes_->Reopen(options.register_deadline);
  return session;
}

Session::~Session() = default;

void Session::UseChannel(std::shared_ptr<grpc::Channel> channel) {
  channel_ = std::move(channel);
  stub_ = v1::Executor::NewStub(channel_);
}

absl::Status Session::Hello(const OpenOptions& options,
                            std::string* attach_path) {
  const int64_t budget_ms =
      absl::ToInt64Milliseconds(options.connect_deadline - absl::Now());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(options.connect_deadline));
  context.set_wait_for_ready(options.wait_for_ready);
  v1::HelloRequest request;
  request.set_protocol_version(kProtocolVersion);
  v1::HelloResponse response;
  OpenCanceller* canceller = options.canceller;
  if (canceller != nullptr && !canceller->Enter(&context)) {
    return absl::CancelledError("opening a session was cancelled");
  }
  const grpc::Status status = stub_->Hello(&context, request, &response);
  if (canceller != nullptr) canceller->Leave();
  if (!status.ok()) {
    const auto code = static_cast<absl::StatusCode>(status.error_code());
    if (code == absl::StatusCode::kUnavailable ||
        code == absl::StatusCode::kDeadlineExceeded) {
      return absl::UnavailableError(absl::StrCat(
          "cannot reach aoti-executord at ", endpoint_.ToString(),
          options.wait_for_ready ? absl::StrCat(" within ", budget_ms, " ms")
                                 : std::string(),
          ": ", status.error_message(),
          " (is the daemon running? set the endpoint or "
          "$AOTI_EXECUTOR_ENDPOINT)"));
    }
    return RpcError("Hello", status);
  }
  if (response.protocol_version() != kProtocolVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "aoti-executord at ", endpoint_.ToString(), " speaks protocol version ",
        response.protocol_version(), ", this client ", kProtocolVersion));
  }
  if (response.attach_socket_path().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("aoti-executord at ", endpoint_.ToString(),
                     " serves no attach socket, so no shared memory"));
  }
  *attach_path = response.attach_socket_path();
  daemon_hashes_json_ = response.hashes_attached_json();
  daemon_compares_files_ = response.compares_json_files();
  return absl::OkStatus();
}

absl::Status Session::RegisterKernelSet(const Json& json,
                                        const std::string& device,
                                        const OpenOptions& options) {
  v1::RegisterKernelSetRequest request;
  request.set_session(attach_->secret());
  request.set_device(device);
  request.set_accepts_packed_nodes(true);
  request.set_open_call_lane(options.call_lane);
  json_ = json.sealed;
  if (json_ == nullptr) {
    const JsonFile& file = *json.file;
    // Whatever the file is: the daemon says which files it reads in place.
    if (daemon_compares_files_) {
      v1::RegisterKernelSetResponse response;
      AOTI_ASSIGN_OR_RETURN(const bool found,
                            RegisterFile(file, request, options, &response));
      if (found) {
        return Accept(std::move(response), device, std::nullopt, std::nullopt,
                      options);
      }
    }
    AOTI_ASSIGN_OR_RETURN(json_, file.Copy());
  }
  return RegisterBytes(std::move(request), device, options);
}

absl::StatusOr<bool> Session::RegisterFile(
    const JsonFile& file, v1::RegisterKernelSetRequest request,
    const OpenOptions& options, v1::RegisterKernelSetResponse* response) {
  // Size 0: the daemon takes the size from the file, which may have changed.
  AOTI_ASSIGN_OR_RETURN(const uint64_t attach_id, SendFd(file.fd(), 0));
  request.set_json_file_attach_id(attach_id);
  const absl::Status sent = SendRegistration(request, options, response);
  if (absl::IsNotFound(sent)) return false;
  AOTI_RETURN_IF_ERROR(sent);
  if (!response->sent_kernel_set_json()) {
    return absl::InternalError(absl::StrCat(
        "aoti-executord at ", endpoint_.ToString(),
        " registered a JSON file without sending the kernel set's JSON"));
  }
  AOTI_ASSIGN_OR_RETURN(ReceivedFrame image,
                        inbox_->TakeKernelSetJson(response->kernel_set_id(),
                                                  options.register_deadline));
  AOTI_ASSIGN_OR_RETURN(json_, SealedJson::FromKernelSetImage(
                                   std::move(image.fd), image.frame.size));
  return true;
}

absl::Status Session::RegisterBytes(v1::RegisterKernelSetRequest request,
                                    const std::string& device,
                                    const OpenOptions& options) {
  // Content this process registered before is asked for by its hash alone,
  // with the node table it holds: a daemon that has the set (any client of
  // it registered the model) need not be sent megabytes again. New content
  // goes straight to a daemon that hashes what it is sent: a SHA-256 here
  // would only repeat the daemon's, and a miss cost a round trip.
  RegistrationMemo& memo = RegistrationMemo::Process();
  std::optional<std::string> content_hash =
      daemon_hashes_json_ ? memo.FindHash(json_->bytes(), device)
                          : memo.ContentHash(json_, device);
  std::optional<RegistrationMemo::Nodes> known;
  v1::RegisterKernelSetResponse response;
  absl::Status sent = absl::NotFoundError("new content");
  if (content_hash.has_value()) {
    request.set_content_hash(*content_hash);
    known = memo.FindNodes(*content_hash);
    if (known.has_value()) {
      request.set_known_nodes_fingerprint(known->fingerprint);
    }
    sent = SendRegistration(request, options, &response);
  }
  if (absl::IsNotFound(sent)) {
    // The JSON goes as the sealed memfd it is in, not through HTTP/2 frames
    // (megabytes: several milliseconds less). Any hash stays in the request,
    // so that a daemon which predates json_attach_id answers NOT_FOUND again
    // rather than parsing an empty set. The JSON of a daemon's image is
    // only part of its memfd: that one goes as a copy.
    std::shared_ptr<const SealedJson> exact = json_;
    if (exact->fd() < 0) {
      AOTI_ASSIGN_OR_RETURN(exact, SealedJson::FromBytes(json_->bytes()));
    }
    absl::StatusOr<uint64_t> attach_id = SendFd(exact->fd(), exact->size());
    if (attach_id.ok()) {
      request.set_json_attach_id(*attach_id);
      sent = SendRegistration(request, options, &response);
    }
  }
  if (absl::IsNotFound(sent)) {
    request.set_extern_kernels_json(std::string(json_->bytes()));
    request.clear_content_hash();
    request.clear_json_attach_id();
    sent = SendRegistration(request, options, &response);
  }
  AOTI_RETURN_IF_ERROR(sent);
  return Accept(std::move(response), device, std::move(content_hash), known,
                options);
}

absl::Status Session::Accept(
    v1::RegisterKernelSetResponse response, const std::string& device,
    std::optional<std::string> content_hash,
    const std::optional<RegistrationMemo::Nodes>& known,
    const OpenOptions& options) {
  kernel_set_id_ = response.kernel_set_id();
  if (response.has_call_lane()) {
    // A lane that does not arrive is no error: Open asks for one again.
    absl::StatusOr<std::shared_ptr<LaneCaller>> lane =
        TakeLane(response.call_lane(), options.register_deadline);
    if (lane.ok()) lanes_->Adopt(*std::move(lane));
  }
  RegistrationMemo& memo = RegistrationMemo::Process();
  if (!content_hash.has_value() && !response.content_hash().empty()) {
    // Taken as the daemon says, as its answers to calls are.
    content_hash = response.content_hash();
    memo.RememberHash(json_, device, *content_hash);
  }
  if (known.has_value() && response.nodes().empty() &&
      NodeCount(response.packed_nodes()) == 0 &&
      response.nodes_fingerprint() == known->fingerprint) {
    nodes_ = known->table;
    return absl::OkStatus();
  }
  // A daemon that predates packed tables answers NodeInfo messages.
  auto table = std::make_shared<v1::PackedNodeTable>(
      response.nodes().empty() ? std::move(*response.mutable_packed_nodes())
                               : PackNodes(response.nodes()));
  if (absl::Status checked = CheckPackedNodeTable(*table); !checked.ok()) {
    return absl::InternalError(
        absl::StrCat("aoti-executord at ", endpoint_.ToString(),
                     " answered a malformed node table: ", checked.message()));
  }
  nodes_ = std::move(table);
  if (content_hash.has_value() && !response.nodes_fingerprint().empty()) {
    memo.RememberNodes(*content_hash, {response.nodes_fingerprint(), nodes_});
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Session::SendFd(int fd, uint64_t size) {
  const uint64_t attach_id = next_attach_id_.fetch_add(1);
  AOTI_RETURN_IF_ERROR(attach_->SendMemfd(attach_id, fd, size));
  return attach_id;
}

absl::Status Session::SendRegistration(
    const v1::RegisterKernelSetRequest& request, const OpenOptions& options,
    v1::RegisterKernelSetResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(options.register_deadline));
  OpenCanceller* canceller = options.canceller;
  if (canceller != nullptr && !canceller->Enter(&context)) {
    return absl::CancelledError("opening a session was cancelled");
  }
  const grpc::Status status =
      stub_->RegisterKernelSet(&context, request, response);
  if (canceller != nullptr) canceller->Leave();
  if (!status.ok()) return RpcError("RegisterKernelSet", status);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Session::RegisterRegion(const SharedRegion& region,
                                                 absl::Time deadline) {
  const uint64_t attach_id = next_attach_id_.fetch_add(1);
  AOTI_RETURN_IF_ERROR(
      WithContext(attach_->SendClientRegion(attach_id, region),
                  absl::StrCat("sending a region to aoti-executord at ",
                               endpoint_.ToString())));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  v1::RegisterRegionRequest request;
  request.set_session(attach_->secret());
  request.set_attach_id(attach_id);
  v1::RegisterRegionResponse response;
  const grpc::Status status =
      stub_->RegisterRegion(&context, request, &response);
  if (!status.ok()) return RpcError("RegisterRegion", status);
  if (response.byte_size() != region.size()) {
    return absl::InternalError(absl::StrCat(
        "aoti-executord at ", endpoint_.ToString(), " registered region ",
        response.region_id(), " with ", response.byte_size(),
        " bytes, the client sent ", region.size()));
  }
  return response.region_id();
}

void Session::ReleaseRegion(uint64_t region_id, absl::Time deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  v1::ReleaseRegionRequest request;
  request.set_session(attach_->secret());
  request.set_region_id(region_id);
  v1::ReleaseRegionResponse response;
  // Best effort: a region the daemon keeps is freed with the session.
  (void)stub_->ReleaseRegion(&context, request, &response);
}

absl::Status Session::Call(int node_index, const NodeShape& node,
                           absl::Span<const int64_t> ints,
                           absl::Span<at::Tensor* const> tensors,
                           absl::Time deadline) {
  const size_t num_inputs = static_cast<size_t>(node.num_input_tensors);
  absl::Span<at::Tensor* const> outputs = tensors.subspan(num_inputs);
  host_regions_->ReleaseDropped(deadline);
  // By reference when an input lies in an output of an earlier call or in
  // the host's shared allocations; staged otherwise.
  AOTI_ASSIGN_OR_RETURN(
      CallInputs inputs,
      CallInputs::Plan(tensors.subspan(0, num_inputs),
                       [this, deadline](const void* p, uint64_t n) {
                         if (auto output = outputs_->Find(p, n)) return output;
                         return host_regions_->Find(p, n, deadline);
                       }));

  v1::CallRequest request;
  absl::optional<StagingPool::Lease> staging;
  if (inputs.needs_staging()) {
    AOTI_ASSIGN_OR_RETURN(StagingPool::Lease lease,
                          staging_->Acquire(inputs.staging_bytes(), deadline));
    staging.emplace(std::move(lease));
    inputs.Stage(staging->region_id(), staging->data(),
                 request.mutable_inputs());
  } else {
    inputs.Stage(0, nullptr, request.mutable_inputs());
  }
  request.set_session(attach_->secret());
  request.set_kernel_set_id(kernel_set_id_);
  request.set_node_index(node_index);
  request.mutable_ints()->Add(ints.begin(), ints.end());
  for (const BlockId& block : releases_->Drain()) {
    v1::OutputRelease* release = request.add_releases();
    release->set_region_id(block.region_id);
    release->set_offset(block.offset);
  }

  AOTI_ASSIGN_OR_RETURN(v1::CallResponse response, Exchange(request, deadline));

  if (static_cast<size_t>(response.outputs_size()) != outputs.size()) {
    for (const v1::TensorRef& ref : response.outputs()) {
      if (ref.owned()) releases_->Push({ref.region_id(), ref.offset()});
    }
    return absl::InternalError(
        absl::StrCat("aoti-executord at ", endpoint_.ToString(), " answered ",
                     response.outputs_size(), " outputs, the call site has ",
                     outputs.size()));
  }
  std::vector<at::Tensor> results;
  AOTI_RETURN_IF_ERROR(ResolveOutputs(
      response, inputs, staging ? &*staging : nullptr, deadline, &results));
  AOTI_RETURN_IF_ERROR(inputs.CopyBack(node.mutated_input_tensors));
  for (size_t i = 0; i < outputs.size(); ++i) {
    *outputs[i] = std::move(results[i]);
  }
  for (uint64_t region_id : response.retired_regions()) {
    outputs_->Forget(region_id);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::CallResponse> Session::Exchange(
    const v1::CallRequest& request, absl::Time deadline) {
  if (auto answered = lanes_->TryCall(request, deadline)) {
    return *std::move(answered);
  }
  absl::StatusOr<v1::CallResponse> response = *rpc_->TryCall(request, deadline);
  // A call that had no lane to take (its worker had died) has just started
  // a new worker: open that worker's lane now, for the calls after it.
  if (response.ok()) lanes_->Reopen(deadline);
  return response;
}

size_t Session::call_lane_count() const { return lanes_->count(); }

absl::StatusOr<std::shared_ptr<LaneCaller>> Session::OpenLane(
    absl::Time deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  v1::OpenCallLaneRequest request;
  request.set_session(attach_->secret());
  v1::OpenCallLaneResponse response;
  const grpc::Status status = stub_->OpenCallLane(&context, request, &response);
  if (!status.ok()) return RpcError("OpenCallLane", status);
  return TakeLane(response, deadline);
}

absl::StatusOr<std::shared_ptr<LaneCaller>> Session::TakeLane(
    const v1::OpenCallLaneResponse& opened, absl::Time deadline) {
  for (uint64_t region_id : opened.retired_regions()) {
    outputs_->Forget(region_id);
  }
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<SharedRegion> region,
                        inbox_->TakeCallLane(opened.lane_id(), deadline));
  AOTI_ASSIGN_OR_RETURN(CallLane lane, CallLane::Over(std::move(region)));
  // The session outlives its lane caller (it owns it).
  return std::make_shared<LaneCaller>(std::move(lane),
                                      [this] { return Alive(); });
}

absl::Status Session::ResolveOutputs(const v1::CallResponse& response,
                                     const CallInputs& inputs,
                                     const StagingPool::Lease* staging,
                                     absl::Time deadline,
                                     std::vector<at::Tensor>* results) {
  results->reserve(response.outputs_size());
  for (int i = 0; i < response.outputs_size(); ++i) {
    absl::StatusOr<at::Tensor> tensor;
    try {
      tensor = ResolveOutput(response.outputs(i), i, inputs, staging, deadline);
    } catch (const std::exception& e) {
      tensor = absl::InternalError(absl::StrCat("output ", i, ": ", e.what()));
    }
    if (!tensor.ok()) {
      // Blocks already wrapped are released by their tensors' deleters; the
      // rest are queued here, so the daemon gets every block back.
      for (int j = i; j < response.outputs_size(); ++j) {
        const v1::TensorRef& ref = response.outputs(j);
        if (ref.owned()) releases_->Push({ref.region_id(), ref.offset()});
      }
      return tensor.status();
    }
    results->push_back(*std::move(tensor));
  }
  return absl::OkStatus();
}

absl::StatusOr<at::Tensor> Session::ResolveOutput(
    const v1::TensorRef& ref, size_t i, const CallInputs& inputs,
    const StagingPool::Lease* staging, absl::Time deadline) {
  const std::string which = absl::StrCat("output ", i);
  // dtype 0 ("unknown" in the serializer's numbering) stands for an
  // undefined tensor (a None returned for a Tensor? return).
  if (ref.dtype() == 0) {
    if (ref.owned()) releases_->Push({ref.region_id(), ref.offset()});
    return at::Tensor();
  }
  absl::StatusOr<c10::ScalarType> dtype = ScalarTypeFromSerialized(ref.dtype());
  if (!dtype.ok()) return WithContext(dtype.status(), which);
  if (!ref.device().empty() && ref.device() != "cpu") {
    return absl::UnimplementedError(
        absl::StrCat(which, " is on device \"", ref.device(),
                     "\": only CPU outputs are supported so far"));
  }
  const TensorLayout layout = LayoutOfRef(ref, *dtype);
  if (ref.owned()) {
    AOTI_ASSIGN_OR_RETURN(std::shared_ptr<SharedRegion> region,
                          outputs_->Get(ref.region_id(), deadline));
    AOTI_RETURN_IF_ERROR(WithContext(
        ValidateTensorLayout(layout, region->size()),
        absl::StrCat(which, " in output region ", ref.region_id())));
    std::weak_ptr<ReleaseQueue> queue = releases_;
    const BlockId block{ref.region_id(), ref.offset()};
    return WrapOwnedOutput(ref, *dtype, std::move(region), [queue, block] {
      if (std::shared_ptr<ReleaseQueue> alive = queue.lock()) {
        alive->Push(block);
      }
    });
  }
  // Not owned: it aliases memory the client sent in this call.
  const uint8_t* base = nullptr;
  uint64_t size = 0;
  std::shared_ptr<SharedRegion> output_region;
  if (staging != nullptr && ref.region_id() == staging->region_id()) {
    base = staging->data();
    size = staging->size();
  } else {
    absl::optional<std::shared_ptr<SharedRegion>> known =
        outputs_->Mapped(ref.region_id());
    if (!known.has_value()) {
      return absl::InternalError(absl::StrCat(
          which, " aliases region ", ref.region_id(),
          ", which is neither this call's staging region nor an output "
          "region the client has mapped"));
    }
    output_region = *std::move(known);
    base = output_region->data();
    size = output_region->size();
  }
  AOTI_RETURN_IF_ERROR(
      WithContext(ValidateTensorLayout(layout, size),
                  absl::StrCat(which, " in region ", ref.region_id())));
  return inputs.AliasOutput(ref, *dtype, ref.region_id(), base);
}

}  // namespace client
}  // namespace aoti_executor
