// How the nodes of a kernel set map onto call_function's flat arrays, as
// RegisterKernelSet answers it: described once per content, with a
// fingerprint that lets a client which already has the table skip it.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_NODE_TABLE_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_NODE_TABLE_H_

#include <memory>
#include <string>

#include "proto/executor.pb.h"
#include "server/kernels/kernel_set.h"

namespace aoti_executor {

struct NodeTable {
  aoti::executor::v1::PackedNodeTable packed;
  // Hex SHA-256 of `packed` as serialized. Not the content hash: one JSON
  // is described differently by daemons with other op libraries.
  std::string fingerprint;
};

std::shared_ptr<const NodeTable> DescribeNodeTable(const KernelSet& kernels);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_NODE_TABLE_H_
