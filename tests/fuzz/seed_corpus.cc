// Writes the seed corpus of every fuzz target into <out>/<target>/: the
// real PyTorch-generated kernel-set fixtures, and for the binary formats
// well-formed inputs built from them (the mlp fixture registered, its calls
// run, regions and lanes opened), encoded as each target reads its input.
// Built from the protos of this tree, so the seeds never go stale.
//
// Usage: seed_corpus OUT_DIR
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/executor.pb.h"
#include "proto/worker.pb.h"
#include "server/common/packed_node_table.h"
#include "server/framing/attach_frame.h"
#include "server/kernels/kernel_set.h"
#include "server/lane/call_lane.h"
#include "server/lane/futex.h"
#include "server/lane/spin_budget.h"
#include "server/service/node_table.h"
#include "server/shm/shared_region.h"
#include "server/workers/call_watch.h"
#include "server/workers/kernel_set_image.h"
#include "tests/fuzz/fuzz_runfiles.h"
#include "tests/fuzz/fuzz_util.h"

namespace aoti_executor {
namespace fuzz {
namespace {

namespace v1 = aoti::executor::v1;
namespace wv1 = aoti::executor::worker::v1;

const char* g_argv0 = nullptr;

// The fixtures, as found in the runfiles.
const std::vector<std::string> kFixtures = {
    "client_shim/examples/demo.wrapper.json",
    "tests/fixtures/aten_ops.json",
    "tests/fixtures/custom_ops.json",
    "tests/fixtures/misbehaving_ops.json",
    "tests/fixtures/pytorch-2.13/all_inputs.json",
    "tests/fixtures/pytorch-2.13/crashing.json",
    "tests/fixtures/pytorch-2.13/custom_ops.json",
    "tests/fixtures/pytorch-2.13/dynamic.json",
    "tests/fixtures/pytorch-2.13/extern_stack.json",
    "tests/fixtures/pytorch-2.13/mlp.json",
    "tests/fixtures/pytorch-2.13/throwing.json",
};

constexpr uint64_t kRegionId = 5;
constexpr uint64_t kRegionBytes = 4096;
constexpr int32_t kFloat = 7;  // serialized torch.float32

class Seeds {
 public:
  Seeds(const std::string& out, const std::string& target)
      : dir_(out + "/" + target) {
    mkdir(dir_.c_str(), 0755);
  }
  void Add(const std::string& bytes) {
    std::ofstream(absl::StrCat(dir_, "/seed-", count_++), std::ios::binary)
        << bytes;
  }

 private:
  std::string dir_;
  int count_ = 0;
};

// Bytes of a little-endian integer.
template <typename T>
std::string Le(T value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof(value));
}

std::string Chunk(const std::string& bytes) {
  return Le<uint16_t>(static_cast<uint16_t>(bytes.size())) + bytes;
}

// A float tensor of `n` elements at the start of region kRegionId.
v1::TensorRef FloatRef(int64_t n) {
  v1::TensorRef ref;
  ref.set_region_id(kRegionId);
  ref.set_byte_size(static_cast<uint64_t>(n) * 4);
  ref.set_dtype(kFloat);
  ref.add_sizes(n);
  ref.add_strides(1);
  ref.set_device("cpu");
  return ref;
}

// Calls of every node of `set` as a client makes them: one int, each input
// a float tensor in region kRegionId.
std::vector<v1::CallRequest> CallsOf(const KernelSet& set, uint64_t set_id) {
  std::vector<v1::CallRequest> calls;
  for (size_t i = 0; i < set.size(); ++i) {
    const OpKernel& kernel = **set.Find(static_cast<int64_t>(i));
    v1::CallRequest call;
    call.set_kernel_set_id(set_id);
    call.set_node_index(static_cast<int64_t>(i));
    for (int n = 0; n < kernel.num_input_ints(); ++n) call.add_ints(2);
    for (int n = 0; n < kernel.num_input_tensors(); ++n) {
      *call.add_inputs() = FloatRef(4);
    }
    calls.push_back(call);
  }
  return calls;
}

void KernelSetJson(const std::string& out) {
  Seeds seeds(out, "kernel_set_json_fuzzer");
  for (const std::string& fixture : kFixtures) {
    seeds.Add(ReadRunfile(g_argv0, fixture));
  }
}

void TensorRefs(const std::string& out) {
  Seeds seeds(out, "tensor_ref_fuzzer");
  auto add = [&seeds](const v1::TensorRef& ref, uint8_t flags) {
    seeds.Add(Le<uint16_t>(kRegionBytes - 1) + Le<uint8_t>(flags) +
              ref.SerializeAsString());
  };
  v1::TensorRef matrix = FloatRef(16);
  matrix.clear_sizes();
  matrix.clear_strides();
  for (int64_t v : {4, 4}) matrix.add_sizes(v);
  for (int64_t v : {1, 4}) matrix.add_strides(v);  // transposed
  matrix.set_offset(64);
  matrix.set_storage_offset(2);
  matrix.set_byte_size(128);
  for (uint8_t flags : {0, 1, 2}) {
    add(FloatRef(16), flags);
    add(matrix, flags);
  }
  v1::TensorRef broadcast = FloatRef(1 << 20);
  broadcast.set_strides(0, 0);
  broadcast.set_byte_size(4);
  add(broadcast, 0);
  v1::TensorRef empty = FloatRef(0);
  empty.add_sizes(3);
  empty.add_strides(0);
  add(empty, 1);
  v1::TensorRef scalar = FloatRef(1);
  scalar.clear_sizes();
  scalar.clear_strides();
  scalar.set_dtype(5);  // int64
  scalar.set_byte_size(8);
  add(scalar, 0);
}

std::string FrameBytes(AttachFrameType type, uint64_t id, uint64_t size) {
  AttachFrame frame;
  frame.type = type;
  frame.id = id;
  frame.size = size;
  std::memcpy(frame.secret, "0123456789abcdef0123456789abcdef",
              AttachFrame::kSecretLength);
  return std::string(reinterpret_cast<const char*>(&frame), sizeof(frame));
}

void AttachFrames(const std::string& out) {
  Seeds seeds(out, "attach_frame_fuzzer");
  // A packet: kind (its fds), length, bytes.
  auto packet = [](uint8_t kind, const std::string& bytes) {
    return Le<uint8_t>(kind) + Le<uint8_t>(static_cast<uint8_t>(bytes.size())) +
           bytes;
  };
  const std::string welcome =
      packet(0, FrameBytes(AttachFrameType::kWelcome, 0, 0));
  const std::string output =
      packet(1, FrameBytes(AttachFrameType::kOutputRegion, 11, 8192));
  const std::string lane =
      packet(3, FrameBytes(AttachFrameType::kCallLane, 1, CallLane::kBytes));
  seeds.Add(Le<uint64_t>(1) + welcome + lane);
  seeds.Add(Le<uint64_t>(1) + welcome + output + output + lane);
  seeds.Add(Le<uint64_t>(2) + welcome + lane + output);
  seeds.Add(Le<uint64_t>(1) + welcome +
            packet(5, FrameBytes(AttachFrameType::kCallLane, 1, 0)));
}

void WorkerMessages(const std::string& out, const KernelSet& mlp,
                    const KernelSetImage& image) {
  Seeds seeds(out, "worker_message_fuzzer");
  // A record: kind (1: the fd the message asks for), then the message.
  auto record = [](uint8_t kind, const wv1::ToWorker& message) {
    return Le<uint8_t>(kind) + Chunk(message.SerializeAsString());
  };
  wv1::ToWorker registration;
  *registration.mutable_register_kernel_set() = image.Describe(1);
  wv1::ToWorker map;
  map.mutable_map_region()->set_region_id(kRegionId);
  map.mutable_map_region()->set_byte_size(kRegionBytes);
  const std::string setup = record(1, registration) + record(1, map);
  uint64_t call_id = 1;
  std::string all_calls = setup;
  for (const v1::CallRequest& request : CallsOf(mlp, 1)) {
    wv1::ToWorker run;
    run.mutable_run_call()->set_call_id(call_id++);
    *run.mutable_run_call()->mutable_request() = request;
    seeds.Add(setup + record(0, run));
    all_calls += record(0, run);
  }
  seeds.Add(all_calls);

  wv1::ToWorker watch;
  watch.mutable_watch_page()->set_byte_size(CallWatch::kBytes);
  wv1::ToWorker lane;
  lane.mutable_open_lane()->set_byte_size(CallLane::kBytes);
  seeds.Add(setup + record(1, watch) + record(1, lane));

  wv1::ToWorker release;
  release.mutable_run_call()->set_call_id(99);
  release.mutable_run_call()->mutable_request()->set_node_index(-1);
  auto* block = release.mutable_run_call()->mutable_request()->add_releases();
  block->set_region_id(1001);
  block->set_offset(0);
  wv1::ToWorker unmap;
  unmap.mutable_unmap_region()->set_region_id(kRegionId);
  wv1::ToWorker assign;
  assign.mutable_assign_session()->set_region_id_base(5000);
  seeds.Add(record(0, assign) + setup + record(0, release) + record(0, unmap));
}

// The offset in a lane's header page of the 8-byte field that reads
// `value` after `use` ran on a fresh lane: where a hostile peer writes.
template <typename Use>
uint16_t HeaderOffsetOf(uint64_t value, Use use) {
  auto region = CallLane::CreateRegion();
  FUZZ_CHECK(region.ok());
  auto lane = CallLane::Over(*region);
  FUZZ_CHECK(lane.ok());
  use(*lane);
  for (uint16_t offset = 8; offset + 8 <= CallLane::kHeaderBytes; offset += 8) {
    uint64_t field;
    std::memcpy(&field, (*region)->data() + offset, sizeof(field));
    if (field == value) return offset;
  }
  FUZZ_CHECK(false);
  return 0;
}

void CallLanes(const std::string& out, const KernelSet& mlp) {
  const v1::CallRequest call = CallsOf(mlp, 1)[0];
  const std::string request = call.SerializeAsString();
  const uint16_t request_bytes = HeaderOffsetOf(12345, [](CallLane& lane) {
    FUZZ_CHECK(lane.Post(std::string(12345, 'r'), MonotonicNanos()).ok());
  });
  const uint16_t answer_bytes = HeaderOffsetOf(54321, [](CallLane& lane) {
    FUZZ_CHECK(lane.Post("r", MonotonicNanos() + 1000000000).ok());
    std::atomic<bool> stop{false};
    SpinBudget no_spin(0);
    std::string taken;
    int64_t deadline = 0;
    FUZZ_CHECK(lane.TakeRequest(stop, &no_spin, &taken, &deadline));
    FUZZ_CHECK(lane.Answer(std::string(54321, 'a')));
  });
  auto patch = [](uint16_t offset, uint64_t value) {
    return Le<uint16_t>(offset) + Le<uint64_t>(value);
  };

  Seeds requests(out, "call_lane_request_fuzzer");
  requests.Add(Chunk(request) + Le<uint8_t>(0));
  requests.Add(Chunk(request) + Le<uint8_t>(1));
  requests.Add(Chunk(request) + Le<uint8_t>(0) + patch(request_bytes, ~0ull));
  v1::CallRequest wide = call;
  for (int i = 0; i < 400; ++i) *wide.add_inputs() = FloatRef(4);
  requests.Add(Chunk(wide.SerializeAsString()) + Le<uint8_t>(0));

  Seeds answers(out, "call_lane_answer_fuzzer");
  // That target's patch offsets count from the end of the state word.
  const uint16_t answer_patch = answer_bytes - 4;
  wv1::CallResult result;
  *result.mutable_response()->add_outputs() = FloatRef(4);
  const std::string answer = result.SerializeAsString();
  const std::string answered = Le<uint8_t>(CallLane::kAnswered);
  answers.Add(Chunk(answer) + answered + patch(answer_patch, answer.size()));
  answers.Add(Chunk(answer) + answered + patch(answer_patch, ~0ull));
  // A state byte from 56 on publishes its value % 8.
  answers.Add(Chunk(answer) + Le<uint8_t>(56 + CallLane::kReturned));
  answers.Add(Chunk(answer) + Le<uint8_t>(56 + CallLane::kRunning));
  wv1::CallResult refused;
  refused.set_refused(true);
  refused.set_code(14);
  const std::string refusal = refused.SerializeAsString();
  answers.Add(Chunk(refusal) + answered + patch(answer_patch, refusal.size()));
}

void ServiceRequests(const std::string& out, const std::string& mlp_json,
                     const KernelSet& mlp) {
  Seeds seeds(out, "executor_service_fuzzer");
  // A record: the RPC's number (executor_service_fuzzer.cc), flags (1: the
  // real session), the request.
  auto rpc = [](uint8_t kind, const google::protobuf::MessageLite& request) {
    return Le<uint8_t>(kind) + Le<uint8_t>(1) +
           Chunk(request.SerializeAsString());
  };
  v1::RegisterKernelSetRequest registration;
  registration.set_extern_kernels_json(mlp_json);
  registration.set_device("cpu");
  std::string registered = rpc(1, registration);
  for (const v1::CallRequest& call : CallsOf(mlp, 1)) {
    seeds.Add(registered + rpc(4, call));
  }
  v1::RegisterKernelSetRequest by_hash;
  by_hash.set_content_hash(std::string(64, '0'));
  by_hash.set_device("cpu");
  seeds.Add(rpc(0, v1::HelloRequest()) + rpc(1, by_hash) +
            rpc(6, v1::GetStatusRequest()) +
            rpc(7, v1::ClearQuarantineRequest()));
  const std::string frame =
      Le<uint8_t>(9) + Le<uint8_t>(3) +
      Chunk(
          Le<uint16_t>(static_cast<uint16_t>(AttachFrameType::kClientRegion)) +
          Le<uint64_t>(9) + Le<uint64_t>(kRegionBytes));
  v1::RegisterRegionRequest region;
  region.set_attach_id(9);
  v1::ReleaseRegionRequest release;
  release.set_region_id(1);
  seeds.Add(frame + rpc(2, region) + rpc(3, release));
  // The JSON in a memfd sent on the attach socket, named by its attach id.
  const std::string json_frame =
      Le<uint8_t>(9) + Le<uint8_t>(4) +
      Chunk(
          Le<uint16_t>(static_cast<uint16_t>(AttachFrameType::kClientRegion)) +
          Le<uint64_t>(10) + Le<uint64_t>(mlp_json.size()) + mlp_json);
  v1::RegisterKernelSetRequest by_memfd;
  by_memfd.set_json_attach_id(10);
  by_memfd.set_device("cpu");
  seeds.Add(json_frame + rpc(1, by_memfd) + rpc(4, CallsOf(mlp, 1)[0]));
  v1::ReleaseOutputsRequest outputs;
  outputs.add_releases()->set_region_id(3);
  seeds.Add(registered + rpc(8, v1::OpenCallLaneRequest()) + rpc(5, outputs));
}

// The node table of `set` as the daemon describes it, answered to each kind
// of client: packed, and as NodeInfo messages.
void NodeTables(const std::string& out, const KernelSet& set) {
  Seeds seeds(out, "node_table_fuzzer");
  v1::RegisterKernelSetResponse packed;
  *packed.mutable_packed_nodes() = DescribeNodeTable(set)->packed;
  seeds.Add(packed.SerializeAsString());
  v1::RegisterKernelSetResponse infos;
  UnpackNodes(packed.packed_nodes(), infos.mutable_nodes());
  // One node that mutates two inputs, which mlp has none of.
  v1::NodeInfo* mutating = infos.add_nodes();
  mutating->set_target("my::swap_");
  mutating->set_num_input_tensors(2);
  mutating->add_mutated_input_tensors(1);
  mutating->add_mutated_input_tensors(0);
  seeds.Add(infos.SerializeAsString());
}

}  // namespace
}  // namespace fuzz
}  // namespace aoti_executor

int main(int argc, char** argv) {
  using namespace aoti_executor;
  using namespace aoti_executor::fuzz;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  g_argv0 = argv[0];
  SetUpKernels(argv[0]);
  const std::string out = argv[1];
  mkdir(out.c_str(), 0755);
  const std::string mlp_json =
      ReadRunfile(argv[0], "tests/fixtures/pytorch-2.13/mlp.json");
  auto mlp = KernelSet::Parse(mlp_json, c10::Device(c10::kCPU));
  FUZZ_CHECK(mlp.ok());
  auto image = KernelSetImage::Create(mlp_json, mlp->node_spans(), "cpu");
  FUZZ_CHECK(image.ok());
  KernelSetJson(out);
  TensorRefs(out);
  AttachFrames(out);
  WorkerMessages(out, *mlp, **image);
  CallLanes(out, *mlp);
  ServiceRequests(out, mlp_json, *mlp);
  NodeTables(out, *mlp);
  return 0;
}
