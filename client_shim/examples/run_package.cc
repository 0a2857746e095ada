// The C++ host of the demo: runs an AOTInductor package through
// aoti-executord with aoti_remote::ModelPackageLoader and compares its
// outputs, bit for bit, with a recorded run (a torch.save'd
// {"inputs": [...], "outputs": [...]}, as demo_model.py writes).
//
//   run_package PACKAGE.pt2 EXPECTED.pt [ENDPOINT]
//
// This program links libaoti_remote.so and libtorch, never the custom-op
// library: the daemon runs the ops.
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "aoti_remote/model_package_loader.h"

namespace {

std::vector<at::Tensor> TensorList(const c10::Dict<c10::IValue, c10::IValue>& d,
                                   const std::string& key) {
  std::vector<at::Tensor> tensors;
  for (const c10::IValue& value : d.at(key).toListRef()) {
    tensors.push_back(value.toTensor());
  }
  return tensors;
}

c10::Dict<c10::IValue, c10::IValue> ReadExpected(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)),
                          std::istreambuf_iterator<char>());
  return torch::pickle_load(bytes).toGenericDict();
}

int Run(const std::string& package, const std::string& expected_path,
        const std::string& endpoint) {
  c10::Dict<c10::IValue, c10::IValue> expected = ReadExpected(expected_path);
  aoti_remote::ModelPackageLoader model(package, "model", endpoint);
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> outputs = model.run(TensorList(expected, "inputs"));
  std::vector<at::Tensor> want = TensorList(expected, "outputs");
  bool same = outputs.size() == want.size();
  for (size_t i = 0; same && i < outputs.size(); ++i) {
    same = outputs[i].sizes() == want[i].sizes() &&
           outputs[i].dtype() == want[i].dtype() &&
           torch::equal(outputs[i], want[i]);
  }
  std::printf(
      "c++ host: %s through aoti-executord, %zu output(s): %s the in-process "
      "run\n",
      package.c_str(), outputs.size(),
      same ? "bit for bit equal to" : "DIFFERENT from");
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s PACKAGE.pt2 EXPECTED.pt [ENDPOINT]\n",
                 argv[0]);
    return 2;
  }
  try {
    return Run(argv[1], argv[2], argc == 4 ? argv[3] : "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "run_package: %s\n", e.what());
    return 1;
  }
}
