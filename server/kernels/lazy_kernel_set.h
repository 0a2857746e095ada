// A kernel set that resolves each node on its first call: the worker's copy
// of a set the daemon has already parsed and validated whole.
//
// Resolving 10,000 nodes takes tens of milliseconds; a worker that did it at
// registration would parse every model a second time and keep the client's
// create waiting for it. The daemon sends the text and where each node lies
// in it (KernelSet::node_spans), and a node costs its own parse once, when a
// call first needs it.
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_LAZY_KERNEL_SET_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_LAZY_KERNEL_SET_H_

#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/kernels/node_span.h"
#include "server/kernels/op_kernel.h"

namespace aoti_executor {

class LazyKernelSet {
 public:
  // `json` must stay valid as long as `text_owner` lives; `spans` must lie
  // inside it (the caller checked them).
  LazyKernelSet(std::shared_ptr<const void> text_owner, absl::string_view json,
                std::vector<NodeSpan> spans, c10::Device device);

  // The kernel for `extern_node_index`, resolved on first use; the same
  // errors as KernelSet::Find, and a node that does not resolve fails every
  // call with its message. Thread-safe.
  absl::StatusOr<const OpKernel*> Find(int64_t extern_node_index) const;

  size_t size() const { return spans_.size(); }

 private:
  struct Node {
    mutable absl::once_flag once;
    mutable std::optional<OpKernel> kernel;
    mutable absl::Status error;
  };

  const std::shared_ptr<const void> text_owner_;
  const absl::string_view json_;
  const std::vector<NodeSpan> spans_;
  const c10::Device device_;
  const std::unique_ptr<Node[]> nodes_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_LAZY_KERNEL_SET_H_
