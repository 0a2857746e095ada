#include "client_shim/remote_executor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "client_shim/last_error.h"
#include "client_shim/session/json_file.h"
#include "client_shim/session/registration_memo.h"
#include "server/common/status_macros.h"
#include "server/common/unique_fd.h"
#include "server/kernels/handle_call.h"

namespace aoti_executor {
namespace client {
namespace {

// "extern node 3 (aten::index.Tensor)": how every message names a node.
std::string NodeName(int index, const NodeShape& node) {
  return absl::StrCat("extern node ", index, " (", node.target, ")");
}

absl::Status CheckArrays(int index, int num_ints, const int64_t* ints,
                         int num_tensors, AtenTensorHandle* tensors) {
  if (index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("extern node index ", index, " is negative"));
  }
  return WithContext(
      CheckFlatArrays(num_ints, ints, num_tensors,
                      reinterpret_cast<const void* const*>(tensors)),
      absl::StrCat("extern node ", index));
}

// The node `index` of `nodes`, checked against the call's counts.
absl::StatusOr<NodeShape> CheckNode(const Session::Nodes& nodes,
                                    const std::string& json_path, int index,
                                    int num_ints, int num_tensors) {
  if (static_cast<size_t>(index) >= NodeCount(*nodes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extern node index ", index, " is out of range: ", json_path, " has ",
        NodeCount(*nodes), " extern nodes"));
  }
  const NodeShape node = NodeAt(*nodes, static_cast<size_t>(index));
  const int inputs = node.num_input_tensors;
  const int outputs = node.num_output_tensors;
  if (num_tensors != inputs + outputs) {
    return absl::InvalidArgumentError(absl::StrCat(
        NodeName(index, node), ": expected ", inputs + outputs, " tensors (",
        inputs, " inputs + ", outputs, " outputs), got ", num_tensors));
  }
  const int input_ints = node.num_input_ints;
  const int output_ints = node.num_output_ints;
  const int defaults = node.num_omitted_default_ints;
  // With the defaults: the layout of pytorch#189189, checked by the daemon.
  if (num_ints != input_ints + output_ints &&
      (defaults == 0 || num_ints != input_ints + output_ints + defaults)) {
    return absl::InvalidArgumentError(absl::StrCat(
        NodeName(index, node), ": expected ", input_ints + output_ints,
        " ints (", input_ints, " inputs + ", output_ints, " int outputs",
        defaults == 0
            ? std::string()
            : absl::StrCat("; or ", input_ints + output_ints + defaults,
                           " with the omitted kwarg-only defaults"),
        "), got ", num_ints));
  }
  return node;
}

}  // namespace

RemoteExecutor::RemoteExecutor(ExecutorOptions options, std::string json_path,
                               std::shared_ptr<const SealedJson> json)
    : options_(std::move(options)),
      json_path_(std::move(json_path)),
      json_(std::move(json)),
      fallback_(options_.local_fallback ? std::make_unique<LocalFallback>(
                                              json_->bytes(), options_.device,
                                              options_.endpoint.ToString())
                                        : nullptr),
      reconnector_(
          options_.endpoint.ToString(),
          [this](OpenCanceller* canceller) { return OpenSession(canceller); }) {
}

absl::StatusOr<std::unique_ptr<RemoteExecutor>> RemoteExecutor::Create(
    ExecutorOptions options, const std::string& json_path) {
  // This process's copy if it registered the file's bytes before; else the
  // file, which a daemon that has its content compares in place.
  Session::Json json{RegistrationMemo::Process().FindFile(json_path)};
  std::optional<JsonFile> file;
  if (json.sealed == nullptr) {
    absl::StatusOr<JsonFile> opened = JsonFile::Open(json_path);
    if (!opened.ok()) {
      return WithContext(opened.status(), "reading the extern-kernel JSON");
    }
    file = *std::move(opened);
    json.file = &*file;
  }
  Session::OpenOptions open;
  open.connect_deadline = absl::Now() + options.connect_timeout;
  open.register_deadline = open.connect_deadline + options.call_timeout;
  open.wait_for_ready = true;
  open.call_lane = options.call_lane;
  absl::StatusOr<std::shared_ptr<Session>> session =
      Session::Open(options.endpoint, json, options.device, open);
  if (session.ok()) {
    std::unique_ptr<RemoteExecutor> executor(
        new RemoteExecutor(std::move(options), json_path, (*session)->json()));
    executor->reconnector_.Adopt(*std::move(session));
    return executor;
  }
  const absl::Status error =
      WithContext(session.status(), absl::StrCat("registering ", json_path));
  if (!options.local_fallback ||
      !Reconnector::IsUnreachable(session.status())) {
    return error;
  }
  // The host asked for the local fallback: calls run here until the daemon
  // is reached, if the model's kernels load here.
  if (json.sealed == nullptr) {
    absl::StatusOr<std::shared_ptr<const SealedJson>> copied = file->Copy();
    if (!copied.ok()) {
      return absl::Status(
          error.code(),
          absl::StrCat(error.message(), "; and ", copied.status().message()));
    }
    json.sealed = *std::move(copied);
  }
  std::unique_ptr<RemoteExecutor> executor(
      new RemoteExecutor(std::move(options), json_path, json.sealed));
  LocalFallback* fallback = executor->fallback_.get();
  absl::StatusOr<std::shared_ptr<const KernelSet>> kernels =
      fallback->Kernels();
  if (!kernels.ok()) {
    return absl::Status(error.code(), absl::StrCat(error.message(), "; and ",
                                                   kernels.status().message()));
  }
  fallback->NoteOutage(session.status());
  executor->reconnector_.NoteCreateFailed(session.status());
  return executor;
}

RemoteExecutor::~RemoteExecutor() = default;

size_t RemoteExecutor::num_nodes() const {
  const Session::Nodes cached = reconnector_.nodes();
  if (cached != nullptr) return NodeCount(*cached);
  if (fallback_ != nullptr) {
    const std::shared_ptr<const KernelSet> kernels =
        fallback_->KernelsIfParsed();
    if (kernels != nullptr) return kernels->size();
  }
  return 0;
}

absl::StatusOr<std::shared_ptr<Session>> RemoteExecutor::OpenSession(
    OpenCanceller* canceller) {
  // The budgets of create: a registration slower than a call's deadline
  // still completes, for the calls after it.
  Session::OpenOptions open;
  open.connect_deadline = absl::Now() + options_.connect_timeout;
  open.register_deadline = open.connect_deadline + options_.call_timeout;
  // Fail at once if nothing listens; the backoff spaces the attempts.
  open.wait_for_ready = false;
  open.canceller = canceller;
  open.call_lane = options_.call_lane;
  try {
    return Session::Open(options_.endpoint, Session::Json{json_},
                         options_.device, open);
  } catch (...) {
    return CurrentExceptionStatus();
  }
}

absl::StatusOr<std::shared_ptr<Session>> RemoteExecutor::CurrentSession(
    absl::Time deadline) {
  bool unreachable = false;
  return reconnector_.Acquire(deadline, /*fail_fast=*/false, &unreachable);
}

absl::Status RemoteExecutor::Call(int extern_node_index, int num_ints,
                                  const int64_t* ints, int num_tensors,
                                  AtenTensorHandle* tensors) {
  absl::Status status;
  try {
    status = CallOnce(extern_node_index, num_ints, ints, num_tensors, tensors);
  } catch (...) {
    status = CurrentExceptionStatus();
  }
  if (!status.ok()) NoteFailedCall(id_, status);
  return status;
}

absl::Status RemoteExecutor::CallOnce(int extern_node_index, int num_ints,
                                      const int64_t* ints, int num_tensors,
                                      AtenTensorHandle* tensors) {
  const absl::Time deadline = absl::Now() + options_.call_timeout;
  AOTI_RETURN_IF_ERROR(
      CheckArrays(extern_node_index, num_ints, ints, num_tensors, tensors));
  const Session::Nodes cached = reconnector_.nodes();
  std::string name = absl::StrCat("extern node ", extern_node_index);
  if (cached != nullptr) {
    AOTI_ASSIGN_OR_RETURN(const NodeShape node,
                          CheckNode(cached, json_path_, extern_node_index,
                                    num_ints, num_tensors));
    name = NodeName(extern_node_index, node);
  }
  auto* handles = reinterpret_cast<at::Tensor* const*>(tensors);

  bool unreachable = false;
  absl::StatusOr<std::shared_ptr<Session>> session = reconnector_.Acquire(
      deadline, /*fail_fast=*/fallback_ != nullptr, &unreachable);
  if (!session.ok()) {
    if (fallback_ == nullptr || !unreachable) {
      return WithContext(session.status(), name);
    }
    // Nothing reached the daemon: run the call here.
    absl::Status status = fallback_->Call(session.status(), extern_node_index,
                                          num_ints, ints, num_tensors, handles);
    if (status.ok()) return status;
    const std::shared_ptr<const KernelSet> kernels =
        fallback_->KernelsIfParsed();
    if (cached == nullptr && kernels != nullptr) {
      absl::StatusOr<const OpKernel*> kernel = kernels->Find(extern_node_index);
      if (kernel.ok()) {
        name = absl::StrCat(name, " (", (*kernel)->target(), ")");
      }
    }
    return WithContext(status, absl::StrCat(name, ", run in-process"));
  }
  if (fallback_ != nullptr) fallback_->NoteReconnected();
  // A new session may come from a different daemon build: check again.
  AOTI_ASSIGN_OR_RETURN(const NodeShape node,
                        CheckNode((*session)->nodes(), json_path_,
                                  extern_node_index, num_ints, num_tensors));
  name = NodeName(extern_node_index, node);
  absl::Status status = (*session)->Call(
      extern_node_index, node, absl::MakeConstSpan(ints, num_ints),
      absl::MakeConstSpan(handles, num_tensors), deadline);
  if (MayHaveRunUnseen(status)) reconnector_.Retire(*session);
  return WithContext(status, name);
}

bool RemoteExecutor::MayHaveRunUnseen(const absl::Status& status) {
  return absl::IsDeadlineExceeded(status) || absl::IsUnavailable(status) ||
         absl::IsCancelled(status);
}

void RemoteExecutor::call_function(int extern_node_index, int num_ints,
                                   int64_t* flatten_int_args, int num_tensors,
                                   AtenTensorHandle* flatten_tensor_args) {
  const absl::Status status =
      Call(extern_node_index, num_ints, flatten_int_args, num_tensors,
           flatten_tensor_args);
  if (!status.ok()) {
    SetLastError(status);
    throw std::runtime_error(FormatStatus(status));
  }
}

}  // namespace client
}  // namespace aoti_executor
