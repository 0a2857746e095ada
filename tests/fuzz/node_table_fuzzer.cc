// Fuzzes the shim's reading of the node table a daemon answers
// (RegisterKernelSetResponse): a packed table is checked before anything
// indexes into it, and a daemon that predates packed tables has its NodeInfo
// list packed.
//
// Input: a serialized RegisterKernelSetResponse. Checked: whatever
// CheckPackedNodeTable accepts, NodeAt reads every node (ASan checks each
// index); whatever NodeInfo list arrives, PackNodes makes a table
// CheckPackedNodeTable accepts, and unpacking it gives the list back.
#include <cstddef>
#include <cstdint>

#include "proto/executor.pb.h"
#include "server/common/packed_node_table.h"
#include "tests/fuzz/fuzz_util.h"

namespace aoti_executor {
namespace fuzz {
namespace {

namespace v1 = aoti::executor::v1;

void ReadEveryNode(const v1::PackedNodeTable& table) {
  for (size_t i = 0; i < NodeCount(table); ++i) {
    const NodeShape node = NodeAt(table, i);
    FUZZ_CHECK(node.num_input_tensors >= 0 && node.num_output_ints >= 0);
    FUZZ_CHECK(node.target.data() != nullptr);
  }
}

}  // namespace
}  // namespace fuzz
}  // namespace aoti_executor

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aoti_executor;
  using namespace aoti_executor::fuzz;
  v1::RegisterKernelSetResponse response;
  if (!response.ParseFromArray(data, static_cast<int>(size))) return 0;

  if (CheckPackedNodeTable(response.packed_nodes()).ok()) {
    ReadEveryNode(response.packed_nodes());
  }

  const v1::PackedNodeTable packed = PackNodes(response.nodes());
  FUZZ_CHECK(CheckPackedNodeTable(packed).ok());
  FUZZ_CHECK(NodeCount(packed) == static_cast<size_t>(response.nodes_size()));
  ReadEveryNode(packed);
  google::protobuf::RepeatedPtrField<v1::NodeInfo> unpacked;
  UnpackNodes(packed, &unpacked);
  FUZZ_CHECK(unpacked.size() == response.nodes_size());
  for (int i = 0; i < unpacked.size(); ++i) {
    const v1::NodeInfo& in = response.nodes(i);
    const v1::NodeInfo& out = unpacked[i];
    FUZZ_CHECK(out.target() == in.target());
    FUZZ_CHECK(out.num_input_tensors() == in.num_input_tensors());
    FUZZ_CHECK(out.num_output_ints() == in.num_output_ints());
    FUZZ_CHECK(out.mutated_input_tensors_size() ==
               in.mutated_input_tensors_size());
  }
  return 0;
}
