// One session with aoti-executord: the gRPC channel (the one this process
// shares with its other sessions to that daemon: daemon_channels.h), the
// attach socket (whose connection is the session), the model's registered
// kernel set, and the shared memory of the session (staging regions, output
// regions, releases).
//
// A session ends when this object is destroyed or the daemon goes away;
// RemoteExecutor then opens a new one. Output tensors of an ended session
// stay valid (they hold their regions); their releases are dropped.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_SESSION_SESSION_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_SESSION_SESSION_H_

#include <ATen/core/Tensor.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client_shim/memory/host_regions.h"
#include "client_shim/memory/output_regions.h"
#include "client_shim/memory/release_queue.h"
#include "client_shim/memory/staging_pool.h"
#include "client_shim/memory/tensor_wire.h"
#include "client_shim/session/json_file.h"
#include "client_shim/session/registration_memo.h"
#include "client_shim/session/sealed_json.h"
#include "client_shim/transport/attach_inbox.h"
#include "client_shim/transport/attach_socket.h"
#include "client_shim/transport/lane_caller.h"
#include "client_shim/transport/lane_transport.h"
#include "client_shim/transport/rpc_error.h"
#include "client_shim/transport/rpc_transport.h"
#include "proto/executor.grpc.pb.h"
#include "proto/executor.pb.h"
#include "server/common/endpoint.h"
#include "server/common/packed_node_table.h"

namespace aoti_executor {
namespace client {

namespace v1 = ::aoti::executor::v1;

// Lets another thread stop a Session::Open in progress (an executor being
// deleted while it reconnects): the RPC it waits in is cancelled, and it
// takes no further step. Thread-safe.
class OpenCanceller {
 public:
  void Cancel();

 private:
  friend class Session;
  // Marks `context` as the RPC in progress; false if already cancelled.
  bool Enter(grpc::ClientContext* context);
  void Leave();
  bool cancelled();

  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* rpc_ ABSL_GUARDED_BY(mu_) = nullptr;
};

class Session final : public StagingPool::Registrar {
 public:
  struct OpenOptions {
    // Hello and the attach socket must answer by this time.
    absl::Time connect_deadline;
    // RegisterKernelSet (which parses and resolves the JSON) by this one.
    absl::Time register_deadline;
    // Wait for the daemon to come up until connect_deadline (create), rather
    // than fail as soon as nothing listens (a reconnect inside a call).
    bool wait_for_ready = true;
    // If set, Cancel() makes Open fail with Cancelled promptly.
    OpenCanceller* canceller = nullptr;
    // Send calls over a call lane when the daemon offers one.
    bool call_lane = true;
  };

  // What a session registers: a <key>.wrapper.json's sealed bytes, or,
  // before this process has read them, its file, which a daemon that has
  // the content compares in place. Either way the session ends up with the
  // sealed bytes it registered: json().
  struct Json {
    std::shared_ptr<const SealedJson> sealed;
    const JsonFile* file = nullptr;  // when `sealed` is null; only for Open
  };

  // Hello; connects the attach socket and receives the secret; registers
  // `json` for `device`. Every error names the endpoint.
  static absl::StatusOr<std::shared_ptr<Session>> Open(
      const Endpoint& endpoint, const Json& json, const std::string& device,
      const OpenOptions& options);

  ~Session() override;

  // One per extern node, indexed by extern_node_index; checked
  // (CheckPackedNodeTable) when the daemon answered it.
  using Nodes = std::shared_ptr<const v1::PackedNodeTable>;
  const Nodes& nodes() const { return nodes_; }
  // The JSON this session registered, sealed.
  const std::shared_ptr<const SealedJson>& json() const { return json_; }
  const Endpoint& endpoint() const { return endpoint_; }

  // False once the daemon closed the attach socket: the session is over.
  bool Alive() const { return !attach_->PeerClosed(); }

  // Runs node `node_index` (described by `node`, whose counts the caller has
  // checked against `ints` and `tensors`): stages the inputs, calls, maps the
  // outputs, copies mutated staged inputs back and assigns the output
  // handles, the last only if everything succeeded. Thread-safe.
  absl::Status Call(int node_index, const NodeShape& node,
                    absl::Span<const int64_t> ints,
                    absl::Span<at::Tensor* const> tensors, absl::Time deadline);

  // StagingPool::Registrar: kClientRegion frame, then RegisterRegion.
  absl::StatusOr<uint64_t> RegisterRegion(const SharedRegion& region,
                                          absl::Time deadline) override;
  void ReleaseRegion(uint64_t region_id, absl::Time deadline) override;

  // For tests and status: releases waiting for the next call.
  size_t pending_releases() const { return releases_->size(); }
  size_t output_region_count() const { return outputs_->size(); }
  size_t staging_region_count() const { return staging_->region_count(); }
  size_t host_region_count() const { return host_regions_->size(); }
  // Call lanes open now (0 or more, up to what the daemon allows).
  size_t call_lane_count() const;

 private:
  explicit Session(Endpoint endpoint) : endpoint_(std::move(endpoint)) {}

  // The channel (DaemonChannels) that this session's RPCs take.
  void UseChannel(std::shared_ptr<grpc::Channel> channel);
  absl::Status Hello(const OpenOptions& options, std::string* attach_path);
  // Registers `json` (json_ is then set): by its file where it has no
  // bytes yet and the daemon compares files, else by RegisterBytes.
  absl::Status RegisterKernelSet(const Json& json, const std::string& device,
                                 const OpenOptions& options);
  // Registers `file`, which the daemon compares with the sets it has, or
  // reads. True (json_ set to the daemon's sealed copy, the answer in
  // `response`) unless the daemon does not read that file in place.
  absl::StatusOr<bool> RegisterFile(const JsonFile& file,
                                    v1::RegisterKernelSetRequest request,
                                    const OpenOptions& options,
                                    v1::RegisterKernelSetResponse* response);
  // Registers json_: by its hash if this process registered it before, in a
  // memfd otherwise (inline to a daemon that predates memfds).
  absl::Status RegisterBytes(v1::RegisterKernelSetRequest request,
                             const std::string& device,
                             const OpenOptions& options);
  // Takes in a successful registration's answer: the kernel set, the lane
  // it carries, and the node table (`known`'s, if the daemon left it out).
  absl::Status Accept(v1::RegisterKernelSetResponse response,
                      const std::string& device,
                      std::optional<std::string> content_hash,
                      const std::optional<RegistrationMemo::Nodes>& known,
                      const OpenOptions& options);
  // Sends `fd` (`size` bytes) on the attach socket; returns its attach id
  // for the request field that names it.
  absl::StatusOr<uint64_t> SendFd(int fd, uint64_t size);
  absl::Status SendRegistration(const v1::RegisterKernelSetRequest& request,
                                const OpenOptions& options,
                                v1::RegisterKernelSetResponse* response);
  // Turns the CallResponse's TensorRefs into tensors, into `results`. On
  // failure, every owned block not wrapped yet is queued for release.
  absl::Status ResolveOutputs(const v1::CallResponse& response,
                              const CallInputs& inputs,
                              const StagingPool::Lease* staging,
                              absl::Time deadline,
                              std::vector<at::Tensor>* results);
  absl::StatusOr<at::Tensor> ResolveOutput(const v1::TensorRef& ref, size_t i,
                                           const CallInputs& inputs,
                                           const StagingPool::Lease* staging,
                                           absl::Time deadline);
  // Offers `request` to the call lanes, then to the Call RPC.
  absl::StatusOr<v1::CallResponse> Exchange(const v1::CallRequest& request,
                                            absl::Time deadline);
  // One more call lane of the session's worker (LaneTransport's Opener).
  absl::StatusOr<std::shared_ptr<LaneCaller>> OpenLane(absl::Time deadline);
  // The lane that `opened` (an answer of OpenCallLane or of the
  // registration) names: its memfd, from the attach socket.
  absl::StatusOr<std::shared_ptr<LaneCaller>> TakeLane(
      const v1::OpenCallLaneResponse& opened, absl::Time deadline);
  // A gRPC failure of `rpc` as an absl::Status naming the endpoint.
  absl::Status RpcError(absl::string_view rpc,
                        const grpc::Status& status) const {
    return client::RpcError(endpoint_, rpc, status);
  }

  const Endpoint endpoint_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Executor::Stub> stub_;
  std::unique_ptr<AttachSocket> attach_;
  // HelloResponse.hashes_attached_json: new content goes in a memfd at once.
  bool daemon_hashes_json_ = false;
  // HelloResponse.compares_json_files: a file is offered before its bytes.
  bool daemon_compares_files_ = false;
  std::shared_ptr<const SealedJson> json_;
  uint64_t kernel_set_id_ = 0;
  Nodes nodes_;
  std::atomic<uint64_t> next_attach_id_{1};
  // Held by output tensors' deleters through weak_ptrs.
  std::shared_ptr<ReleaseQueue> releases_ = std::make_shared<ReleaseQueue>();
  // Declared after attach_, so destroyed before it.
  std::unique_ptr<AttachInbox> inbox_;
  std::unique_ptr<OutputRegions> outputs_;
  std::unique_ptr<StagingPool> staging_;
  std::unique_ptr<HostRegions> host_regions_;
  std::unique_ptr<RpcTransport> rpc_;
  std::unique_ptr<LaneTransport> lanes_;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_SESSION_SESSION_H_
