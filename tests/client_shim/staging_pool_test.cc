#include "client_shim/memory/staging_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "client_shim/memory/staging_copy.h"
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

// Pages of `p` (page-aligned) that are resident, by mincore: for a memfd
// mapping, whether the page exists at all.
size_t ResidentPages(const uint8_t* p, uint64_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((bytes + page - 1) / page);
  if (mincore(const_cast<uint8_t*>(p), bytes, resident.data()) != 0) return 0;
  size_t count = 0;
  for (unsigned char r : resident) count += r & 1;
  return count;
}

// A region is faulted in as far as its calls copy, no further and never
// twice: a first call of ten bytes faults in one page of the megabyte.
TEST(StagingPoolTest, RegionsAreFaultedInAsFarAsCallsUseThem) {
  FakeRegistrar registrar;
  StagingPool pool(&registrar);
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const StagingTotals before = ReadStagingTotals();
  // Bytes a call stages, and the pages it should find faulted in.
  const struct {
    uint64_t bytes;
    uint64_t pages;
  } calls[] = {{10, 1}, {3 * page + 5, 4}, {3 * page + 5, 4}, {page, 4}};
  uint64_t written_pages = 0;
  for (const auto& call : calls) {
    absl::StatusOr<StagingPool::Lease> lease =
        pool.Acquire(call.bytes, kDeadline);
    ASSERT_TRUE(lease.ok()) << lease.status();
    EXPECT_EQ(lease->size(), StagingPool::kMinRegionSize);
    // Only the pool and the calls before touched the region: a page is
    // there only if one of them faulted it in (kernels before 5.14 cannot
    // prefault; then only the pages the copies wrote are).
    const StagingTotals after = ReadStagingTotals();
    const uint64_t prefaulted =
        after.prefaulted_bytes - before.prefaulted_bytes;
    const bool can_prefault = prefaulted > 0;
    if (can_prefault) {
      EXPECT_EQ(prefaulted, call.pages * page);
    }
    EXPECT_EQ(ResidentPages(lease->data(), lease->size()),
              can_prefault ? call.pages : written_pages);
    std::memset(lease->data(), 1, call.bytes);
    written_pages = std::max(written_pages, (call.bytes + page - 1) / page);
  }
  const StagingTotals after = ReadStagingTotals();
  EXPECT_EQ(after.regions_created - before.regions_created, 1u);
  EXPECT_EQ(registrar.sizes.size(), 1u);
}

// CopyStreaming's head, body and tail: every length around a line and every
// misalignment of the destination must copy exactly [src, src + n).
TEST(StagingCopyTest, StreamingCopyIsExactForEveryAlignment) {
  std::vector<uint8_t> src(4096 + 256);
  std::iota(src.begin(), src.end(), uint8_t{7});
  for (uint64_t n : {0u, 1u, 15u, 63u, 64u, 65u, 127u, 200u, 4096u}) {
    for (uint64_t misalign : {0u, 1u, 8u, 33u, 63u}) {
      std::vector<uint8_t> dst(src.size() + 128, 0xAB);
      uint8_t* base =
          dst.data() + (64 - reinterpret_cast<uintptr_t>(dst.data()) % 64) % 64;
      CopyStreaming(base + misalign, src.data() + 3, n);
      EXPECT_EQ(std::memcmp(base + misalign, src.data() + 3, n), 0)
          << n << " bytes, misaligned by " << misalign;
      EXPECT_EQ(base[misalign + n], 0xAB) << n << " bytes wrote past the end";
      if (misalign > 0) {
        EXPECT_EQ(base[misalign - 1], 0xAB);
      }
    }
  }
}

TEST(StagingCopyTest, CopiesAreCountedOnBothPaths) {
  const uint64_t big = kNonTemporalCopyBytes + 3;
  std::vector<uint8_t> src(big), dst(big + 64);
  std::iota(src.begin(), src.end(), uint8_t{1});
  const StagingTotals before = ReadStagingTotals();
  CopyToStaging(dst.data() + 1, src.data(), 100);
  const StagingTotals small = ReadStagingTotals();
  EXPECT_EQ(std::memcmp(dst.data() + 1, src.data(), 100), 0);
  // Below kTimedCopyBytes a copy is counted but not timed.
  EXPECT_EQ(small.copy_nanos, before.copy_nanos);
  CopyToStaging(dst.data() + 1, src.data(), big);
  const StagingTotals after = ReadStagingTotals();
  EXPECT_EQ(std::memcmp(dst.data() + 1, src.data(), big), 0);
  EXPECT_EQ(after.copies - before.copies, 2u);
  EXPECT_EQ(after.bytes - before.bytes, 100 + big);
  EXPECT_GT(after.copy_nanos, before.copy_nanos);
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor
