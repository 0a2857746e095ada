#include "server/service/node_table.h"

#include <sstream>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "server/common/content_hash.h"
#include "server/common/packed_node_table.h"

namespace aoti_executor {
namespace {

namespace v1 = aoti::executor::v1;

void DescribeNode(const OpKernel& kernel, const std::string& schema,
                  v1::NodeInfo* node) {
  node->set_target(kernel.target());
  node->set_schema(schema);
  node->set_num_input_tensors(kernel.num_input_tensors());
  node->set_num_output_tensors(kernel.num_output_tensors());
  node->set_num_input_ints(kernel.num_input_ints());
  node->set_num_output_ints(kernel.num_output_ints());
  node->set_num_omitted_default_ints(kernel.num_omitted_default_ints());
  for (int index : kernel.mutated_input_tensors()) {
    node->add_mutated_input_tensors(index);
  }
}

// Deterministic, so that equal tables always have equal fingerprints.
std::string Serialize(const v1::PackedNodeTable& message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream output(&bytes);
  google::protobuf::io::CodedOutputStream coded(&output);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

}  // namespace

std::shared_ptr<const NodeTable> DescribeNodeTable(const KernelSet& kernels) {
  // Each op's schema goes with its first node only: a model calls few ops
  // many times, and printing a schema takes microseconds (10,000 nodes
  // printed took 9-28 ms, and 700 KB of the answer).
  PackedNodeTableBuilder builder;
  absl::flat_hash_set<std::string> seen;  // targets
  v1::NodeInfo node;
  for (size_t i = 0; i < kernels.size(); ++i) {
    const OpKernel& kernel = **kernels.Find(static_cast<int64_t>(i));
    std::string schema;
    if (seen.insert(kernel.target()).second) {
      std::ostringstream text;
      text << kernel.schema();
      schema = text.str();
    }
    node.Clear();
    DescribeNode(kernel, schema, &node);
    builder.Add(node);
  }
  auto table = std::make_shared<NodeTable>();
  table->packed = std::move(builder).Finish();
  table->fingerprint = Sha256Hex(Serialize(table->packed));
  return table;
}

}  // namespace aoti_executor
