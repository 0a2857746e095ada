// aoti_remote::ModelPackageLoader, the C++ API, on the real packages that
// //tests/models:packages compiled, against a real aoti-executord that has
// the op libraries, in this process, which has not loaded them; and a host
// that drives a real model .so itself with an executor of the C API.
//
// Every output must equal, bit for bit, what the same package gave when run
// in-process by torch._inductor.aoti_load_package (<model>.expected.pt).
#include "aoti_remote/model_package_loader.h"

#include <caffe2/serialize/inline_container.h>
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/csrc/inductor/aoti_runtime/interface.h>
#include <torch/csrc/inductor/aoti_torch/tensor_converter.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "aoti_remote/executor.h"
#include "tests/e2e/daemon_process.h"

namespace aoti_executor {
namespace {

using e2e::DaemonProcess;
using e2e::RunfilePath;
using ::testing::HasSubstr;

std::string Package(const std::string& model) {
  return RunfilePath("tests/models/" + model + ".pt2");
}

// What the in-process run of one case gave: its inputs, its outputs and its
// inputs after the run (mutated ones changed).
struct Case {
  std::vector<at::Tensor> inputs;
  std::vector<at::Tensor> outputs;
  std::vector<at::Tensor> inputs_after;
};

std::vector<at::Tensor> Tensors(const c10::IValue& list) {
  std::vector<at::Tensor> tensors;
  for (const c10::IValue& value : list.toListRef()) {
    tensors.push_back(value.toTensor().clone());
  }
  return tensors;
}

Case Expected(const std::string& model, const std::string& name) {
  const std::string path =
      RunfilePath("tests/models/" + model + ".expected.pt");
  std::ifstream file(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)),
                          std::istreambuf_iterator<char>());
  const auto cases = torch::pickle_load(bytes).toGenericDict();
  const auto one = cases.at(name).toGenericDict();
  return {Tensors(one.at("inputs")), Tensors(one.at("outputs")),
          Tensors(one.at("inputs_after"))};
}

void ExpectBitwiseEqual(const std::vector<at::Tensor>& got,
                        const std::vector<at::Tensor>& want,
                        const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].dtype(), want[i].dtype()) << what << " " << i;
    EXPECT_EQ(got[i].sizes(), want[i].sizes()) << what << " " << i;
    EXPECT_TRUE(got[i].sizes() == want[i].sizes() &&
                torch::equal(got[i], want[i]))
        << what << " " << i << "\n"
        << got[i] << "\n"
        << want[i];
  }
}

// The message run() threw, or "" if it returned.
std::string RunError(aoti_remote::ModelPackageLoader& model,
                     const std::vector<at::Tensor>& inputs) {
  try {
    model.run(inputs);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

std::string LoadError(const std::string& path, const std::string& model,
                      const std::string& endpoint) {
  try {
    aoti_remote::ModelPackageLoader loader(path, model, endpoint);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

class ModelPackageLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto daemon = DaemonProcess::Start(e2e::MisbehavingOpsFlags());
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
  }

  std::unique_ptr<aoti_remote::ModelPackageLoader> Load(
      const std::string& model) {
    return std::make_unique<aoti_remote::ModelPackageLoader>(
        Package(model), "model", daemon_->endpoint());
  }

  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(ModelPackageLoaderTest, EveryCaseEqualsTheInProcessRun) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"custom_ops", {"base"}},
      {"mlp", {"base"}},
      {"dynamic", {"n5", "n17", "n5"}},
      {"all_inputs", {"n4", "n9"}},
  };
  for (const auto& [model, names] : cases) {
    auto loader = Load(model);
    for (const std::string& name : names) {
      const Case want = Expected(model, name);
      std::vector<at::Tensor> inputs;
      for (const at::Tensor& t : want.inputs) inputs.push_back(t.clone());
      ExpectBitwiseEqual(loader->run(inputs), want.outputs,
                         model + " " + name + " outputs");
      // Mutated inputs (custom_ops mutates two) are mutated here too.
      ExpectBitwiseEqual(inputs, want.inputs_after,
                         model + " " + name + " inputs");
    }
  }
  // Only the daemon has the op libraries.
  std::ifstream maps("/proc/self/maps");
  const std::string mapped((std::istreambuf_iterator<char>(maps)),
                           std::istreambuf_iterator<char>());
  EXPECT_FALSE(absl::StrContains(mapped, "libaoti_test_ops.so"));
  EXPECT_FALSE(absl::StrContains(mapped, "libaoti_misbehaving_ops.so"));
}

TEST_F(ModelPackageLoaderTest, AFailedExternCallThrowsNamingNodeOpAndReason) {
  auto model = Load("throwing");
  for (int run = 0; run < 2; ++run) {
    const std::string error = RunError(*model, {torch::ones({4})});
    EXPECT_THAT(error, HasSubstr("throwing.pt2"));
    EXPECT_THAT(error, HasSubstr("extern node 0 (aoti_test::always_throws)"));
    EXPECT_THAT(error, HasSubstr("refuses a tensor of 1 dims"));
  }
}

TEST_F(ModelPackageLoaderTest, AnOpThatCrashesMidModelCostsThatRunOnly) {
  auto model = Load("crashing");
  const Case want = Expected("crashing", "base");
  const std::string error =
      RunError(*model, {want.inputs[0].clone(), torch::full({2, 8}, -100.0)});
  EXPECT_THAT(error,
              HasSubstr("extern node 0 (misbehaving::plus_one_or_segfault)"));
  ExpectBitwiseEqual(model->run(want.inputs), want.outputs, "after the crash");
}

TEST_F(ModelPackageLoaderTest, SaysWhatItLoaded) {
  auto model = Load("mlp");
  EXPECT_EQ(model->get_metadata().at("AOTI_DEVICE_KEY"), "cpu");
  const std::vector<std::string> spec = model->get_call_spec();
  ASSERT_EQ(spec.size(), 2u);
  EXPECT_FALSE(spec[0].empty());
  EXPECT_FALSE(spec[1].empty());
  ASSERT_NE(model->executor(), nullptr);
  model->run(Expected("mlp", "base").inputs);
  EXPECT_EQ(aoti_remote_executor_take_failure(model->executor()),
            AOTI_TORCH_SUCCESS);
  EXPECT_THAT(RunError(*model, {torch::ones({32, 64}), torch::ones({1})}),
              HasSubstr("takes 1 input tensors, not 2"));
}

TEST_F(ModelPackageLoaderTest, BadPackagesThrowNamingWhatIsWrong) {
  EXPECT_THAT(LoadError("/nonexistent.pt2", "model", daemon_->endpoint()),
              HasSubstr("cannot open the package /nonexistent.pt2"));
  EXPECT_THAT(LoadError(Package("mlp"), "other", daemon_->endpoint()),
              HasSubstr("model 'other': no such model; the package holds "
                        "'model'"));
  setenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS", "200", 1);
  EXPECT_THAT(LoadError(Package("mlp"), "model",
                        "unix:" + daemon_->socket_dir() + "/nobody.sock"),
              HasSubstr("nobody.sock"));
  unsetenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS");
}

// A model .so driven through its own C interface, as a serving host that
// does not use the loader would: the package unpacked by libtorch's archive
// reader, our executor from aoti_remote_executor_create as the proxy
// executor handle of AOTInductorModelContainerRun.
class RawModel {
 public:
  RawModel(const std::string& package, const std::string& directory) {
    caffe2::serialize::PyTorchStreamReader archive(package);
    for (const std::string& name : archive.getAllRecords()) {
      const std::string base = std::filesystem::path(name).filename();
      if (!absl::StartsWith(name, "data/aotinductor/model/")) continue;
      auto [data, size] = archive.getRecord(name);
      const std::string path = directory + "/" + base;
      std::ofstream(path, std::ios::binary)
          .write(static_cast<const char*>(data.get()), size);
      if (absl::EndsWith(base, ".wrapper.so")) so_path_ = path;
      if (absl::EndsWith(base, ".wrapper.json")) json_path_ = path;
    }
    so_ = dlopen(so_path_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (so_ == nullptr) throw std::runtime_error(dlerror());
    create_ = Symbol<decltype(&AOTInductorModelContainerCreateWithDevice)>(
        "AOTInductorModelContainerCreateWithDevice");
    delete_ = Symbol<decltype(&AOTInductorModelContainerDelete)>(
        "AOTInductorModelContainerDelete");
    run_ = Symbol<decltype(&AOTInductorModelContainerRun)>(
        "AOTInductorModelContainerRun");
    num_outputs_ = Symbol<decltype(&AOTInductorModelContainerGetNumOutputs)>(
        "AOTInductorModelContainerGetNumOutputs");
    if (create_(&container_, 1, "cpu", directory.c_str()) !=
        AOTI_RUNTIME_SUCCESS) {
      throw std::runtime_error("cannot create the model container");
    }
  }
  ~RawModel() {
    if (container_ != nullptr) delete_(container_);
  }

  const std::string& json_path() const { return json_path_; }

  // The model's outputs, or none if the run reported a failure.
  std::vector<at::Tensor> Run(const std::vector<at::Tensor>& inputs,
                              AOTIProxyExecutorHandle executor) {
    std::vector<AtenTensorHandle> input_handles =
        torch::aot_inductor::unsafe_alloc_new_handles_from_tensors(inputs);
    size_t num_outputs = 0;
    num_outputs_(container_, &num_outputs);
    std::vector<AtenTensorHandle> output_handles(num_outputs);
    if (run_(container_, input_handles.data(), input_handles.size(),
             output_handles.data(), num_outputs, nullptr,
             executor) != AOTI_RUNTIME_SUCCESS) {
      return {};
    }
    return torch::aot_inductor::alloc_tensors_by_stealing_from_handles(
        output_handles.data(), num_outputs);
  }

 private:
  template <typename F>
  F Symbol(const char* name) {
    auto f = reinterpret_cast<F>(dlsym(so_, name));
    if (f == nullptr) throw std::runtime_error(std::string("no ") + name);
    return f;
  }

  std::string so_path_, json_path_;
  void* so_ = nullptr;  // stays loaded: the model's statics outlive us
  AOTInductorModelContainerHandle container_ = nullptr;
  decltype(&AOTInductorModelContainerCreateWithDevice) create_;
  decltype(&AOTInductorModelContainerDelete) delete_;
  decltype(&AOTInductorModelContainerRun) run_;
  decltype(&AOTInductorModelContainerGetNumOutputs) num_outputs_;
};

TEST_F(ModelPackageLoaderTest, AHostDrivingTheModelItselfLearnsOfAFailedCall) {
  const std::string directory = daemon_->socket_dir();
  for (const std::string model : {"mlp", "throwing"}) {
    std::filesystem::create_directory(directory + "/" + model);
    RawModel raw(Package(model), directory + "/" + model);
    AOTIProxyExecutorHandle executor = nullptr;
    ASSERT_EQ(
        aoti_remote_executor_create(daemon_->endpoint().c_str(),
                                    raw.json_path().c_str(), "cpu", &executor),
        AOTI_TORCH_SUCCESS)
        << aoti_remote_last_error();
    if (model == "mlp") {
      const Case want = Expected("mlp", "base");
      ExpectBitwiseEqual(raw.Run(want.inputs, executor), want.outputs, model);
      EXPECT_EQ(aoti_remote_executor_take_failure(executor),
                AOTI_TORCH_SUCCESS);
    } else {
      // Whatever the generated code made of the failed call, the host
      // learns of it, with the node, op and reason.
      raw.Run({torch::ones({4})}, executor);
      EXPECT_EQ(aoti_remote_executor_take_failure(executor),
                AOTI_TORCH_FAILURE);
      EXPECT_THAT(aoti_remote_last_error(),
                  HasSubstr("extern node 0 (aoti_test::always_throws)"));
      // Taken: the next run starts clean.
      EXPECT_EQ(aoti_remote_executor_take_failure(executor),
                AOTI_TORCH_SUCCESS);
    }
    aoti_remote_executor_delete(executor);
  }
}

}  // namespace
}  // namespace aoti_executor
