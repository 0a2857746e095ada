#include "client_shim/memory/staging_pool.h"

#include <vector>

#include "gtest/gtest.h"

namespace aoti_executor {
namespace client {
namespace {

class FakeRegistrar : public StagingPool::Registrar {
 public:
  absl::StatusOr<uint64_t> RegisterRegion(const SharedRegion& region,
                                          absl::Time) override {
    if (fail) return absl::UnavailableError("daemon gone");
    sizes.push_back(region.size());
    return next_id++;
  }
  void ReleaseRegion(uint64_t region_id, absl::Time) override {
    released.push_back(region_id);
  }

  bool fail = false;
  uint64_t next_id = 1;
  std::vector<uint64_t> sizes;
  std::vector<uint64_t> released;
};

const absl::Time kDeadline = absl::InfiniteFuture();

TEST(StagingPoolTest, ReusesOneRegionCallAfterCall) {
  FakeRegistrar registrar;
  StagingPool pool(&registrar);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<StagingPool::Lease> lease = pool.Acquire(100, kDeadline);
    ASSERT_TRUE(lease.ok()) << lease.status();
    EXPECT_EQ(lease->region_id(), 1u);
    EXPECT_EQ(lease->size(), StagingPool::kMinRegionSize);
    lease->data()[99] = 1;
  }
  EXPECT_EQ(registrar.sizes.size(), 1u);
  EXPECT_EQ(pool.region_count(), 1u);
}

TEST(StagingPoolTest, ConcurrentCallsGetTheirOwnRegions) {
  FakeRegistrar registrar;
  StagingPool pool(&registrar);
  {
    auto a = pool.Acquire(10, kDeadline);
    auto b = pool.Acquire(10, kDeadline);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(a->region_id(), b->region_id());
    EXPECT_NE(a->data(), b->data());
  }
  EXPECT_EQ(pool.region_count(), 2u);
  auto c = pool.Acquire(10, kDeadline);
  EXPECT_EQ(registrar.sizes.size(), 2u);
}

TEST(StagingPoolTest, GrowsByReplacingAndReleasingTheOldRegion) {
  FakeRegistrar registrar;
  StagingPool pool(&registrar);
  { ASSERT_TRUE(pool.Acquire(10, kDeadline).ok()); }
  {
    auto big = pool.Acquire(3 * StagingPool::kMinRegionSize + 1, kDeadline);
    ASSERT_TRUE(big.ok());
    EXPECT_GE(big->size(), 3 * StagingPool::kMinRegionSize + 1);
    EXPECT_EQ(big->size() % StagingPool::kGranularity, 0u);
    EXPECT_EQ(big->region_id(), 2u);
  }
  EXPECT_EQ(registrar.released, std::vector<uint64_t>{1});
  EXPECT_EQ(pool.region_count(), 1u);
  // The smallest region that fits is preferred.
  auto small = pool.Acquire(10, kDeadline);
  EXPECT_EQ(small->region_id(), 2u);
}

TEST(StagingPoolTest, RegistrationFailureLeavesThePoolAsItWas) {
  FakeRegistrar registrar;
  StagingPool pool(&registrar);
  { ASSERT_TRUE(pool.Acquire(10, kDeadline).ok()); }
  registrar.fail = true;
  auto big = pool.Acquire(5 * StagingPool::kMinRegionSize, kDeadline);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(big.status().message().find("registering a staging region"),
            std::string::npos);
  EXPECT_TRUE(registrar.released.empty());
  EXPECT_EQ(pool.region_count(), 1u);
  auto again = pool.Acquire(10, kDeadline);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->region_id(), 1u);
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor
