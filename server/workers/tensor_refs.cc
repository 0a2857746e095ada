#include "server/workers/tensor_refs.h"

#include <ATen/ops/from_blob.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/kernels/serialized_enums.h"
#include "server/shm/tensor_layout.h"
#include "server/shm/tensor_ref_layout.h"
#include "server/workers/output_allocator.h"

namespace aoti_executor {

using aoti::executor::v1::TensorRef;

absl::StatusOr<at::Tensor> TensorFromRef(const RegionTable& regions,
                                         const TensorRef& ref) {
  if (!ref.device().empty() && ref.device() != "cpu") {
    return absl::UnimplementedError(absl::StrCat(
        "tensors on device '", ref.device(), "' are not supported yet"));
  }
  AOTI_ASSIGN_OR_RETURN(c10::ScalarType dtype,
                        ScalarTypeFromSerialized(ref.dtype()));
  AOTI_ASSIGN_OR_RETURN(std::shared_ptr<SharedRegion> region,
                        regions.Find(ref.region_id()));
  const TensorLayout layout = LayoutOfRef(ref, dtype);
  AOTI_RETURN_IF_ERROR(ValidateTensorLayout(layout, region->size()));
  uint8_t* storage = region->data() + ref.offset();
  return at::for_blob(storage, layout.sizes)
      .strides(layout.strides)
      .storage_offset(layout.storage_offset)
      .deleter([region](void*) {})  // holds the mapping while the tensor lives
      .options(at::TensorOptions().dtype(dtype))
      .make_tensor();
}

absl::StatusOr<TensorRef> RefFromOutput(const RegionTable& regions,
                                        OutputArena& arena,
                                        const at::Tensor& output,
                                        uint64_t* bytes_copied) {
  if (!output.defined()) {
    return absl::InternalError("the op returned an undefined tensor");
  }
  if (!output.device().is_cpu() || output.layout() != c10::kStrided) {
    return absl::UnimplementedError(
        absl::StrCat("outputs on ", output.device().str(), " with layout ",
                     c10::toString(output.layout()), " are not supported yet"));
  }
  AOTI_ASSIGN_OR_RETURN(int64_t dtype,
                        SerializedFromScalarType(output.scalar_type()));
  TensorRef ref;
  ref.set_dtype(static_cast<int32_t>(dtype));
  ref.set_device("cpu");
  for (int64_t size : output.sizes()) ref.add_sizes(size);
  for (int64_t stride : output.strides()) ref.add_strides(stride);

  const c10::Storage& storage = output.storage();
  // Allocated straight into the arena while the op ran: no copy at all.
  if (auto block = OutputAllocator::HandToClient(storage)) {
    ref.set_region_id(block->region_id);
    ref.set_offset(block->offset);
    ref.set_byte_size(storage.nbytes());
    ref.set_storage_offset(output.storage_offset());
    ref.set_owned(true);
    return ref;
  }
  uint64_t region_id = 0;
  auto* storage_begin = static_cast<const uint8_t*>(storage.data());
  if (auto region =
          regions.FindContaining(storage_begin, storage.nbytes(), &region_id)) {
    ref.set_region_id(region_id);
    ref.set_offset(storage_begin - region->data());
    ref.set_byte_size(storage.nbytes());
    ref.set_storage_offset(output.storage_offset());
    ref.set_owned(false);
    return ref;
  }

  TensorLayout layout;
  layout.dtype = output.scalar_type();
  layout.sizes.assign(output.sizes().begin(), output.sizes().end());
  layout.strides.assign(output.strides().begin(), output.strides().end());
  const uint64_t extent = TensorExtentBytes(layout);
  AOTI_ASSIGN_OR_RETURN(OutputArena::Block block, arena.Allocate(extent));
  if (extent > 0) std::memcpy(block.data, output.data_ptr(), extent);
  *bytes_copied += extent;
  ref.set_region_id(block.region_id);
  ref.set_offset(block.offset);
  ref.set_byte_size(extent);
  ref.set_storage_offset(0);
  ref.set_owned(true);
  return ref;
}

}  // namespace aoti_executor
