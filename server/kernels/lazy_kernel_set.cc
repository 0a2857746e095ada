#include "server/kernels/lazy_kernel_set.h"

#include <utility>

#include "server/common/status_macros.h"
#include "server/kernels/kernel_set.h"

namespace aoti_executor {

LazyKernelSet::LazyKernelSet(std::shared_ptr<const void> text_owner,
                             absl::string_view json,
                             std::vector<NodeSpan> spans, c10::Device device)
    : text_owner_(std::move(text_owner)),
      json_(json),
      spans_(std::move(spans)),
      device_(device),
      nodes_(std::make_unique<Node[]>(spans_.size())) {}

absl::StatusOr<const OpKernel*> LazyKernelSet::Find(
    int64_t extern_node_index) const {
  AOTI_RETURN_IF_ERROR(CheckNodeIndex(extern_node_index, spans_.size()));
  const Node& node = nodes_[extern_node_index];
  absl::call_once(node.once, [&] {
    const NodeSpan& span = spans_[extern_node_index];
    auto kernel =
        KernelSet::ParseNode(json_.substr(span.offset, span.size),
                             static_cast<int>(extern_node_index), device_);
    if (kernel.ok()) {
      node.kernel.emplace(*std::move(kernel));
    } else {
      node.error = kernel.status();
    }
  });
  if (!node.kernel.has_value()) return node.error;
  return &*node.kernel;
}

}  // namespace aoti_executor
