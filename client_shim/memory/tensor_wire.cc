#include "client_shim/memory/tensor_wire.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/Storage.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client_shim/memory/staging_copy.h"
#include "server/common/status_macros.h"
#include "server/kernels/serialized_enums.h"
#include "server/shm/tensor_layout.h"

namespace aoti_executor {
namespace client {
namespace {

c10::IntArrayRef Ints(const google::protobuf::RepeatedField<int64_t>& values) {
  return c10::IntArrayRef(values.data(), values.size());
}

uint64_t RoundUp(uint64_t n, uint64_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

// What an owned output's storage holds on to.
struct OutputBlockContext {
  std::shared_ptr<SharedRegion> region;
  std::function<void()> on_free;
};

void DeleteOutputBlock(void* context) {
  auto* block = static_cast<OutputBlockContext*>(context);
  try {
    if (block->on_free) block->on_free();
  } catch (...) {
    // A deleter must not throw; the worst case is a block the daemon frees
    // only when the session ends.
  }
  delete block;
}

// A tensor over `storage` with the ref's geometry.
at::Tensor OverStorage(c10::Storage storage, int64_t storage_offset,
                       const v1::TensorRef& ref, c10::ScalarType dtype) {
  at::Tensor tensor = at::empty({0}, at::TensorOptions().dtype(dtype));
  tensor.set_(std::move(storage), storage_offset, Ints(ref.sizes()),
              Ints(ref.strides()));
  return tensor;
}

}  // namespace

uint64_t AddressedBytes(const at::Tensor& tensor) {
  return ElementSpanBytes(tensor.sizes(), tensor.strides(),
                          tensor.element_size());
}

absl::StatusOr<CallInputs> CallInputs::Plan(
    absl::Span<at::Tensor* const> inputs, const RegionFinder& find) {
  CallInputs plan;
  plan.inputs_.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const at::Tensor& tensor = *inputs[i];
    const std::string which = absl::StrCat("input tensor ", i);
    if (!tensor.defined()) {
      return absl::InvalidArgumentError(absl::StrCat(which, " is undefined"));
    }
    if (!tensor.device().is_cpu()) {
      return absl::UnimplementedError(
          absl::StrCat(which, " is on ", tensor.device().str(),
                       ": only CPU tensors cross to the daemon so far"));
    }
    if (tensor.layout() != c10::kStrided) {
      return absl::InvalidArgumentError(
          absl::StrCat(which, " has layout ", c10::toString(tensor.layout()),
                       ": only strided tensors cross to the daemon"));
    }
    if (static_cast<size_t>(tensor.dim()) > kMaxTensorDims) {
      return absl::InvalidArgumentError(
          absl::StrCat(which, " has ", tensor.dim(), " dimensions, at most ",
                       kMaxTensorDims, " cross to the daemon"));
    }
    absl::StatusOr<int64_t> wire_dtype =
        SerializedFromScalarType(tensor.scalar_type());
    if (!wire_dtype.ok()) return WithContext(wire_dtype.status(), which);

    Input input;
    input.tensor = inputs[i];
    input.wire_dtype = static_cast<int32_t>(*wire_dtype);
    input.bytes = AddressedBytes(tensor);
    input.start = input.bytes == 0
                      ? nullptr
                      : static_cast<const uint8_t*>(tensor.data_ptr());
    absl::optional<KnownRegion> region;
    if (input.bytes > 0 && find) region = find(input.start, input.bytes);
    if (region.has_value()) {
      input.region_id = region->region_id;
      input.region_base = region->region->data();
    } else {
      input.staged = true;
      plan.needs_staging_ = true;
    }
    plan.inputs_.push_back(input);
  }
  plan.MergeExtents();
  return plan;
}

void CallInputs::MergeExtents() {
  std::vector<size_t> order;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (inputs_[i].staged && inputs_[i].bytes > 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [this](size_t a, size_t b) {
    return inputs_[a].start < inputs_[b].start;
  });
  const uint8_t* end = nullptr;
  for (size_t i : order) {
    Input& input = inputs_[i];
    const uint8_t* input_end = input.start + input.bytes;
    if (extents_.empty() || input.start >= end) {
      extents_.push_back(Extent{input.start, input.bytes, 0});
      end = input_end;
    } else if (input_end > end) {
      end = input_end;
      extents_.back().bytes =
          static_cast<uint64_t>(end - extents_.back().start);
    }
    input.extent = extents_.size() - 1;
  }
  uint64_t cursor = 0;
  for (Extent& extent : extents_) {
    const uint64_t misalignment =
        reinterpret_cast<uintptr_t>(extent.start) % kStagingAlignment;
    extent.staging_offset = RoundUp(cursor, kStagingAlignment) + misalignment;
    cursor = extent.staging_offset + extent.bytes;
  }
  staging_bytes_ = cursor;
}

void CallInputs::Stage(
    uint64_t staging_region_id, uint8_t* staging,
    google::protobuf::RepeatedPtrField<v1::TensorRef>* refs) {
  staging_region_id_ = staging_region_id;
  staging_ = staging;
  for (const Extent& extent : extents_) {
    CopyToStaging(staging + extent.staging_offset, extent.start, extent.bytes);
  }
  for (const Input& input : inputs_) {
    v1::TensorRef* ref = refs->Add();
    const at::Tensor& tensor = *input.tensor;
    ref->set_dtype(input.wire_dtype);
    ref->mutable_sizes()->Add(tensor.sizes().begin(), tensor.sizes().end());
    ref->mutable_strides()->Add(tensor.strides().begin(),
                                tensor.strides().end());
    ref->set_storage_offset(0);
    ref->set_device("cpu");
    ref->set_byte_size(input.bytes);
    if (!input.staged) {
      ref->set_region_id(input.region_id);
      ref->set_offset(static_cast<uint64_t>(input.start - input.region_base));
    } else if (input.bytes == 0) {
      ref->set_region_id(staging_region_id);
      ref->set_offset(0);
    } else {
      ref->set_region_id(staging_region_id);
      ref->set_offset(StagingOffset(extents_[input.extent], input.start));
    }
  }
}

absl::Status CallInputs::CopyBack(absl::Span<const int32_t> mutated) const {
  for (int32_t index : mutated) {
    if (index < 0 || static_cast<size_t>(index) >= inputs_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mutated input index ", index,
                       " is out of range: ", inputs_.size(), " inputs"));
    }
    const Input& input = inputs_[index];
    if (!input.staged || input.bytes == 0) continue;
    at::Tensor& tensor = *input.tensor;
    uint8_t* source =
        staging_ + StagingOffset(extents_[input.extent], input.start);
    at::Tensor staged = at::from_blob(source, tensor.sizes(), tensor.strides(),
                                      tensor.options().requires_grad(false));
    c10::NoGradGuard no_grad;
    tensor.copy_(staged);
  }
  return absl::OkStatus();
}

absl::StatusOr<at::Tensor> CallInputs::AliasOutput(
    const v1::TensorRef& ref, c10::ScalarType dtype, uint64_t region_id,
    const uint8_t* region_base) const {
  const size_t element_size = c10::elementSize(dtype);
  const uint64_t first =
      ref.offset() + static_cast<uint64_t>(ref.storage_offset()) * element_size;
  const uint64_t bytes =
      ElementSpanBytes(Ints(ref.sizes()), Ints(ref.strides()), element_size);
  if (bytes == 0) {
    return at::empty_strided(Ints(ref.sizes()), Ints(ref.strides()),
                             at::TensorOptions().dtype(dtype));
  }
  const bool in_staging =
      staging_ != nullptr && region_id == staging_region_id_;
  // The client address the output's first element stands for.
  const uint8_t* address = nullptr;
  if (in_staging) {
    for (const Extent& extent : extents_) {
      if (first >= extent.staging_offset &&
          first + bytes <= extent.staging_offset + extent.bytes) {
        address = extent.start + (first - extent.staging_offset);
        break;
      }
    }
  } else {
    address = region_base + first;
  }
  if (address != nullptr) {
    for (const Input& input : inputs_) {
      const c10::Storage& storage = input.tensor->storage();
      const auto* begin = static_cast<const uint8_t*>(storage.data());
      if (begin == nullptr || address < begin ||
          address + bytes > begin + storage.nbytes() ||
          static_cast<uint64_t>(address - begin) % element_size != 0) {
        continue;
      }
      return OverStorage(storage,
                         static_cast<int64_t>((address - begin) / element_size),
                         ref, dtype);
    }
  }
  // No input holds it: copy, since a staging region is reused by later calls.
  const uint8_t* source = in_staging ? staging_ : region_base;
  at::Tensor view =
      at::from_blob(const_cast<uint8_t*>(source) + first, Ints(ref.sizes()),
                    Ints(ref.strides()), at::TensorOptions().dtype(dtype));
  return view.clone();
}

size_t CallInputs::staged_count() const {
  return std::count_if(inputs_.begin(), inputs_.end(),
                       [](const Input& input) { return input.staged; });
}

at::Tensor WrapOwnedOutput(const v1::TensorRef& ref, c10::ScalarType dtype,
                           std::shared_ptr<SharedRegion> region,
                           std::function<void()> on_free) {
  uint8_t* data = region->data() + ref.offset();
  auto* context = new OutputBlockContext{std::move(region), std::move(on_free)};
  c10::DataPtr data_ptr(data, context, &DeleteOutputBlock,
                        c10::Device(c10::kCPU));
  c10::Storage storage(c10::Storage::use_byte_size_t(), ref.byte_size(),
                       std::move(data_ptr), /*allocator=*/nullptr,
                       /*resizable=*/false);
  return OverStorage(std::move(storage), ref.storage_offset(), ref, dtype);
}

}  // namespace client
}  // namespace aoti_executor
