// Where one extern node lies in the text of its kernel set's JSON.
//
// The daemon records these as it parses a set, so that a worker can resolve
// each node from its own bytes on first use instead of parsing the whole set
// again (LazyKernelSet).
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_NODE_SPAN_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_NODE_SPAN_H_

#include <cstdint>

namespace aoti_executor {

struct NodeSpan {
  uint64_t offset = 0;  // of the node object's '{'
  uint64_t size = 0;    // through its '}'
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_NODE_SPAN_H_
