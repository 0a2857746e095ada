// at::Tensor <-> TensorRef for one call: how the inputs of a call travel
// (by reference when they already lie in a region, else copied into staging
// with one copy per extent: staging_copy.h) and how its outputs come back
// (wrapped in place, or as views of the caller's own tensors when they alias an
// input).
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_TENSOR_WIRE_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_TENSOR_WIRE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "client_shim/memory/output_regions.h"
#include "proto/executor.pb.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {
namespace client {

namespace v1 = ::aoti::executor::v1;

// Bytes from a tensor's first element to the end of its last (0 if it has no
// elements).
uint64_t AddressedBytes(const at::Tensor& tensor);

// Where a staged extent goes: each staging offset keeps its source address's
// alignment modulo this, so every element stays aligned.
inline constexpr uint64_t kStagingAlignment = 64;

// The inputs of one call, planned, staged and, after the call, written back.
class CallInputs {
 public:
  // The region, if any, that holds [p, p + n) and can carry an input by
  // reference.
  using RegionFinder =
      std::function<absl::optional<KnownRegion>(const void* p, uint64_t n)>;

  // Checks every input (defined, on the CPU, strided, of a dtype the wire
  // has) and decides how it travels: by reference when `find` knows a region
  // that holds it, else staged. Inputs whose extents overlap (views of one
  // buffer) are staged together, so they still alias on the other side.
  // `inputs` must outlive this object.
  static absl::StatusOr<CallInputs> Plan(absl::Span<at::Tensor* const> inputs,
                                         const RegionFinder& find);

  // Whether any input needs a staging region, and how many bytes.
  bool needs_staging() const { return needs_staging_; }
  uint64_t staging_bytes() const { return staging_bytes_; }

  // Copies every staged extent into `staging` (one CopyToStaging each; it must
  // hold staging_bytes()) and appends one TensorRef per input, in order, to
  // `refs`.
  void Stage(uint64_t staging_region_id, uint8_t* staging,
             google::protobuf::RepeatedPtrField<v1::TensorRef>* refs);

  // After a successful call: copies each input of `mutated` (indices into
  // the inputs) that was staged back into the caller's tensor.
  // InvalidArgument for an index out of range.
  absl::Status CopyBack(absl::Span<const int32_t> mutated) const;

  // An output that aliases client memory (TensorRef.owned false) in the
  // region `region_id`, mapped at `region_base`: a view of the caller's input
  // tensor that holds those bytes, as in-process execution would return it;
  // failing that, a copy. The TensorRef must have passed
  // ValidateTensorLayout against the region.
  absl::StatusOr<at::Tensor> AliasOutput(const v1::TensorRef& ref,
                                         c10::ScalarType dtype,
                                         uint64_t region_id,
                                         const uint8_t* region_base) const;

  size_t staged_count() const;
  size_t extent_count() const { return extents_.size(); }

 private:
  struct Input {
    at::Tensor* tensor = nullptr;
    int32_t wire_dtype = 0;
    const uint8_t* start = nullptr;  // first element
    uint64_t bytes = 0;              // AddressedBytes
    bool staged = false;
    // By reference: the region. Staged: unused.
    uint64_t region_id = 0;
    const uint8_t* region_base = nullptr;
    // Staged, non-empty: its extent in extents_.
    size_t extent = 0;
  };
  // A span of client memory copied into staging in one piece.
  struct Extent {
    const uint8_t* start = nullptr;
    uint64_t bytes = 0;
    uint64_t staging_offset = 0;
  };

  CallInputs() = default;
  void MergeExtents();
  // The staging offset of client address `p`, which lies in extent `e`.
  uint64_t StagingOffset(const Extent& e, const uint8_t* p) const {
    return e.staging_offset + static_cast<uint64_t>(p - e.start);
  }

  std::vector<Input> inputs_;
  std::vector<Extent> extents_;
  bool needs_staging_ = false;
  uint64_t staging_bytes_ = 0;
  uint64_t staging_region_id_ = 0;
  uint8_t* staging_ = nullptr;  // set by Stage
};

// An output block the daemon handed over (TensorRef.owned), wrapped without a
// copy. The tensor's storage holds `region` mapped; when the storage dies,
// `on_free` runs (it queues the block's release). The TensorRef must have
// passed ValidateTensorLayout against `region`.
at::Tensor WrapOwnedOutput(const v1::TensorRef& ref, c10::ScalarType dtype,
                           std::shared_ptr<SharedRegion> region,
                           std::function<void()> on_free);

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_TENSOR_WIRE_H_
