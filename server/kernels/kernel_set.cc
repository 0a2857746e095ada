#include "server/kernels/kernel_set.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "server/common/status_macros.h"
#include "server/kernels/serialized_argument.h"

namespace aoti_executor {

absl::StatusOr<KernelSet> KernelSet::Parse(absl::string_view json,
                                           c10::Device device) {
  rapidjson::Document document;
  // Python's json.dumps writes non-finite floats as bare NaN / Infinity.
  document.Parse<rapidjson::kParseNanAndInfFlag>(json.data(), json.size());
  if (document.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extern kernel JSON is malformed at offset ", document.GetErrorOffset(),
        ": ", rapidjson::GetParseError_En(document.GetParseError())));
  }
  auto nodes = GetArrayMember(document, "nodes");
  if (!nodes.ok()) return WithContext(nodes.status(), "extern kernel JSON");

  KernelSet set(device);
  set.kernels_.reserve((*nodes)->Size());
  for (rapidjson::SizeType i = 0; i < (*nodes)->Size(); ++i) {
    AOTI_ASSIGN_OR_RETURN(
        OpKernel kernel,
        OpKernel::FromJson(static_cast<int>(i), (**nodes)[i], device));
    set.kernels_.push_back(std::move(kernel));
  }
  return set;
}

absl::StatusOr<KernelSet> KernelSet::Load(const std::string& path,
                                          c10::Device device) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(
        absl::StrCat("cannot open extern kernel JSON '", path, "'"));
  }
  std::ostringstream text;
  text << file.rdbuf();
  auto set = Parse(text.str(), device);
  if (!set.ok()) return WithContext(set.status(), path);
  return set;
}

absl::StatusOr<const OpKernel*> KernelSet::Find(
    int64_t extern_node_index) const {
  if (extern_node_index < 0 ||
      extern_node_index >= static_cast<int64_t>(kernels_.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extern node index ", extern_node_index,
        " is out of range: the kernel set has ", kernels_.size(), " nodes"));
  }
  return &kernels_[extern_node_index];
}

}  // namespace aoti_executor
