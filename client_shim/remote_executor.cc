#include "client_shim/remote_executor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "client_shim/last_error.h"
#include "server/common/status_macros.h"

namespace aoti_executor {
namespace client {
namespace {

// "extern node 3 (aten::index.Tensor)": how every message names a node.
std::string NodeName(int index, const v1::NodeInfo& node) {
  return absl::StrCat("extern node ", index, " (", node.target(), ")");
}

absl::Status CheckArrays(int index, int num_ints, const int64_t* ints,
                         int num_tensors, AtenTensorHandle* tensors) {
  if (index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("extern node index ", index, " is negative"));
  }
  if (num_ints < 0 || num_tensors < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extern node ", index, ": negative count (num_ints=", num_ints,
        ", num_tensors=", num_tensors, ")"));
  }
  if (num_ints > 0 && ints == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("extern node ", index,
                     ": flatten_int_args is NULL, num_ints=", num_ints));
  }
  if (num_tensors > 0 && tensors == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extern node ", index,
        ": flatten_tensor_args is NULL, num_tensors=", num_tensors));
  }
  for (int i = 0; i < num_tensors; ++i) {
    if (tensors[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "extern node ", index, ": tensor handle ", i, " is NULL"));
    }
  }
  return absl::OkStatus();
}

// The node `index` of `nodes`, checked against the call's counts.
absl::StatusOr<const v1::NodeInfo*> CheckNode(const Session::Nodes& nodes,
                                              const std::string& json_path,
                                              int index, int num_ints,
                                              int num_tensors) {
  if (static_cast<size_t>(index) >= nodes->size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extern node index ", index, " is out of range: ", json_path, " has ",
        nodes->size(), " extern nodes"));
  }
  const v1::NodeInfo& node = (*nodes)[index];
  const int inputs = node.num_input_tensors();
  const int outputs = node.num_output_tensors();
  if (num_tensors != inputs + outputs) {
    return absl::InvalidArgumentError(absl::StrCat(
        NodeName(index, node), ": expected ", inputs + outputs, " tensors (",
        inputs, " inputs + ", outputs, " outputs), got ", num_tensors));
  }
  const int input_ints = node.num_input_ints();
  const int output_ints = node.num_output_ints();
  if (num_ints != input_ints + output_ints) {
    return absl::InvalidArgumentError(absl::StrCat(
        NodeName(index, node), ": expected ", input_ints + output_ints,
        " ints (", input_ints, " inputs + ", output_ints, " int outputs), got ",
        num_ints));
  }
  return &node;
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open \"", path, "\""));
  }
  std::string bytes;
  struct stat info {};
  if (fstat(fd, &info) == 0) {
    if (S_ISDIR(info.st_mode)) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat("\"", path, "\" is a directory"));
    }
    if (S_ISREG(info.st_mode)) bytes.reserve(static_cast<size_t>(info.st_size));
  }
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return absl::ErrnoToStatus(error,
                                 absl::StrCat("cannot read \"", path, "\""));
    }
    bytes.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return bytes;
}

absl::StatusOr<std::unique_ptr<RemoteExecutor>> RemoteExecutor::Create(
    ExecutorOptions options, const std::string& json_path) {
  absl::StatusOr<std::string> json = ReadFile(json_path);
  if (!json.ok()) {
    return WithContext(json.status(), "reading the extern-kernel JSON");
  }
  std::unique_ptr<RemoteExecutor> executor(
      new RemoteExecutor(std::move(options), json_path, *std::move(json)));
  const absl::Time now = absl::Now();
  Session::OpenOptions open;
  open.connect_deadline = now + executor->options_.connect_timeout;
  open.register_deadline =
      open.connect_deadline + executor->options_.call_timeout;
  open.wait_for_ready = true;
  absl::StatusOr<std::shared_ptr<Session>> session =
      Session::Open(executor->options_.endpoint, executor->json_,
                    executor->options_.device, open);
  if (!session.ok()) {
    return WithContext(session.status(),
                       absl::StrCat("registering ", json_path));
  }
  absl::MutexLock lock(&executor->mu_);
  executor->nodes_ = (*session)->nodes();
  executor->session_ = *std::move(session);
  return executor;
}

RemoteExecutor::~RemoteExecutor() = default;

size_t RemoteExecutor::num_nodes() const { return nodes()->size(); }

Session::Nodes RemoteExecutor::nodes() const {
  absl::MutexLock lock(&mu_);
  return nodes_;
}

absl::StatusOr<std::shared_ptr<Session>> RemoteExecutor::CurrentSession(
    absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (session_ != nullptr && session_->Alive()) return session_;
  // The daemon went away (or restarted): the old session is over. Calls
  // still in flight on it hold it until they fail.
  session_.reset();
  Session::OpenOptions open;
  open.connect_deadline =
      std::min(deadline, absl::Now() + options_.connect_timeout);
  open.register_deadline = deadline;
  // Fail at once if nothing listens, rather than spend the call's deadline.
  open.wait_for_ready = false;
  absl::StatusOr<std::shared_ptr<Session>> session =
      Session::Open(options_.endpoint, json_, options_.device, open);
  if (!session.ok()) {
    return WithContext(session.status(), "the session ended; reconnecting");
  }
  nodes_ = (*session)->nodes();
  session_ = *session;
  return *std::move(session);
}

absl::Status RemoteExecutor::Call(int extern_node_index, int num_ints,
                                  const int64_t* ints, int num_tensors,
                                  AtenTensorHandle* tensors) {
  const absl::Time deadline = absl::Now() + options_.call_timeout;
  AOTI_RETURN_IF_ERROR(
      CheckArrays(extern_node_index, num_ints, ints, num_tensors, tensors));
  const Session::Nodes cached = nodes();
  AOTI_RETURN_IF_ERROR(
      CheckNode(cached, json_path_, extern_node_index, num_ints, num_tensors)
          .status());
  const std::string name =
      NodeName(extern_node_index, (*cached)[extern_node_index]);

  absl::StatusOr<std::shared_ptr<Session>> session = CurrentSession(deadline);
  if (!session.ok()) return WithContext(session.status(), name);
  // A new session may come from a different daemon build: check again.
  AOTI_ASSIGN_OR_RETURN(const v1::NodeInfo* node,
                        CheckNode((*session)->nodes(), json_path_,
                                  extern_node_index, num_ints, num_tensors));
  auto* handles = reinterpret_cast<at::Tensor* const*>(tensors);
  absl::Status status = (*session)->Call(
      extern_node_index, *node, absl::MakeConstSpan(ints, num_ints),
      absl::MakeConstSpan(handles, num_tensors), deadline);
  if (MayHaveRunUnseen(status)) Retire(*session);
  return WithContext(status, name);
}

bool RemoteExecutor::MayHaveRunUnseen(const absl::Status& status) {
  return absl::IsDeadlineExceeded(status) || absl::IsUnavailable(status) ||
         absl::IsCancelled(status);
}

void RemoteExecutor::Retire(const std::shared_ptr<Session>& session) {
  absl::MutexLock lock(&mu_);
  if (session_ == session) session_.reset();
}

#if AOTI_REMOTE_HAS_PROXY_EXECUTOR
void RemoteExecutor::call_function(int extern_node_index, int num_ints,
                                   int64_t* flatten_int_args, int num_tensors,
                                   AtenTensorHandle* flatten_tensor_args) {
  absl::Status status;
  try {
    status = Call(extern_node_index, num_ints, flatten_int_args, num_tensors,
                  flatten_tensor_args);
  } catch (...) {
    status = CurrentExceptionStatus();
  }
  if (!status.ok()) {
    SetLastError(status);
    throw std::runtime_error(FormatStatus(status));
  }
}
#endif

}  // namespace client
}  // namespace aoti_executor
