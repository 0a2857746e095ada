// torch.classes.aoti_remote.ModelPackageLoader: the C++ loader for Python
// (and TorchScript), registered when libaoti_remote.so is loaded, e.g. by
// torch.ops.load_library.
#include <torch/custom_class.h>
#include <torch/library.h>

#include <string>
#include <vector>

#include "aoti_remote/model_package_loader.h"

namespace aoti_remote {
namespace {

class ScriptModelPackageLoader final : public torch::CustomClassHolder {
 public:
  ScriptModelPackageLoader(const std::string& package_path,
                           const std::string& model_name,
                           const std::string& endpoint)
      : loader_(package_path, model_name, endpoint) {}

  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs) {
    return loader_.run(inputs);
  }

  std::vector<std::string> get_call_spec() { return loader_.get_call_spec(); }

  c10::Dict<std::string, std::string> get_metadata() const {
    c10::Dict<std::string, std::string> metadata;
    for (const auto& [key, value] : loader_.get_metadata()) {
      metadata.insert(key, value);
    }
    return metadata;
  }

 private:
  ModelPackageLoader loader_;
};

TORCH_LIBRARY(aoti_remote, m) {
  m.class_<ScriptModelPackageLoader>("ModelPackageLoader")
      .def(torch::init<std::string, std::string, std::string>())
      .def("run", &ScriptModelPackageLoader::run)
      .def("get_call_spec", &ScriptModelPackageLoader::get_call_spec)
      .def("get_metadata", &ScriptModelPackageLoader::get_metadata);
}

}  // namespace
}  // namespace aoti_remote
