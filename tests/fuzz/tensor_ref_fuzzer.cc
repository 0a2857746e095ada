// Fuzzes TensorRef validation, which every party runs on a reference from a
// peer before it touches a byte: ValidateTensorLayout (over LayoutOfRef), the
// worker's TensorFromRef over a RegionTable, and the shim's WrapOwnedOutput
// and CallInputs::AliasOutput for outputs that passed it.
//
// Input: a region size (2 bytes: 1 to 64 KiB), a flags byte (bit 0: the
// output is owned; bit 1: validate the raw dtype number, unmapped), then a
// serialized TensorRef. Checked against an independent 128-bit computation:
// a layout that passes addresses only bytes inside its region, and the
// tensors made from it lie there too.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client_shim/memory/tensor_wire.h"
#include "proto/executor.pb.h"
#include "server/kernels/serialized_enums.h"
#include "server/shm/region_table.h"
#include "server/shm/shared_region.h"
#include "server/shm/tensor_layout.h"
#include "server/shm/tensor_ref_layout.h"
#include "server/workers/tensor_refs.h"
#include "spdlog/spdlog.h"
#include "tests/fuzz/fuzz_util.h"

namespace aoti_executor {
namespace fuzz {
namespace {

using aoti::executor::v1::TensorRef;
using int128 = __int128;

constexpr uint64_t kRegionId = 7;
constexpr int128 kMaxCopiedElements = int128{1} << 22;

// One past the last byte a valid layout addresses, relative to the region
// (offset for an empty tensor), computed without any possible overflow.
int128 EndOfLastElement(const TensorLayout& layout) {
  const int128 element_size = c10::elementSize(layout.dtype);
  int128 last = layout.storage_offset;
  for (size_t i = 0; i < layout.sizes.size(); ++i) {
    if (layout.sizes[i] == 0) return layout.offset;
    last += static_cast<int128>(layout.sizes[i] - 1) * layout.strides[i];
  }
  return layout.offset + (last + 1) * element_size;
}

void CheckValidLayout(const TensorLayout& layout, uint64_t region_size) {
  FUZZ_CHECK(layout.sizes.size() == layout.strides.size());
  FUZZ_CHECK(layout.storage_offset >= 0);
  for (size_t i = 0; i < layout.sizes.size(); ++i) {
    FUZZ_CHECK(layout.sizes[i] >= 0 && layout.strides[i] >= 0);
  }
  FUZZ_CHECK(layout.offset % c10::elementSize(layout.dtype) == 0);
  FUZZ_CHECK(static_cast<int128>(layout.offset) + layout.byte_size <=
             region_size);
  FUZZ_CHECK(EndOfLastElement(layout) <=
             static_cast<int128>(layout.offset) + layout.byte_size);
  FUZZ_CHECK(TensorExtentBytes(layout) <= layout.byte_size);
}

// Every byte `tensor` addresses lies in `region`.
void CheckInside(const at::Tensor& tensor, const SharedRegion& region) {
  if (tensor.numel() == 0) return;
  const auto* first = static_cast<const uint8_t*>(tensor.data_ptr());
  int128 span = 1;
  for (int64_t d = 0; d < tensor.dim(); ++d) {
    span += static_cast<int128>(tensor.size(d) - 1) * tensor.stride(d);
  }
  FUZZ_CHECK(first >= region.data());
  FUZZ_CHECK(static_cast<int128>(first - region.data()) +
                 span * tensor.element_size() <=
             static_cast<int128>(region.size()));
}

void WorkerSide(const TensorRef& ref,
                const std::shared_ptr<SharedRegion>& region) {
  RegionTable regions;
  FUZZ_CHECK(regions.Add(kRegionId, region).ok());
  absl::StatusOr<at::Tensor> tensor;
  try {
    tensor = TensorFromRef(regions, ref);
  } catch (const std::exception&) {
    return;  // WorkerLoop::Run turns it into the call's error
  }
  if (tensor.ok()) CheckInside(*tensor, *region);
}

int128 Numel(const TensorRef& ref) {
  int128 numel = 1;
  for (int64_t size : ref.sizes()) {
    numel *= size;
    if (numel > kMaxCopiedElements) return numel;  // and never overflows
  }
  return numel;
}

void ClientSide(const TensorRef& ref, c10::ScalarType dtype,
                const std::shared_ptr<SharedRegion>& region) {
  if (ref.owned()) {
    int freed = 0;
    {
      at::Tensor tensor =
          client::WrapOwnedOutput(ref, dtype, region, [&freed] { ++freed; });
      CheckInside(tensor, *region);
    }
    FUZZ_CHECK(freed == 1);
    return;
  }
  // A copy of an output made of a few bytes repeated (stride 0) costs its
  // full size: a memory limit, not a bug, and not this target's subject.
  if (Numel(ref) > kMaxCopiedElements) return;
  auto inputs = client::CallInputs::Plan({}, nullptr);
  FUZZ_CHECK(inputs.ok());
  auto tensor = inputs->AliasOutput(ref, dtype, kRegionId, region->data());
  if (tensor.ok()) {
    FUZZ_CHECK(tensor->numel() == 0 ||
               tensor->sizes() ==
                   c10::IntArrayRef(ref.sizes().data(), ref.sizes_size()));
  }
}

}  // namespace
}  // namespace fuzz
}  // namespace aoti_executor

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aoti_executor;
  using namespace aoti_executor::fuzz;
  FuzzReader in(data, size);
  const uint64_t region_size = uint64_t{in.Int<uint16_t>()} + 1;
  const uint8_t flags = in.Byte();
  aoti::executor::v1::TensorRef ref;
  const absl::string_view bytes = in.Rest();
  if (!ref.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return 0;
  }
  ref.set_region_id(kRegionId);
  ref.set_owned(flags & 1);
  auto dtype = ScalarTypeFromSerialized(ref.dtype());
  if (flags & 2) {
    // Any number a peer could put there, as if unmapped: refused or sound.
    TensorLayout raw = LayoutOfRef(
        ref, static_cast<c10::ScalarType>(static_cast<int8_t>(ref.dtype())));
    if (ValidateTensorLayout(raw, region_size).ok()) {
      CheckValidLayout(raw, region_size);
    }
  }
  if (!dtype.ok()) return 0;
  const TensorLayout layout = LayoutOfRef(ref, *dtype);
  if (!ValidateTensorLayout(layout, region_size).ok()) return 0;
  CheckValidLayout(layout, region_size);

  auto region = SharedRegion::Create("tensor-ref-fuzz", region_size);
  FUZZ_CHECK(region.ok());
  auto shared = std::make_shared<SharedRegion>(*std::move(region));
  WorkerSide(ref, shared);
  try {
    ClientSide(ref, *dtype, shared);
  } catch (const std::exception&) {
    // Session::ResolveOutputs turns it into the call's error.
  }
  return 0;
}
