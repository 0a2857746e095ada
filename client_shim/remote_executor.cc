#include "client_shim/remote_executor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

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
  const int defaults = node.num_omitted_default_ints();
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

RemoteExecutor::RemoteExecutor(ExecutorOptions options, std::string json_path,
                               std::string json)
    : options_(std::move(options)),
      json_path_(std::move(json_path)),
      json_(std::move(json)),
      fallback_(options_.local_fallback
                    ? std::make_unique<LocalFallback>(
                          json_, options_.device, options_.endpoint.ToString())
                    : nullptr) {}

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
  open.call_lane = executor->options_.call_lane;
  absl::StatusOr<std::shared_ptr<Session>> session =
      Session::Open(executor->options_.endpoint, executor->json_,
                    executor->options_.device, open);
  if (!session.ok()) {
    const absl::Status error =
        WithContext(session.status(), absl::StrCat("registering ", json_path));
    LocalFallback* fallback = executor->fallback_.get();
    if (fallback == nullptr || !IsUnreachable(session.status())) return error;
    // The host asked for the local fallback: calls run here until the daemon
    // is reached, if the model's kernels load here.
    absl::StatusOr<std::shared_ptr<const KernelSet>> kernels =
        fallback->Kernels();
    if (!kernels.ok()) {
      return absl::Status(
          error.code(),
          absl::StrCat(error.message(), "; and ", kernels.status().message()));
    }
    fallback->NoteOutage(session.status());
    absl::MutexLock lock(&executor->mu_);
    // The first call asks for the next attempt.
    executor->backoff_.Failed(session.status(), absl::Now());
    return executor;
  }
  absl::MutexLock lock(&executor->mu_);
  executor->nodes_ = (*session)->nodes();
  executor->session_ = *std::move(session);
  return executor;
}

RemoteExecutor::~RemoteExecutor() {
  std::shared_ptr<OpenCanceller> canceller;
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    canceller = canceller_;
    thread = std::move(reconnect_thread_);
  }
  if (canceller != nullptr) canceller->Cancel();
  if (thread.joinable()) thread.join();
}

size_t RemoteExecutor::num_nodes() const {
  const Session::Nodes cached = nodes();
  if (cached != nullptr) return cached->size();
  if (fallback_ != nullptr) {
    const std::shared_ptr<const KernelSet> kernels =
        fallback_->KernelsIfParsed();
    if (kernels != nullptr) return kernels->size();
  }
  return 0;
}

Session::Nodes RemoteExecutor::nodes() const {
  absl::MutexLock lock(&mu_);
  return nodes_;
}

bool RemoteExecutor::IsUnreachable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
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
    return Session::Open(options_.endpoint, json_, options_.device, open);
  } catch (...) {
    return CurrentExceptionStatus();
  }
}

absl::Status RemoteExecutor::StartReconnectingLocked() {
  if (reconnecting_ || stopping_) return absl::OkStatus();
  // A thread that stopped running (reconnecting_ is false) has let go of
  // mu_ for good: joining it here is immediate.
  if (reconnect_thread_.joinable()) reconnect_thread_.join();
  try {
    reconnect_thread_ = std::thread([this] { ReconnectLoop(); });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start a thread to reconnect to aoti-executord at ",
                     options_.endpoint.ToString(), ": ", e.what()));
  }
  reconnecting_ = true;
  return absl::OkStatus();
}

void RemoteExecutor::ReconnectLoop() {
  absl::MutexLock lock(&mu_);
  // Attempts only while calls want a session: an idle executor neither
  // connects nor lets its backoff grow; the next call starts this again.
  while (!stopping_ && session_ == nullptr && wanted_) {
    const absl::Time window_end = backoff_.next_attempt();
    if (absl::Now() < window_end) {
      mu_.AwaitWithDeadline(absl::Condition(&stopping_), window_end);
      continue;
    }
    wanted_ = false;
    auto canceller = std::make_shared<OpenCanceller>();
    canceller_ = canceller;
    connecting_ = true;
    mu_.Unlock();  // never held across a connect; OpenSession never throws
    absl::StatusOr<std::shared_ptr<Session>> session =
        OpenSession(canceller.get());
    mu_.Lock();
    connecting_ = false;
    canceller_.reset();
    ++attempts_;
    if (session.ok()) {
      backoff_.Succeeded();
      nodes_ = (*session)->nodes();
      session_ = *std::move(session);
    } else {
      backoff_.Failed(session.status(), absl::Now());
    }
  }
  reconnecting_ = false;
}

absl::StatusOr<std::shared_ptr<Session>> RemoteExecutor::CurrentSession(
    absl::Time deadline) {
  bool unreachable = false;
  return AcquireSession(deadline, /*fail_fast=*/false, &unreachable);
}

absl::StatusOr<std::shared_ptr<Session>> RemoteExecutor::AcquireSession(
    absl::Time deadline, bool fail_fast, bool* unreachable) {
  *unreachable = false;
  absl::MutexLock lock(&mu_);
  if (session_ != nullptr) {
    if (session_->Alive()) return session_;
    // The daemon went away (or restarted): the old session is over. Calls
    // still in flight on it hold it until they fail.
    session_.reset();
  }
  // The attempt under way answers this call too; otherwise ask for one.
  if (!connecting_) wanted_ = true;
  AOTI_RETURN_IF_ERROR(StartReconnectingLocked());
  const std::string endpoint = options_.endpoint.ToString();
  const absl::Time window_end = backoff_.next_attempt();
  const absl::Time now = absl::Now();
  const bool failed_before = backoff_.failures() > 0;
  // An attempt since the session ended found nobody to talk to: with the
  // fallback on, the call runs in-process at once. (The first attempt after
  // a session ended is waited for, as by any call: the daemon may well be
  // there, and a retried call of an op that hung there must not run here.)
  if (fail_fast && failed_before && IsUnreachable(backoff_.last_error())) {
    *unreachable = true;
    if (connecting_ || now >= window_end) {
      return absl::UnavailableError(
          absl::StrCat("aoti-executord at ", endpoint,
                       " is unreachable; reconnecting (last attempt: ",
                       backoff_.last_error().message(), ")"));
    }
    return backoff_.WindowError(endpoint, now);
  }
  // The window ends after this call's deadline: fail at once.
  if (failed_before && !connecting_ && deadline <= window_end) {
    *unreachable = IsUnreachable(backoff_.last_error());
    return backoff_.WindowError(endpoint, now);
  }
  // Wait for the attempt under way, or the one due when the window ends.
  const uint64_t target = attempts_ + 1;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return session_ != nullptr || attempts_ >= target || stopping_;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&done), deadline)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "aoti-executord at ", endpoint,
        ": the session ended, and reconnecting (in the background) had not "
        "succeeded when this call's deadline passed",
        backoff_.failures() == 0
            ? std::string()
            : absl::StrCat(" (last attempt: ", backoff_.last_error().message(),
                           ")")));
  }
  if (session_ != nullptr) return session_;
  *unreachable = IsUnreachable(backoff_.last_error());
  return WithContext(backoff_.last_error(), "the session ended; reconnecting");
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
  const Session::Nodes cached = nodes();
  std::string name = absl::StrCat("extern node ", extern_node_index);
  if (cached != nullptr) {
    AOTI_RETURN_IF_ERROR(
        CheckNode(cached, json_path_, extern_node_index, num_ints, num_tensors)
            .status());
    name = NodeName(extern_node_index, (*cached)[extern_node_index]);
  }
  auto* handles = reinterpret_cast<at::Tensor* const*>(tensors);

  bool unreachable = false;
  absl::StatusOr<std::shared_ptr<Session>> session = AcquireSession(
      deadline, /*fail_fast=*/fallback_ != nullptr, &unreachable);
  if (!session.ok()) {
    if (fallback_ == nullptr || !unreachable) {
      return WithContext(session.status(), name);
    }
    // Nothing reached the daemon: run the call here.
    const absl::Status status =
        fallback_->Call(session.status(), extern_node_index, num_ints, ints,
                        num_tensors, handles);
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
  AOTI_ASSIGN_OR_RETURN(const v1::NodeInfo* node,
                        CheckNode((*session)->nodes(), json_path_,
                                  extern_node_index, num_ints, num_tensors));
  name = NodeName(extern_node_index, *node);
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
  if (session_ != session) return;
  session_.reset();
  // Reconnect now, for the calls to come. Best effort: the next call starts
  // the thread if this cannot.
  wanted_ = true;
  (void)StartReconnectingLocked();
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
