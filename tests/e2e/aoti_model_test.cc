// A "model" written the way AOTInductor's generated wrapper is, linked against
// the real libaoti_remote.so and run against a real aoti-executord in a
// separate process: every extern kernel call is
//   aoti_torch_proxy_executor_call_function(proxy_executor, <idx>, <nints>,
//       std::array<int64_t, N>{...}.data(), <ntensors>,
//       std::array<AtenTensorHandle, M>{...}.data());
// with output handles from aoti_torch_new_uninitialized_tensor (an undefined
// `new at::Tensor()`), and the proxy executor from
// aoti_remote_executor_create. Results are compared bitwise with the same
// computation in-process (ATen, or the record fn_with_all_inputs must
// return).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/inductor/aoti_torch/c/shim.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "aoti_remote/executor.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/e2e/daemon_process.h"
#include "tests/kernels/pr110526_call.h"

namespace aoti_executor {
namespace {

// --- What AOTI's runtime gives generated code ------------------------------
// libtorch's own AOTI C shim (torch/csrc/inductor/aoti_torch/c/shim.h:
// aoti_torch_new_uninitialized_tensor, aoti_torch_proxy_executor_call_function,
// ...), and aoti_runtime/utils.h's owning handle, with a tensor() for the
// test's checks.
class RAIIAtenTensorHandle {
 public:
  explicit RAIIAtenTensorHandle(AtenTensorHandle handle) : handle_(handle) {}
  // The runner's unsafe_alloc_new_handles_from_tensors: a new at::Tensor
  // sharing the input's TensorImpl.
  explicit RAIIAtenTensorHandle(const at::Tensor& tensor)
      : handle_(reinterpret_cast<AtenTensorHandle>(new at::Tensor(tensor))) {}
  RAIIAtenTensorHandle(const RAIIAtenTensorHandle&) = delete;
  RAIIAtenTensorHandle& operator=(const RAIIAtenTensorHandle&) = delete;
  ~RAIIAtenTensorHandle() {
    if (handle_ != nullptr) aoti_torch_delete_tensor_object(handle_);
  }

  AtenTensorHandle get() const { return handle_; }
  AtenTensorHandle release() {
    AtenTensorHandle handle = handle_;
    handle_ = nullptr;
    return handle;
  }
  // What the handle holds (for the test's checks, not the model's).
  const at::Tensor& tensor() const {
    return *reinterpret_cast<const at::Tensor*>(handle_);
  }

 private:
  AtenTensorHandle handle_;
};

// Generated code's check; here it fails the test with the shim's reason.
#define AOTI_TORCH_ERROR_CODE_CHECK(call) \
  ASSERT_EQ((call), AOTI_TORCH_SUCCESS) << aoti_remote_last_error()

// --- The model's extern nodes ------------------------------------------------
// The model's <key>.wrapper.json: fixture nodes, in extern-node-index order.
const std::pair<const char*, int> kModelNodes[] = {
    {"custom_ops.json", 0},  // 0: fn_with_all_inputs, PR #110526's node
    {"aten_ops.json", 5},    // 1: aten::repeat(self, [s0, 2])
    {"aten_ops.json", 0},    // 2: aten::add.Tensor(self, other)
    {"custom_ops.json", 2},  // 3: fn_with_default_input(t, i) = t * i
    {"custom_ops.json", 6},  // 4: fn_with_input_mutation(t0!, t1, t2!)
};

std::string ReadFixture(const std::string& name) {
  std::ifstream file(e2e::RunfilePath("tests/fixtures/" + name));
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// {"nodes": [...]} with the nodes of kModelNodes.
std::string ModelJson() {
  std::map<std::string, rapidjson::Document> fixtures;
  rapidjson::Document model(rapidjson::kObjectType);
  rapidjson::Value nodes(rapidjson::kArrayType);
  for (const auto& [file, index] : kModelNodes) {
    rapidjson::Document& fixture = fixtures[file];
    if (fixture.IsNull()) {
      fixture.Parse<rapidjson::kParseNanAndInfFlag>(ReadFixture(file).c_str());
    }
    if (fixture.HasParseError() || !fixture.IsObject()) return "";
    nodes.PushBack(
        rapidjson::Value(fixture["nodes"][index], model.GetAllocator()),
        model.GetAllocator());
  }
  model.AddMember("nodes", nodes, model.GetAllocator());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  model.Accept(writer);
  return buffer.GetString();
}

// The shim's staging regions mapped in this process (memfds named
// "aoti-remote-staging"): {address range -> bytes}. An input sent by
// reference needs none; a copied one needs one at least its size.
std::map<std::string, uint64_t> StagingMappings() {
  std::map<std::string, uint64_t> mappings;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/memfd:aoti-remote-staging") == std::string::npos) continue;
    const std::string range = line.substr(0, line.find(' '));
    const size_t dash = range.find('-');
    const uint64_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const uint64_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    mappings[range] = end - begin;
  }
  return mappings;
}

::testing::AssertionResult Bitwise(const at::Tensor& actual,
                                   const at::Tensor& expected) {
  if (!actual.defined()) {
    return ::testing::AssertionFailure() << "undefined tensor";
  }
  if (actual.scalar_type() != expected.scalar_type() ||
      actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure()
           << actual.scalar_type() << actual.sizes() << ", expected "
           << expected.scalar_type() << expected.sizes();
  }
  const at::Tensor a = actual.contiguous();
  const at::Tensor e = expected.contiguous();
  if (std::memcmp(a.data_ptr(), e.data_ptr(), a.nbytes()) != 0) {
    return ::testing::AssertionFailure() << "values differ";
  }
  return ::testing::AssertionSuccess();
}

// --- The model's run_impl, as cpp_wrapper_cpu.py writes it ------------------
// Inputs are handles the model steals; outputs are handles it writes and the
// caller steals (AOTInductorModelContainerRun's convention).

// PyTorch PR #110526's call: 15 ints in schema order (SymInts as C
// expressions of the model's sizes), 7 tensor handles (arg0_1 three times,
// buf2 for the one non-None optional, then the output handle buf4).
void RunFnWithAllInputs(AOTIProxyExecutorHandle proxy_executor,
                        AtenTensorHandle* input_handles,
                        AtenTensorHandle* output_handles) {
  RAIIAtenTensorHandle arg0_1(input_handles[0]);
  RAIIAtenTensorHandle arg1_1(input_handles[1]);
  RAIIAtenTensorHandle buf2(input_handles[2]);
  // The model's symbolic sizes at run time.
  const int64_t s0 = kernel_test::Pr110526Call::s0;
  const int64_t s1 = kernel_test::Pr110526Call::s1;
  const int64_t s2 = kernel_test::Pr110526Call::s2;
  const int64_t s3 = kernel_test::Pr110526Call::s3;

  AtenTensorHandle buf4_handle;
  AOTI_TORCH_ERROR_CODE_CHECK(
      aoti_torch_new_uninitialized_tensor(&buf4_handle));
  RAIIAtenTensorHandle buf4(buf4_handle);
  AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_proxy_executor_call_function(
      proxy_executor, 0, 15,
      std::array<int64_t, 15>{42, 16, 17, s0 + s1, s0 + s1, s2 * s3, 45, 67, 16,
                              17, s2 * s3, s2 * s3, s0 + s1, 89, 910}
          .data(),
      7,
      std::array<AtenTensorHandle, 7>{arg0_1.get(), arg0_1.get(), arg1_1.get(),
                                      buf2.get(), arg0_1.get(), arg1_1.get(),
                                      buf4.get()}
          .data()));
  output_handles[0] = buf4.release();
}

// Extern kernels feeding each other, every intermediate in the daemon's
// output memory:
//   buf0 = aten::repeat(arg0_1, [s0, 2])
//   buf1 = aten::add(buf0, buf0)
//   buf2 = aoti_test::fn_with_default_input(buf1, 3)
//   buf3, buf4 = aoti_test::fn_with_input_mutation(buf1, buf2, buf0)
// the last one mutating buf1 (+= buf2) and buf0 (*= 2). Outputs buf0..buf4.
void RunChain(AOTIProxyExecutorHandle proxy_executor, int64_t s0,
              AtenTensorHandle* input_handles,
              AtenTensorHandle* output_handles) {
  RAIIAtenTensorHandle arg0_1(input_handles[0]);
  AtenTensorHandle buf0_handle;
  AOTI_TORCH_ERROR_CODE_CHECK(
      aoti_torch_new_uninitialized_tensor(&buf0_handle));
  RAIIAtenTensorHandle buf0(buf0_handle);
  AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_proxy_executor_call_function(
      proxy_executor, 1, 2, std::array<int64_t, 2>{s0, 2}.data(), 2,
      std::array<AtenTensorHandle, 2>{arg0_1.get(), buf0.get()}.data()));
  AtenTensorHandle buf1_handle;
  AOTI_TORCH_ERROR_CODE_CHECK(
      aoti_torch_new_uninitialized_tensor(&buf1_handle));
  RAIIAtenTensorHandle buf1(buf1_handle);
  AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_proxy_executor_call_function(
      proxy_executor, 2, 0, std::array<int64_t, 0>{}.data(), 3,
      std::array<AtenTensorHandle, 3>{buf0.get(), buf0.get(), buf1.get()}
          .data()));
  AtenTensorHandle buf2_handle;
  AOTI_TORCH_ERROR_CODE_CHECK(
      aoti_torch_new_uninitialized_tensor(&buf2_handle));
  RAIIAtenTensorHandle buf2(buf2_handle);
  AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_proxy_executor_call_function(
      proxy_executor, 3, 1, std::array<int64_t, 1>{3}.data(), 2,
      std::array<AtenTensorHandle, 2>{buf1.get(), buf2.get()}.data()));
  AtenTensorHandle buf3_handle;
  AOTI_TORCH_ERROR_CODE_CHECK(
      aoti_torch_new_uninitialized_tensor(&buf3_handle));
  RAIIAtenTensorHandle buf3(buf3_handle);
  AtenTensorHandle buf4_handle;
  AOTI_TORCH_ERROR_CODE_CHECK(
      aoti_torch_new_uninitialized_tensor(&buf4_handle));
  RAIIAtenTensorHandle buf4(buf4_handle);
  AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_proxy_executor_call_function(
      proxy_executor, 4, 0, std::array<int64_t, 0>{}.data(), 5,
      std::array<AtenTensorHandle, 5>{buf1.get(), buf2.get(), buf0.get(),
                                      buf3.get(), buf4.get()}
          .data()));
  output_handles[0] = buf0.release();
  output_handles[1] = buf1.release();
  output_handles[2] = buf2.release();
  output_handles[3] = buf3.release();
  output_handles[4] = buf4.release();
}

// buf0, buf1 = aoti_test::fn_with_input_mutation(arg0_1, arg1_1, arg2_1):
// Tensor(a!) t0 and Tensor(b!) t2 are the model's own input buffers.
void RunMutation(AOTIProxyExecutorHandle proxy_executor,
                 AtenTensorHandle* input_handles,
                 AtenTensorHandle* output_handles) {
  RAIIAtenTensorHandle arg0_1(input_handles[0]);
  RAIIAtenTensorHandle arg1_1(input_handles[1]);
  RAIIAtenTensorHandle arg2_1(input_handles[2]);
  AtenTensorHandle buf0_handle;
  AOTI_TORCH_ERROR_CODE_CHECK(
      aoti_torch_new_uninitialized_tensor(&buf0_handle));
  RAIIAtenTensorHandle buf0(buf0_handle);
  AtenTensorHandle buf1_handle;
  AOTI_TORCH_ERROR_CODE_CHECK(
      aoti_torch_new_uninitialized_tensor(&buf1_handle));
  RAIIAtenTensorHandle buf1(buf1_handle);
  AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_proxy_executor_call_function(
      proxy_executor, 4, 0, std::array<int64_t, 0>{}.data(), 5,
      std::array<AtenTensorHandle, 5>{arg0_1.get(), arg1_1.get(), arg2_1.get(),
                                      buf0.get(), buf1.get()}
          .data()));
  output_handles[0] = buf0.release();
  output_handles[1] = buf1.release();
}

// buf0 = aten::add(arg0_1, arg1_1).
void RunAdd(AOTIProxyExecutorHandle proxy_executor,
            AtenTensorHandle* input_handles, AtenTensorHandle* output_handles) {
  RAIIAtenTensorHandle arg0_1(input_handles[0]);
  RAIIAtenTensorHandle arg1_1(input_handles[1]);
  AtenTensorHandle buf0_handle;
  AOTI_TORCH_ERROR_CODE_CHECK(
      aoti_torch_new_uninitialized_tensor(&buf0_handle));
  RAIIAtenTensorHandle buf0(buf0_handle);
  AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_proxy_executor_call_function(
      proxy_executor, 2, 0, std::array<int64_t, 0>{}.data(), 3,
      std::array<AtenTensorHandle, 3>{arg0_1.get(), arg1_1.get(), buf0.get()}
          .data()));
  output_handles[0] = buf0.release();
}

// --- The host: runs the model with a remote proxy executor
// --------------------- Handles for the model to steal: new at::Tensors sharing
// each input's TensorImpl (the runner's unsafe_alloc_new_handles_from_tensors).
std::vector<AtenTensorHandle> InputHandles(
    const std::vector<at::Tensor>& inputs) {
  std::vector<AtenTensorHandle> handles;
  for (const at::Tensor& input : inputs) {
    handles.push_back(
        reinterpret_cast<AtenTensorHandle>(new at::Tensor(input)));
  }
  return handles;
}

// Takes over the output handles the model wrote (null ones stay undefined).
std::vector<at::Tensor> StealOutputs(std::vector<AtenTensorHandle>* handles) {
  std::vector<at::Tensor> outputs;
  for (AtenTensorHandle& handle : *handles) {
    if (handle == nullptr) {
      outputs.emplace_back();
      continue;
    }
    RAIIAtenTensorHandle owned(handle);
    handle = nullptr;
    outputs.push_back(owned.tensor());
  }
  return outputs;
}

class AotiModelTest : public ::testing::Test {
 protected:
  // A daemon per test: the staging checks read this process's mappings, and
  // a new session has nothing left over from another test.
  void SetUp() override {
    auto daemon = e2e::DaemonProcess::Start();
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
    const std::string json = ModelJson();
    ASSERT_FALSE(json.empty()) << "cannot compose the model's JSON";
    const char* tmpdir = std::getenv("TEST_TMPDIR");
    json_path_ = std::string(tmpdir != nullptr ? tmpdir : "/tmp") +
                 "/aoti_model_test.wrapper.json";
    std::ofstream(json_path_) << json;
    AOTI_TORCH_ERROR_CODE_CHECK(aoti_remote_executor_create(
        daemon_->endpoint().c_str(), json_path_.c_str(), "cpu",
        &proxy_executor_));
  }

  void TearDown() override {
    if (proxy_executor_ != nullptr) {
      EXPECT_EQ(aoti_remote_executor_delete(proxy_executor_),
                AOTI_TORCH_SUCCESS);
    }
    daemon_.reset();
    std::remove(json_path_.c_str());
  }

  std::unique_ptr<e2e::DaemonProcess> daemon_;
  std::string json_path_;
  AOTIProxyExecutorHandle proxy_executor_ = nullptr;
};

TEST_F(AotiModelTest, FnWithAllInputsAsPr110526CallsIt) {
  const kernel_test::Pr110526Call pr;
  std::vector<AtenTensorHandle> inputs =
      InputHandles({pr.arg0_1, pr.arg1_1, pr.buf2});
  std::vector<AtenTensorHandle> outputs(1, nullptr);
  RunFnWithAllInputs(proxy_executor_, inputs.data(), outputs.data());
  const std::vector<at::Tensor> results = StealOutputs(&outputs);
  EXPECT_TRUE(Bitwise(results[0], pr.ExpectedRecord()));
}

// Each call's output feeds the next by reference: it already lies in the
// daemon's output memory, so the shim sends its place, not its bytes. The
// proof: no staging region big enough to hold one of them is ever made (the
// only input copied is the 24-byte arg0_1), and a second run adds none,
// while the same bytes from host memory do need one.
TEST_F(AotiModelTest, ChainedCallsPassOutputsByReference) {
  const int64_t s0 = 1 << 16;  // buf0..buf4: 3 MiB each
  const at::Tensor arg0_1 = at::arange(6, at::kFloat).reshape({2, 3});
  // In-process ATen, the same computation.
  at::Tensor ref0 = arg0_1.repeat({s0, 2});
  at::Tensor ref1 = at::add(ref0, ref0);
  const at::Tensor ref2 = ref1 * 3;
  const at::Tensor ref3 = ref2 * ref2;
  const at::Tensor ref4 = ref2 - 5;
  ref1.add_(ref2);
  ref0.mul_(2);
  const uint64_t chained_bytes = ref0.nbytes();

  std::map<std::string, uint64_t> staging_after_first_run;
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(::testing::Message() << "run " << run);
    std::vector<AtenTensorHandle> inputs = InputHandles({arg0_1});
    std::vector<AtenTensorHandle> outputs(5, nullptr);
    RunChain(proxy_executor_, s0, inputs.data(), outputs.data());
    const std::vector<at::Tensor> results = StealOutputs(&outputs);
    EXPECT_TRUE(Bitwise(results[0], ref0));  // mutated: *= 2
    EXPECT_TRUE(Bitwise(results[1], ref1));  // mutated: += buf2
    EXPECT_TRUE(Bitwise(results[2], ref2));
    EXPECT_TRUE(Bitwise(results[3], ref3));
    EXPECT_TRUE(Bitwise(results[4], ref4));

    const std::map<std::string, uint64_t> staging = StagingMappings();
    EXPECT_FALSE(staging.empty()) << "arg0_1 was staged in some region";
    for (const auto& [range, bytes] : staging) {
      EXPECT_LT(bytes, chained_bytes)
          << "staging region " << range << " could hold a chained output";
    }
    if (run == 0) {
      staging_after_first_run = staging;
    } else {
      EXPECT_EQ(staging, staging_after_first_run);
    }
  }

  // The control: the same bytes in the host's own memory are copied, and a
  // staging region that holds them shows up.
  std::vector<AtenTensorHandle> inputs = InputHandles({ref0, ref1});
  std::vector<AtenTensorHandle> outputs(1, nullptr);
  RunAdd(proxy_executor_, inputs.data(), outputs.data());
  const std::vector<at::Tensor> results = StealOutputs(&outputs);
  EXPECT_TRUE(Bitwise(results[0], at::add(ref0, ref1)));
  uint64_t largest = 0;
  for (const auto& [range, bytes] : StagingMappings()) {
    largest = std::max(largest, bytes);
  }
  EXPECT_GE(largest, 2 * chained_bytes);
}

// Tensor(a!) inputs that are the model's own buffers: mutated in place, in
// the caller's memory, visible through the caller's handles and tensors.
TEST_F(AotiModelTest, InputMutationIsVisibleThroughTheCallersHandles) {
  const at::Tensor arg0_1 = at::ones({2, 3});
  const at::Tensor arg1_1 = at::arange(6, at::kFloat).reshape({2, 3});
  const at::Tensor arg2_1 = at::full({2, 3}, 3.0);
  const void* arg0_1_data = arg0_1.data_ptr();
  const void* arg2_1_data = arg2_1.data_ptr();
  const at::Tensor expected_t0 = at::ones({2, 3}) + arg1_1;
  const at::Tensor expected_t2 = at::full({2, 3}, 3.0) * 2;

  std::vector<AtenTensorHandle> inputs = InputHandles({arg0_1, arg1_1, arg2_1});
  // The host keeps handles of its own to the same buffers.
  RAIIAtenTensorHandle host_arg0_1(arg0_1);
  RAIIAtenTensorHandle host_arg2_1(arg2_1);
  std::vector<AtenTensorHandle> outputs(2, nullptr);
  RunMutation(proxy_executor_, inputs.data(), outputs.data());
  const std::vector<at::Tensor> results = StealOutputs(&outputs);

  EXPECT_TRUE(Bitwise(host_arg0_1.tensor(), expected_t0));
  EXPECT_TRUE(Bitwise(host_arg2_1.tensor(), expected_t2));
  EXPECT_TRUE(Bitwise(arg0_1, expected_t0));
  EXPECT_TRUE(Bitwise(arg2_1, expected_t2));
  EXPECT_EQ(arg0_1.data_ptr(), arg0_1_data) << "mutated in place";
  EXPECT_EQ(arg2_1.data_ptr(), arg2_1_data) << "mutated in place";
  EXPECT_TRUE(Bitwise(arg1_1, at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_TRUE(Bitwise(results[0], arg1_1 * arg1_1));
  EXPECT_TRUE(Bitwise(results[1], arg1_1 - 5));
}

// A 64 MiB float tensor each way through aten::add, bitwise equal to
// in-process ATen.
TEST_F(AotiModelTest, SixtyFourMebibyteTensorsThroughAtenAdd) {
  constexpr int64_t kElements = (int64_t{64} << 20) / sizeof(float);
  at::manual_seed(110526);
  const at::Tensor arg0_1 = at::randn({kElements});
  const at::Tensor arg1_1 = at::randn({kElements});
  ASSERT_EQ(arg0_1.nbytes(), uint64_t{64} << 20);

  std::vector<AtenTensorHandle> inputs = InputHandles({arg0_1, arg1_1});
  std::vector<AtenTensorHandle> outputs(1, nullptr);
  RunAdd(proxy_executor_, inputs.data(), outputs.data());
  const std::vector<at::Tensor> results = StealOutputs(&outputs);

  ASSERT_TRUE(results[0].defined());
  EXPECT_EQ(results[0].nbytes(), uint64_t{64} << 20);
  EXPECT_TRUE(Bitwise(results[0], at::add(arg0_1, arg1_1)));
}

}  // namespace
}  // namespace aoti_executor
