#include "client_shim/memory/tensor_wire.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "client_shim/memory/staging_copy.h"
#include "gtest/gtest.h"
#include "server/kernels/serialized_enums.h"

namespace aoti_executor {
namespace client {
namespace {

// A 64-byte-aligned buffer standing in for a staging region.
struct Staging {
  explicit Staging(uint64_t bytes)
      : data(static_cast<uint8_t*>(
            std::aligned_alloc(64, (bytes + 127) / 64 * 64))) {}
  ~Staging() { std::free(data); }
  uint8_t* data;
};

CallInputs Plan(std::vector<at::Tensor*> inputs,
                CallInputs::RegionFinder find = nullptr) {
  absl::StatusOr<CallInputs> plan =
      CallInputs::Plan(absl::MakeConstSpan(inputs), find);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *std::move(plan);
}

// An extent past kNonTemporalCopyBytes takes the streaming copy; a view that
// starts off a line boundary exercises its head and tail.
TEST(TensorWireTest, LargeStagedExtentsArriveIntact) {
  const int64_t numel =
      static_cast<int64_t>(kNonTemporalCopyBytes / sizeof(float)) + 1000;
  at::Tensor base = at::rand({numel + 7});
  at::Tensor view = base.narrow(0, 3, numel);
  at::Tensor small = at::arange(10, at::kFloat);
  CallInputs plan = Plan({&view, &small});
  ASSERT_EQ(plan.extent_count(), 2u);
  Staging staging(plan.staging_bytes());
  google::protobuf::RepeatedPtrField<v1::TensorRef> refs;
  plan.Stage(4, staging.data, &refs);
  ASSERT_EQ(refs.size(), 2);
  at::Tensor staged = at::from_blob(staging.data + refs[0].offset(), {numel},
                                    at::TensorOptions().dtype(at::kFloat));
  EXPECT_TRUE(at::equal(staged, view));
  EXPECT_EQ(std::memcmp(staging.data + refs[1].offset(), small.data_ptr(),
                        10 * sizeof(float)),
            0);
}

TEST(TensorWireTest, AddressedBytesCoversStridesAndOffsets) {
  at::Tensor base = at::zeros({4, 6});
  EXPECT_EQ(AddressedBytes(base), 24u * 4);
  EXPECT_EQ(AddressedBytes(base.t()), 24u * 4);
  EXPECT_EQ(AddressedBytes(base.select(1, 2)), (3u * 6 + 1) * 4);
  EXPECT_EQ(AddressedBytes(base.narrow(0, 1, 2)), 12u * 4);
  EXPECT_EQ(AddressedBytes(at::zeros({0, 3})), 0u);
  EXPECT_EQ(AddressedBytes(at::zeros({})), 4u);
  EXPECT_EQ(AddressedBytes(at::zeros({1}).expand({1000})), 4u);
}

TEST(TensorWireTest, OverlappingViewsAreStagedOnceAndStillAlias) {
  at::Tensor base = at::arange(32, at::kFloat);
  at::Tensor head = base.narrow(0, 0, 20);
  at::Tensor tail = base.narrow(0, 10, 22);
  at::Tensor other = at::arange(5, at::kInt);
  CallInputs plan = Plan({&head, &tail, &other});
  EXPECT_TRUE(plan.needs_staging());
  EXPECT_EQ(plan.staged_count(), 3u);
  EXPECT_EQ(plan.extent_count(), 2u);
  EXPECT_LE(plan.staging_bytes(), 32u * 4 + 5 * 4 + 2 * kStagingAlignment);

  Staging staging(plan.staging_bytes());
  google::protobuf::RepeatedPtrField<v1::TensorRef> refs;
  plan.Stage(9, staging.data, &refs);
  ASSERT_EQ(refs.size(), 3);
  EXPECT_EQ(refs[0].region_id(), 9u);
  EXPECT_EQ(refs[1].offset() - refs[0].offset(), 10u * 4);
  EXPECT_EQ(refs[0].byte_size(), 20u * 4);
  EXPECT_EQ(refs[1].byte_size(), 22u * 4);
  EXPECT_EQ(refs[2].byte_size(), 5u * 4);
  EXPECT_EQ(refs[2].dtype(), SerializedFromScalarType(at::kInt).value());
  for (int i = 0; i < 3; ++i) {
    // Each staged copy keeps its source's alignment.
    const auto* source = static_cast<const uint8_t*>((i == 0   ? head
                                                      : i == 1 ? tail
                                                               : other)
                                                         .data_ptr());
    EXPECT_EQ(refs[i].offset() % kStagingAlignment,
              reinterpret_cast<uintptr_t>(source) % kStagingAlignment);
  }
  EXPECT_EQ(
      std::memcmp(staging.data + refs[1].offset(), tail.data_ptr(), 22 * 4), 0);
  EXPECT_EQ(
      std::memcmp(staging.data + refs[2].offset(), other.data_ptr(), 5 * 4), 0);
}

TEST(TensorWireTest, StridedInputTravelsWithItsStrides) {
  at::Tensor base = at::arange(12, at::kDouble).reshape({3, 4});
  at::Tensor column = base.select(1, 1);  // strides {4}, data at base + 1
  CallInputs plan = Plan({&column});
  Staging staging(plan.staging_bytes());
  google::protobuf::RepeatedPtrField<v1::TensorRef> refs;
  plan.Stage(1, staging.data, &refs);
  ASSERT_EQ(refs.size(), 1);
  EXPECT_EQ(refs[0].strides(0), 4);
  EXPECT_EQ(refs[0].storage_offset(), 0);
  EXPECT_EQ(refs[0].byte_size(), (2u * 4 + 1) * 8);
  at::Tensor seen =
      at::from_blob(staging.data + refs[0].offset(), {3}, {4}, at::kDouble);
  EXPECT_TRUE(at::equal(seen, column));
}

TEST(TensorWireTest, InputInsideAKnownRegionGoesByReference) {
  auto region = std::make_shared<SharedRegion>(
      SharedRegion::Create("test", 4096).value());
  at::Tensor inside = at::from_blob(region->data() + 256, {8}, at::kFloat);
  at::Tensor outside = at::ones({8});
  at::Tensor empty = at::ones({0});
  CallInputs plan =
      Plan({&inside, &outside, &empty}, [&](const void* p, uint64_t n) {
        return region->Contains(p, n)
                   ? absl::make_optional(KnownRegion{77, region})
                   : absl::nullopt;
      });
  EXPECT_EQ(plan.staged_count(), 2u);
  Staging staging(plan.staging_bytes());
  google::protobuf::RepeatedPtrField<v1::TensorRef> refs;
  plan.Stage(3, staging.data, &refs);
  EXPECT_EQ(refs[0].region_id(), 77u);
  EXPECT_EQ(refs[0].offset(), 256u);
  EXPECT_EQ(refs[0].byte_size(), 32u);
  EXPECT_EQ(refs[1].region_id(), 3u);
  EXPECT_EQ(refs[2].region_id(), 3u);
  EXPECT_EQ(refs[2].byte_size(), 0u);
}

TEST(TensorWireTest, RejectsInputsTheWireCannotCarry) {
  at::Tensor undefined;
  std::vector<at::Tensor*> inputs = {&undefined};
  absl::StatusOr<CallInputs> plan =
      CallInputs::Plan(absl::MakeConstSpan(inputs), nullptr);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("input tensor 0 is undefined"),
            std::string::npos);

  at::Tensor ok = at::ones({2});
  at::Tensor sparse = at::ones({2, 2}).to_sparse();
  inputs = {&ok, &sparse};
  plan = CallInputs::Plan(absl::MakeConstSpan(inputs), nullptr);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("input tensor 1 has layout"),
            std::string::npos)
      << plan.status();
}

TEST(TensorWireTest, CopyBackWritesOnlyTheMutatedElements) {
  at::Tensor base = at::zeros({4, 4});
  at::Tensor diagonal = base.diagonal();
  at::Tensor untouched = at::zeros({3});
  CallInputs plan = Plan({&diagonal, &untouched});
  Staging staging(plan.staging_bytes());
  google::protobuf::RepeatedPtrField<v1::TensorRef> refs;
  plan.Stage(1, staging.data, &refs);
  // The "daemon" writes through the staged views, including the gaps.
  std::memset(staging.data, 0, plan.staging_bytes());
  at::from_blob(staging.data + refs[0].offset(), {4}, {5}, at::kFloat).fill_(3);
  at::from_blob(staging.data + refs[1].offset(), {3}, at::kFloat).fill_(9);
  base.fill_(1);  // the gaps must keep the caller's values
  const int32_t mutated[] = {0};
  ASSERT_TRUE(plan.CopyBack(mutated).ok());
  EXPECT_TRUE(at::equal(diagonal, at::full({4}, 3.0)));
  EXPECT_EQ(base.sum().item<float>(), 4 * 3 + 12 * 1);
  EXPECT_TRUE(at::equal(untouched, at::zeros({3})));  // not in `mutated`

  const int32_t bad[] = {2};
  absl::Status status = plan.CopyBack(bad);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorWireTest, AliasOutputIsAViewOrElseACopy) {
  at::Tensor x = at::arange(8, at::kFloat);
  CallInputs plan = Plan({&x});
  Staging staging(plan.staging_bytes());
  google::protobuf::RepeatedPtrField<v1::TensorRef> refs;
  plan.Stage(5, staging.data, &refs);

  v1::TensorRef alias = refs[0];
  alias.set_storage_offset(2);
  alias.set_sizes(0, 3);
  absl::StatusOr<at::Tensor> view =
      plan.AliasOutput(alias, at::kFloat, 5, staging.data);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->data_ptr(), x.narrow(0, 2, 3).data_ptr());
  EXPECT_TRUE(view->is_alias_of(x));

  // Reinterpreted at an offset no int64 view of x can have: copied.
  v1::TensorRef odd = refs[0];
  odd.set_offset(refs[0].offset() + 4);
  odd.set_byte_size(16);
  odd.set_sizes(0, 2);
  absl::StatusOr<at::Tensor> copy =
      plan.AliasOutput(odd, at::kLong, 5, staging.data);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_FALSE(copy->is_alias_of(x));
  EXPECT_EQ(std::memcmp(copy->data_ptr(), x.narrow(0, 1, 4).data_ptr(), 16), 0);
}

TEST(TensorWireTest, OwnedOutputKeepsItsRegionAndReportsItsDeath) {
  auto region = std::make_shared<SharedRegion>(
      SharedRegion::Create("test", 4096).value());
  at::from_blob(region->data() + 128, {6}, at::kFloat).copy_(at::arange(6));
  v1::TensorRef ref;
  ref.set_region_id(1);
  ref.set_offset(128);
  ref.set_byte_size(24);
  ref.add_sizes(2);
  ref.add_sizes(2);
  ref.add_strides(1);
  ref.add_strides(2);
  ref.set_storage_offset(1);
  int freed = 0;
  std::weak_ptr<SharedRegion> weak = region;
  at::Tensor out =
      WrapOwnedOutput(ref, at::kFloat, std::move(region), [&] { ++freed; });
  EXPECT_TRUE(at::equal(out, at::arange(1, 5, at::kFloat).reshape({2, 2}).t()));
  at::Tensor view = out.select(0, 1);
  out = at::Tensor();
  EXPECT_EQ(freed, 0);
  EXPECT_FALSE(weak.expired());
  view = at::Tensor();
  EXPECT_EQ(freed, 1);
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor
