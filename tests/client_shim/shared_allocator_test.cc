// The shared CPU allocator (client_shim/memory/shared_allocator.h): which
// tensors land in sealed memfds, lookup by address, reuse of freed regions, the
// cache's bounds, threads, and its C entry point.
#include "client_shim/memory/shared_allocator.h"

#include <ATen/ATen.h>
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "aoti_remote/executor.h"
#include "gtest/gtest.h"

namespace aoti_executor {
namespace client {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (readdir(dir) != nullptr) ++count;
  closedir(dir);
  return count;
}

std::string FdTarget(int fd) {
  char target[256];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t length = readlink(link.c_str(), target, sizeof(target) - 1);
  if (length < 0) return "";
  return std::string(target, static_cast<size_t>(length));
}

absl::optional<SharedAllocation> FindTensor(const at::Tensor& tensor) {
  return FindSharedAllocation(tensor.data_ptr(), tensor.nbytes());
}

class SharedAllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InstallSharedAllocator().ok()); }
};

TEST_F(SharedAllocatorTest, InstallIsIdempotent) {
  c10::Allocator* allocator = c10::GetAllocator(c10::DeviceType::CPU);
  EXPECT_TRUE(SharedAllocatorInstalled());
  EXPECT_TRUE(InstallSharedAllocator().ok());
  EXPECT_EQ(aoti_remote_install_shared_allocator(), AOTI_TORCH_SUCCESS);
  EXPECT_EQ(aoti_remote_install_shared_allocator(), AOTI_TORCH_SUCCESS);
  EXPECT_STREQ(aoti_remote_last_error(), "");
  EXPECT_EQ(c10::GetAllocator(c10::DeviceType::CPU), allocator);
  EXPECT_TRUE(SharedAllocatorInstalled());
}

TEST_F(SharedAllocatorTest, LargeTensorLivesInASealedMemfd) {
  at::Tensor tensor = at::empty({kMiB}, at::kFloat);
  absl::optional<SharedAllocation> allocation = FindTensor(tensor);
  ASSERT_TRUE(allocation.has_value());
  EXPECT_EQ(allocation->offset, 0u);
  EXPECT_EQ(allocation->region->data(), tensor.data_ptr());
  EXPECT_EQ(allocation->region->size(), static_cast<uint64_t>(4 * kMiB));
  EXPECT_GT(allocation->key, 0u);
  EXPECT_TRUE(SharedRegionRetained(allocation->key));

  const int fd = allocation->region->fd();
  const int seals = fcntl(fd, F_GET_SEALS);
  ASSERT_GE(seals, 0);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
  EXPECT_EQ(FdTarget(fd).rfind("/memfd:aoti-host-tensor", 0), 0u)
      << FdTarget(fd);
}

TEST_F(SharedAllocatorTest, SmallTensorsStayPrivate) {
  at::Tensor tiny = at::ones({16}, at::kFloat);
  at::Tensor just_below = at::empty(
      {static_cast<int64_t>(kSharedAllocationMinBytes) - 1}, at::kByte);
  at::Tensor at_threshold =
      at::empty({static_cast<int64_t>(kSharedAllocationMinBytes)}, at::kByte);
  EXPECT_FALSE(FindTensor(tiny).has_value());
  EXPECT_FALSE(FindTensor(just_below).has_value());
  EXPECT_FALSE(FindSharedAllocation(just_below.data_ptr(), 1).has_value());
  EXPECT_TRUE(FindTensor(at_threshold).has_value());
}

TEST_F(SharedAllocatorTest, FindsSubRangesButNotRangesPastTheAllocation) {
  at::Tensor tensor = at::empty({kMiB}, at::kFloat);
  absl::optional<SharedAllocation> whole = FindTensor(tensor);
  ASSERT_TRUE(whole.has_value());

  at::Tensor view = tensor.narrow(0, 1000, 500);
  absl::optional<SharedAllocation> part = FindTensor(view);
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->key, whole->key);
  EXPECT_EQ(part->region, whole->region);
  EXPECT_EQ(part->offset, 4000u);

  auto* begin = static_cast<uint8_t*>(tensor.data_ptr());
  const uint64_t size = tensor.nbytes();
  EXPECT_TRUE(FindSharedAllocation(begin + size - 4, 4).has_value());
  EXPECT_FALSE(FindSharedAllocation(begin + size - 4, 8).has_value());
  EXPECT_FALSE(FindSharedAllocation(begin + size, 1).has_value());
  EXPECT_FALSE(FindSharedAllocation(begin - 1, 2).has_value());
  EXPECT_FALSE(FindSharedAllocation(begin, UINT64_MAX).has_value());
  EXPECT_FALSE(FindSharedAllocation(nullptr, 0).has_value());

  // The region is rounded up to pages; the allocation's own bytes bound it.
  at::Tensor odd = at::empty({kMiB + 1}, at::kByte);
  absl::optional<SharedAllocation> odd_allocation = FindTensor(odd);
  ASSERT_TRUE(odd_allocation.has_value());
  EXPECT_GT(odd_allocation->region->size(), odd.nbytes());
  EXPECT_EQ(odd_allocation->region->size() % sysconf(_SC_PAGESIZE), 0u);
  EXPECT_FALSE(
      FindSharedAllocation(odd.data_ptr(), odd.nbytes() + 1).has_value());
}

TEST_F(SharedAllocatorTest, WritesAreSharedWithTheRegion) {
  at::Tensor tensor = at::empty({kMiB}, at::kFloat);
  absl::optional<SharedAllocation> allocation = FindTensor(tensor);
  ASSERT_TRUE(allocation.has_value());
  tensor.fill_(3.5);
  tensor[kMiB - 1] = 7.0;
  const auto* floats =
      reinterpret_cast<const float*>(allocation->region->data());
  EXPECT_EQ(floats[0], 3.5f);
  EXPECT_EQ(floats[kMiB / 2], 3.5f);
  EXPECT_EQ(floats[kMiB - 1], 7.0f);

  reinterpret_cast<float*>(allocation->region->data())[1] = -1.0f;
  EXPECT_EQ(tensor[1].item<float>(), -1.0f);
}

TEST_F(SharedAllocatorTest, FreedRegionIsReusedWithItsKey) {
  at::Tensor first = at::empty({3 * kMiB}, at::kByte);
  absl::optional<SharedAllocation> allocation = FindTensor(first);
  ASSERT_TRUE(allocation.has_value());
  const uint64_t key = allocation->key;
  const void* data = first.data_ptr();
  allocation.reset();
  first.reset();
  EXPECT_TRUE(SharedRegionRetained(key));  // cached, not dropped
  EXPECT_FALSE(FindSharedAllocation(data, 1).has_value());

  at::Tensor second = at::empty({3 * kMiB}, at::kByte);
  absl::optional<SharedAllocation> again = FindTensor(second);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->key, key);
  EXPECT_EQ(second.data_ptr(), data);
}

TEST_F(SharedAllocatorTest, AllocFreeCyclesDoNotGrowFds) {
  { at::Tensor warm = at::ones({kMiB}, at::kFloat); }
  const int fds = CountOpenFds();
  const uint64_t created = GetSharedAllocatorStats().regions_created;
  ASSERT_GT(fds, 0);
  for (int i = 0; i < 1000; ++i) {
    at::Tensor tensor = at::empty({kMiB}, at::kFloat);
    static_cast<float*>(tensor.data_ptr())[i] = 1.0f;
    ASSERT_TRUE(FindTensor(tensor).has_value());
  }
  EXPECT_EQ(CountOpenFds(), fds);
  EXPECT_EQ(GetSharedAllocatorStats().regions_created, created);
}

TEST_F(SharedAllocatorTest, CacheIsBoundedAndDropsAreVisible) {
  const uint64_t dropped = SharedRegionsDropped();
  std::vector<at::Tensor> tensors;
  std::vector<uint64_t> keys;
  // More distinct regions than the cache keeps.
  for (size_t i = 0; i < kMaxCachedRegions + 8; ++i) {
    tensors.push_back(at::empty({kMiB + static_cast<int64_t>(i)}, at::kByte));
    absl::optional<SharedAllocation> allocation = FindTensor(tensors.back());
    ASSERT_TRUE(allocation.has_value());
    keys.push_back(allocation->key);
  }
  const int fds_while_live = CountOpenFds();
  tensors.clear();
  SharedAllocatorStats stats = GetSharedAllocatorStats();
  EXPECT_LE(stats.cached_regions, kMaxCachedRegions);
  EXPECT_LE(stats.cached_bytes, kMaxCachedBytes);
  EXPECT_GE(SharedRegionsDropped(), dropped + 8);
  EXPECT_LE(CountOpenFds(), fds_while_live - 8);
  // The oldest freed went first; the last freed is kept.
  EXPECT_FALSE(SharedRegionRetained(keys.front()));
  EXPECT_TRUE(SharedRegionRetained(keys.back()));

  // Larger than the whole cache: dropped at once. A holder of its region
  // keeps the mapping alive past that.
  at::Tensor huge =
      at::empty({static_cast<int64_t>(kMaxCachedBytes) + kMiB}, at::kByte);
  absl::optional<SharedAllocation> allocation = FindTensor(huge);
  ASSERT_TRUE(allocation.has_value());
  static_cast<uint8_t*>(huge.data_ptr())[12345] = 42;
  const uint64_t before = SharedRegionsDropped();
  huge.reset();
  EXPECT_FALSE(SharedRegionRetained(allocation->key));
  EXPECT_EQ(SharedRegionsDropped(), before + 1);
  EXPECT_EQ(allocation->region->data()[12345], 42);
}

TEST_F(SharedAllocatorTest, ConcurrentAllocAndFreeStayConsistent) {
  const size_t live_before = GetSharedAllocatorStats().live_regions;
  std::vector<std::thread> threads;
  std::vector<int> errors(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &errors] {
      const int64_t sizes[] = {kMiB, 2 * kMiB + 123, 3 * kMiB, 1000};
      std::vector<at::Tensor> held;
      for (int i = 0; i < 300; ++i) {
        at::Tensor tensor = at::empty({sizes[(i + t) % 4]}, at::kByte);
        const uint8_t value = static_cast<uint8_t>(t * 50 + i % 50);
        tensor.fill_(value);
        absl::optional<SharedAllocation> allocation = FindTensor(tensor);
        const bool large = tensor.nbytes() >= kSharedAllocationMinBytes;
        if (allocation.has_value() != large) ++errors[t];
        if (allocation.has_value()) {
          const uint8_t* bytes =
              allocation->region->data() + allocation->offset;
          if (bytes[0] != value || bytes[tensor.nbytes() - 1] != value ||
              !SharedRegionRetained(allocation->key)) {
            ++errors[t];
          }
        }
        held.push_back(std::move(tensor));
        if (held.size() > 3) held.erase(held.begin());
      }
      // What this thread still holds is intact.
      for (const at::Tensor& tensor : held) {
        absl::optional<SharedAllocation> allocation = FindTensor(tensor);
        if (tensor.nbytes() >= kSharedAllocationMinBytes &&
            (!allocation.has_value() ||
             allocation->region->data() + allocation->offset !=
                 tensor.data_ptr())) {
          ++errors[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(errors[t], 0) << "thread " << t;
  SharedAllocatorStats stats = GetSharedAllocatorStats();
  EXPECT_EQ(stats.live_regions, live_before);
  EXPECT_LE(stats.cached_regions, kMaxCachedRegions);
  EXPECT_LE(stats.cached_bytes, kMaxCachedBytes);
}

TEST_F(SharedAllocatorTest, AtenOutputsAreShared) {
  at::Tensor a = at::full({kMiB}, 1.5, at::kFloat);
  at::Tensor b = at::full({kMiB}, 2.0, at::kFloat);
  at::Tensor sum = at::add(a, b);
  ASSERT_TRUE(FindTensor(a).has_value());
  ASSERT_TRUE(FindTensor(b).has_value());
  absl::optional<SharedAllocation> allocation = FindTensor(sum);
  ASSERT_TRUE(allocation.has_value());
  const auto* floats = reinterpret_cast<const float*>(
      allocation->region->data() + allocation->offset);
  EXPECT_EQ(floats[0], 3.5f);
  EXPECT_EQ(floats[kMiB - 1], 3.5f);
  EXPECT_TRUE(at::equal(sum, at::full({kMiB}, 3.5, at::kFloat)));

  at::Tensor product = at::matmul(at::ones({1024, 512}), at::ones({512, 256}));
  EXPECT_TRUE(FindTensor(product).has_value());
  EXPECT_EQ(product[0][0].item<float>(), 512.0f);
}

TEST_F(SharedAllocatorTest, RawAllocateRoundTrips) {
  c10::Allocator* allocator = c10::GetAllocator(c10::DeviceType::CPU);
  ASSERT_NE(allocator->raw_deleter(), nullptr);
  const size_t live_before = GetSharedAllocatorStats().live_regions;
  void* large = allocator->raw_allocate(2 * kMiB);
  EXPECT_TRUE(FindSharedAllocation(large, 2 * kMiB).has_value());
  EXPECT_EQ(GetSharedAllocatorStats().live_regions, live_before + 1);
  void* small = allocator->raw_allocate(4096);
  EXPECT_FALSE(FindSharedAllocation(small, 1).has_value());
  allocator->raw_deallocate(small);
  allocator->raw_deallocate(large);
  EXPECT_EQ(GetSharedAllocatorStats().live_regions, live_before);
}

TEST_F(SharedAllocatorTest, DefaultCpuAllocatorIsUntouched) {
  c10::DataPtr data = c10::GetDefaultCPUAllocator()->allocate(2 * kMiB);
  EXPECT_FALSE(FindSharedAllocation(data.get(), 1).has_value());
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor
