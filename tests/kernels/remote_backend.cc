#include "tests/kernels/remote_backend.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "aoti_remote/executor.h"
#include "client_shim/remote_executor.h"
#include "proto/executor.grpc.pb.h"
#include "server/common/packed_node_table.h"

namespace aoti_executor {
namespace kernel_test {
namespace {

// The failure of a shim call, as a status.
absl::Status ShimError(const char* function) {
  return absl::UnknownError(
      absl::StrCat(function, ": ", aoti_remote_last_error()));
}

// Writes `json` to a new file under $TEST_TMPDIR (or /tmp); returns its path.
absl::StatusOr<std::string> WriteTempJson(const std::string& json) {
  const char* tmpdir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(tmpdir != nullptr ? tmpdir : "/tmp",
                                  "/model.XXXXXX.wrapper.json");
  const int fd = mkstemps(path.data(), /*suffixlen=*/13);
  if (fd < 0) return absl::ErrnoToStatus(errno, "mkstemps " + path);
  size_t written = 0;
  while (written < json.size()) {
    const ssize_t n = write(fd, json.data() + written, json.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      close(fd);
      unlink(path.c_str());
      return absl::ErrnoToStatus(error, "write " + path);
    }
    written += static_cast<size_t>(n);
  }
  close(fd);
  return path;
}

// One shim executor: a session with the daemon and the model registered.
class RemoteModel final : public BackendModel {
 public:
  RemoteModel(AOTIProxyExecutorHandle handle, std::vector<NodeInfo> nodes,
              std::shared_ptr<std::atomic<int64_t>> calls_succeeded)
      : handle_(handle),
        nodes_(std::move(nodes)),
        calls_succeeded_(std::move(calls_succeeded)) {}
  ~RemoteModel() override { aoti_remote_executor_delete(handle_); }

  size_t num_nodes() const override { return nodes_.size(); }

  absl::StatusOr<NodeInfo> Describe(int index) const override {
    if (index < 0 || static_cast<size_t>(index) >= nodes_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("extern node index ", index,
                       " is out of range: ", nodes_.size(), " nodes"));
    }
    return nodes_[index];
  }

  absl::Status Call(int index, int num_ints, const int64_t* ints,
                    int num_tensors,
                    at::Tensor* const* tensors) const override {
    // The C ABI takes mutable arrays, as AOTI's call sites build them.
    std::vector<int64_t> flat_ints(ints, ints + num_ints);
    std::vector<AtenTensorHandle> handles;
    handles.reserve(num_tensors);
    for (int i = 0; i < num_tensors; ++i) {
      handles.push_back(reinterpret_cast<AtenTensorHandle>(tensors[i]));
    }
    if (aoti_remote_executor_call_function(
            handle_, index, num_ints, flat_ints.data(), num_tensors,
            handles.data()) != AOTI_TORCH_SUCCESS) {
      return ShimError("aoti_remote_executor_call_function");
    }
    ++*calls_succeeded_;
    return absl::OkStatus();
  }

  // No Run() across the boundary: the handle call with new undefined output
  // handles, one per output tensor the daemon reports for the node.
  absl::StatusOr<std::vector<at::Tensor>> Run(
      int index, const std::vector<int64_t>& ints,
      const std::vector<at::Tensor>& inputs) const override {
    absl::StatusOr<NodeInfo> node = Describe(index);
    const int num_outputs = node.ok() ? node->output_tensors : 0;
    std::vector<at::Tensor> handles(inputs);
    handles.resize(inputs.size() + num_outputs);
    std::vector<at::Tensor*> pointers;
    for (at::Tensor& handle : handles) pointers.push_back(&handle);
    absl::Status status =
        Call(index, static_cast<int>(ints.size()), ints.data(),
             static_cast<int>(pointers.size()), pointers.data());
    if (!status.ok()) return status;
    return std::vector<at::Tensor>(handles.begin() + inputs.size(),
                                   handles.end());
  }

 private:
  const AOTIProxyExecutorHandle handle_;
  const std::vector<NodeInfo> nodes_;
  const std::shared_ptr<std::atomic<int64_t>> calls_succeeded_;
};

// What the daemon answered for each node when the executor registered.
absl::StatusOr<std::vector<NodeInfo>> RegisteredNodes(
    AOTIProxyExecutorHandle handle) {
  client::RemoteExecutor* executor = client::RemoteExecutor::FromHandle(handle);
  absl::StatusOr<std::shared_ptr<client::Session>> session =
      executor->CurrentSession(absl::Now() + absl::Seconds(30));
  if (!session.ok()) return session.status();
  std::vector<NodeInfo> nodes;
  const ::aoti::executor::v1::PackedNodeTable& table = *(*session)->nodes();
  for (size_t i = 0; i < NodeCount(table); ++i) {
    const NodeShape node = NodeAt(table, i);
    NodeInfo info;
    info.target = std::string(node.target);
    info.input_tensors = node.num_input_tensors;
    info.input_ints = node.num_input_ints;
    info.output_tensors = node.num_output_tensors;
    info.output_ints = node.num_output_ints;
    info.mutated_input_tensors.assign(node.mutated_input_tensors.begin(),
                                      node.mutated_input_tensors.end());
    nodes.push_back(std::move(info));
  }
  return nodes;
}

// The daemon's counters (GetStatus).
absl::StatusOr<::aoti::executor::v1::GetStatusResponse> DaemonStatus(
    const std::string& endpoint) {
  namespace v1 = ::aoti::executor::v1;
  std::unique_ptr<v1::Executor::Stub> stub = v1::Executor::NewStub(
      grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::GetStatusResponse response;
  const grpc::Status status =
      stub->GetStatus(&context, v1::GetStatusRequest(), &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GetStatus: ", status.error_message()));
  }
  return response;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const BackendModel>> RemoteBackend::Open(
    const std::string& json, std::shared_ptr<const KernelSet> parsed) {
  absl::StatusOr<std::string> path = WriteTempJson(json);
  if (!path.ok()) return path.status();
  AOTIProxyExecutorHandle handle = nullptr;
  const std::string device = parsed->device().str();
  const AOTITorchError created = aoti_remote_executor_create(
      endpoint_.c_str(), path->c_str(), device.c_str(), &handle);
  unlink(path->c_str());  // the executor keeps the JSON it read
  if (created != AOTI_TORCH_SUCCESS) {
    return ShimError("aoti_remote_executor_create");
  }
  absl::StatusOr<std::vector<NodeInfo>> nodes = RegisteredNodes(handle);
  if (!nodes.ok()) {
    aoti_remote_executor_delete(handle);
    return nodes.status();
  }
  return std::make_shared<RemoteModel>(handle, *std::move(nodes),
                                       calls_succeeded_);
}

absl::StatusOr<CallPath> ParseCallPath(absl::string_view text) {
  if (text == "lanes") return CallPath::kLanes;
  if (text == "rpc") return CallPath::kRpcOnly;
  return absl::InvalidArgumentError(
      absl::StrCat("--call_path=", text, ": expected lanes or rpc"));
}

void RemoteEnvironment::SetUp() {
  std::vector<std::string> flags;
  if (path_ == CallPath::kRpcOnly) flags.push_back("--call-lanes=0");
  absl::StatusOr<std::unique_ptr<e2e::DaemonProcess>> daemon =
      e2e::DaemonProcess::Start(flags);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  daemon_ = *std::move(daemon);
  auto backend = std::make_unique<RemoteBackend>(daemon_->endpoint());
  backend_ = backend.get();
  SetBackend(std::move(backend));
}

void RemoteEnvironment::TearDown() {
  if (daemon_ != nullptr && backend_ != nullptr) {
    absl::StatusOr<::aoti::executor::v1::GetStatusResponse> status =
        DaemonStatus(daemon_->endpoint());
    EXPECT_TRUE(status.ok()) << status.status();
    EXPECT_GT(backend_->calls_succeeded(), 0);
    if (status.ok()) {
      EXPECT_EQ(status->calls_succeeded(), backend_->calls_succeeded())
          << "calls aoti-executord ran vs. calls the remote backend made";
      // Otherwise the two variants of a suite could silently become one.
      if (path_ == CallPath::kLanes) {
        EXPECT_GT(status->lane_calls(), 0)
            << "no call took a call lane: the suite ran by RPC only";
      } else {
        EXPECT_EQ(status->lane_calls(), 0)
            << "calls took a call lane with --call-lanes=0";
        EXPECT_EQ(status->call_lanes(), 0);
      }
    }
    std::cout << "[ remote   ] " << backend_->calls_succeeded()
              << " calls ran in aoti-executord at " << daemon_->endpoint()
              << ", "
              << (status.ok() ? absl::StrCat(status->lane_calls())
                              : std::string("?"))
              << " of them over call lanes\n";
  }
  backend_ = nullptr;
  SetBackend(nullptr);
  daemon_.reset();
}

}  // namespace kernel_test
}  // namespace aoti_executor
