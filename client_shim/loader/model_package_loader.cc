#include "aoti_remote/model_package_loader.h"

#include <ATen/DynamicLibrary.h>
#include <torch/csrc/inductor/aoti_runner/model_container_runner.h>

#include <exception>
#include <stdexcept>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client_shim/last_error.h"
#include "client_shim/loader/model_package.h"
#include "client_shim/options.h"
#include "client_shim/remote_executor.h"
#include "server/common/status_macros.h"

namespace aoti_remote {
namespace {

using aoti_executor::client::ExecutorOptions;
using aoti_executor::client::ModelPackage;
using aoti_executor::client::RemoteExecutor;

[[noreturn]] void Throw(const absl::Status& status) {
  throw std::runtime_error(
      absl::StrCat("aoti_remote::ModelPackageLoader: ", status.message()));
}

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  if (!value.ok()) Throw(value.status());
  return *std::move(value);
}

// libtorch's own runner of the model .so, with our executor as its proxy
// executor: every run and constant folding passes it to the model.
class RemoteRunner final : public torch::inductor::AOTIModelContainerRunner {
 public:
  RemoteRunner(const std::string& so_path, const std::string& cubin_dir,
               AOTIProxyExecutorHandle executor)
      : AOTIModelContainerRunner(so_path, /*num_models=*/1, "cpu", cubin_dir,
                                 /*run_single_threaded=*/false) {
    proxy_executor_handle_ = executor;
    using GetNumInputs = decltype(&AOTInductorModelContainerGetNumInputs);
    auto get_num_inputs = reinterpret_cast<GetNumInputs>(
        model_so_->sym("AOTInductorModelContainerGetNumInputs"));
    if (get_num_inputs(container_handle_, &num_inputs_) !=
        AOTI_RUNTIME_SUCCESS) {
      throw std::runtime_error(
          "the model .so cannot say how many inputs it takes");
    }
  }

  size_t num_inputs() const { return num_inputs_; }

 private:
  size_t num_inputs_ = 0;
};

}  // namespace

class ModelPackageLoader::Impl {
 public:
  std::string package_path;
  std::unordered_map<std::string, std::string> metadata;
  // Declared before the runner, so that it outlives the model's last call.
  std::unique_ptr<RemoteExecutor> executor;
  std::unique_ptr<RemoteRunner> runner;
};

ModelPackageLoader::ModelPackageLoader(const std::string& package_path,
                                       const std::string& model_name,
                                       const std::string& endpoint)
    : impl_(std::make_unique<Impl>()) {
  impl_->package_path = package_path;
  // Removed on return: the .so stays loaded, the JSON lives in the executor.
  ModelPackage package =
      ValueOrThrow(ModelPackage::Extract(package_path, model_name));
  impl_->metadata = package.metadata();
  const auto device = impl_->metadata.find("AOTI_DEVICE_KEY");
  if (device == impl_->metadata.end() || device->second != "cpu") {
    Throw(absl::UnimplementedError(absl::StrCat(
        package_path, ": model '", model_name, "' is compiled for device '",
        device == impl_->metadata.end() ? "(none recorded)" : device->second,
        "'; aoti_remote runs CPU packages only (CUDA tensors through the "
        "daemon are not supported yet)")));
  }
  if (!package.extern_kernels_json_path().empty()) {
    ExecutorOptions options = ValueOrThrow(
        aoti_executor::client::OptionsFromEnvironment(endpoint.c_str(), "cpu"));
    impl_->executor = ValueOrThrow(RemoteExecutor::Create(
        std::move(options), package.extern_kernels_json_path()));
  }
  try {
    impl_->runner = std::make_unique<RemoteRunner>(
        package.so_path(), package.directory(),
        impl_->executor != nullptr ? impl_->executor->handle() : nullptr);
  } catch (...) {
    Throw(aoti_executor::WithContext(
        aoti_executor::client::CurrentExceptionStatus(),
        absl::StrCat(package_path, ": cannot load model '", model_name, "'")));
  }
}

ModelPackageLoader::~ModelPackageLoader() = default;

std::vector<at::Tensor> ModelPackageLoader::run(
    const std::vector<at::Tensor>& inputs) {
  Impl& impl = *impl_;
  if (inputs.size() != impl.runner->num_inputs()) {
    Throw(absl::InvalidArgumentError(absl::StrCat(
        impl.package_path, ": the model takes ", impl.runner->num_inputs(),
        " input tensors, not ", inputs.size())));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].device().is_cpu()) {
      Throw(absl::InvalidArgumentError(absl::StrCat(
          impl.package_path, ": input ", i, " is ",
          inputs[i].defined() ? "not a CPU tensor" : "an undefined tensor")));
    }
  }
  // Failures of this thread's earlier calls are not this run's.
  if (impl.executor != nullptr) (void)impl.executor->TakeFailure();
  std::vector<at::Tensor> outputs;
  std::exception_ptr run_error;
  try {
    outputs = impl.runner->run(inputs);
  } catch (...) {
    run_error = std::current_exception();
  }
  // Whether the generated code checked the extern call or not, a failed one
  // fails the run, with its own message rather than the runner's.
  if (impl.executor != nullptr) {
    const absl::Status failure = impl.executor->TakeFailure();
    if (!failure.ok()) {
      Throw(absl::Status(failure.code(),
                         absl::StrCat("a run of ", impl.package_path,
                                      " failed: ", failure.message())));
    }
  }
  if (run_error != nullptr) std::rethrow_exception(run_error);
  return outputs;
}

std::vector<std::string> ModelPackageLoader::get_call_spec() {
  return impl_->runner->get_call_spec();
}

std::unordered_map<std::string, std::string> ModelPackageLoader::get_metadata()
    const {
  return impl_->metadata;
}

AOTIProxyExecutorHandle ModelPackageLoader::executor() const {
  return impl_->executor != nullptr ? impl_->executor->handle() : nullptr;
}

}  // namespace aoti_remote
