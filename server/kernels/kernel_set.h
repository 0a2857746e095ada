// The op kernels of one model: its `<key>.wrapper.json`, parsed and resolved.
//
// Every node is resolved eagerly, so a model whose ops cannot all run fails
// at load with a message naming the node, not at its first call.
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_KERNEL_SET_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_KERNEL_SET_H_

#include <c10/core/Device.h>

#include <cstdint>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/kernels/node_span.h"
#include "server/kernels/op_kernel.h"

namespace aoti_executor {

// InvalidArgument, naming both, unless 0 <= extern_node_index < size.
absl::Status CheckNodeIndex(int64_t extern_node_index, size_t size);

class KernelSet {
 public:
  // Parses the text of an extern-kernel JSON ({"nodes": [...]}). `device` is
  // the runtime device ("cpu", "cuda:1"); see ArgumentBinder::BindDevice.
  // Cancelled, promptly, once `stop` is requested: the daemon stops parsing
  // a set it finds it has while the parse runs.
  static absl::StatusOr<KernelSet> Parse(absl::string_view json,
                                         c10::Device device,
                                         std::stop_token stop = {});
  // Reads and parses the file at `path`.
  static absl::StatusOr<KernelSet> Load(const std::string& path,
                                        c10::Device device);

  // The kernel for `extern_node_index`; InvalidArgument for an index that is
  // negative or not below size().
  absl::StatusOr<const OpKernel*> Find(int64_t extern_node_index) const;

  size_t size() const { return kernels_.size(); }
  // Where each node lies in the parsed text, indexed like Find.
  const std::vector<NodeSpan>& node_spans() const { return node_spans_; }

  // Resolves one node from its own text (a NodeSpan of a set that parsed):
  // what LazyKernelSet does on a node's first call.
  static absl::StatusOr<OpKernel> ParseNode(absl::string_view node_json,
                                            int node_index, c10::Device device);
  c10::Device device() const { return device_; }

 private:
  explicit KernelSet(c10::Device device) : device_(device) {}

  c10::Device device_;
  std::vector<OpKernel> kernels_;  // indexed by extern_node_index
  std::vector<NodeSpan> node_spans_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_KERNEL_SET_H_
