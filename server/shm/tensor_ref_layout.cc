#include "server/shm/tensor_ref_layout.h"

namespace aoti_executor {

TensorLayout LayoutOfRef(const aoti::executor::v1::TensorRef& ref,
                         c10::ScalarType dtype) {
  TensorLayout layout;
  layout.offset = ref.offset();
  layout.byte_size = ref.byte_size();
  layout.dtype = dtype;
  layout.sizes.assign(ref.sizes().begin(), ref.sizes().end());
  layout.strides.assign(ref.strides().begin(), ref.strides().end());
  layout.storage_offset = ref.storage_offset();
  return layout;
}

}  // namespace aoti_executor
