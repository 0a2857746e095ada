#include "client_shim/local_fallback.h"

#include <c10/core/Device.h>
#include <c10/util/Exception.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client_shim/options.h"
#include "server/common/status_macros.h"
#include "server/kernels/device.h"
#include "server/kernels/handle_call.h"

namespace aoti_executor {
namespace client {
namespace {

absl::StatusOr<KernelSet> Parse(absl::string_view json,
                                const std::string& device) {
  AOTI_ASSIGN_OR_RETURN(c10::Device parsed, ParseDevice(device));
  return KernelSet::Parse(json, parsed);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const KernelSet>> LocalFallback::Kernels() {
  absl::MutexLock lock(&mu_);
  if (!parsed_) {
    absl::StatusOr<KernelSet> kernels = Parse(json_, device_);
    if (kernels.ok()) {
      kernels_ = std::make_shared<const KernelSet>(*std::move(kernels));
    } else {
      kernels_ = absl::Status(
          kernels.status().code(),
          absl::StrCat("the local fallback cannot load the model's kernels "
                       "in this process (a custom op needs its library "
                       "loaded in the host): ",
                       kernels.status().message()));
    }
    parsed_ = true;
  }
  return kernels_;
}

std::shared_ptr<const KernelSet> LocalFallback::KernelsIfParsed() {
  absl::MutexLock lock(&mu_);
  return parsed_ && kernels_.ok() ? *kernels_ : nullptr;
}

absl::Status LocalFallback::Call(const absl::Status& why, int extern_node_index,
                                 int num_ints, const int64_t* ints,
                                 int num_tensors, at::Tensor* const* tensors) {
  absl::StatusOr<std::shared_ptr<const KernelSet>> kernels = Kernels();
  if (!kernels.ok()) {
    // Neither way works: say both.
    return absl::Status(why.code(), absl::StrCat(why.message(), "; and ",
                                                 kernels.status().message()));
  }
  NoteOutage(why);
  return CallWithHandles(**kernels, extern_node_index, num_ints, ints,
                         num_tensors, tensors);
}

void LocalFallback::NoteOutage(const absl::Status& why) {
  if (in_outage_.exchange(true)) return;
  std::fprintf(stderr,
               "aoti_remote: aoti-executord at %s is unreachable (%s); "
               "running extern-kernel calls in this process "
               "($%s=1) until it is back\n",
               endpoint_.c_str(), std::string(why.message()).c_str(),
               kLocalFallbackEnvVar);
}

void LocalFallback::NoteReconnected() {
  // Every remote call comes here: read before writing the shared flag.
  if (!in_outage_.load(std::memory_order_relaxed)) return;
  if (!in_outage_.exchange(false)) return;
  std::fprintf(stderr,
               "aoti_remote: aoti-executord at %s is back; extern-kernel "
               "calls run there again\n",
               endpoint_.c_str());
}

}  // namespace client
}  // namespace aoti_executor
