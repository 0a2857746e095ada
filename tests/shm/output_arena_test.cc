#include "server/shm/output_arena.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kA = OutputArena::kAlignment;

// Stands in for the session: records every published region under a fresh
// id, and every retired id. Thread-safe.
class FakeSession {
 public:
  OutputArena::PublishFn Publish() {
    return
        [this](
            std::shared_ptr<SharedRegion> region) -> absl::StatusOr<uint64_t> {
          if (on_publish) {
            on_publish();
          }
          absl::MutexLock lock(&mu_);
          if (fail_next_publish_) {
            fail_next_publish_ = false;
            return absl::UnavailableError("client gone");
          }
          const uint64_t id = next_id_++;
          published_[id] = std::move(region);
          ++publish_calls_;
          return id;
        };
  }
  OutputArena::RetireFn Retire() {
    return [this](uint64_t id) {
      if (on_retire) {
        on_retire();
      }
      absl::MutexLock lock(&mu_);
      retired_.push_back(id);
    };
  }

  std::shared_ptr<SharedRegion> region(uint64_t id) {
    absl::MutexLock lock(&mu_);
    auto it = published_.find(id);
    return it == published_.end() ? nullptr : it->second;
  }
  int publish_calls() {
    absl::MutexLock lock(&mu_);
    return publish_calls_;
  }
  std::vector<uint64_t> retired() {
    absl::MutexLock lock(&mu_);
    return retired_;
  }
  void FailNextPublish() {
    absl::MutexLock lock(&mu_);
    fail_next_publish_ = true;
  }

  // Run inside the callbacks, without the session's lock.
  std::function<void()> on_publish;
  std::function<void()> on_retire;

 private:
  absl::Mutex mu_;
  uint64_t next_id_ = 100;
  int publish_calls_ = 0;
  bool fail_next_publish_ = false;
  std::map<uint64_t, std::shared_ptr<SharedRegion>> published_;
  std::vector<uint64_t> retired_;
};

uint64_t Rounded(uint64_t n) { return std::max(kA, (n + kA - 1) / kA * kA); }

TEST(OutputArenaTest, BlocksAreAlignedDisjointAndInOnePublishedRegion) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 1 << 20);
  const std::vector<uint64_t> sizes = {1, 63, 64, 65, 1000, 0, 0, 4096};
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // [begin, end)
  uint64_t expected_in_use = 0;
  for (uint64_t size : sizes) {
    absl::StatusOr<OutputArena::Block> block = arena.Allocate(size);
    ASSERT_TRUE(block.ok()) << block.status();
    EXPECT_EQ(block->offset % kA, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block->data) % kA, 0u);
    std::shared_ptr<SharedRegion> region = session.region(block->region_id);
    ASSERT_NE(region, nullptr);
    EXPECT_EQ(block->data, region->data() + block->offset);
    EXPECT_TRUE(region->Contains(block->data, size));
    spans.emplace_back(block->offset, block->offset + Rounded(size));
    expected_in_use += Rounded(size);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    EXPECT_LE(spans[i - 1].second, spans[i].first) << "blocks overlap";
  }
  EXPECT_EQ(session.publish_calls(), 1);
  EXPECT_EQ(arena.region_count(), 1u);
  EXPECT_EQ(arena.bytes_in_use(), expected_in_use);
}

TEST(OutputArenaTest, PublishedRegionIsASealedMemfdOfTheRegionSize) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 1 << 20);
  absl::StatusOr<OutputArena::Block> block = arena.Allocate(10);
  ASSERT_TRUE(block.ok()) << block.status();
  std::shared_ptr<SharedRegion> region = session.region(block->region_id);
  ASSERT_NE(region, nullptr);
  EXPECT_EQ(region->size(), 1u << 20);
  const int seals = fcntl(region->fd(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
}

TEST(OutputArenaTest, WritesShowThroughTheClientsMapping) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 1 << 20);
  ASSERT_TRUE(arena.Allocate(100).ok());
  absl::StatusOr<OutputArena::Block> block = arena.Allocate(256);
  ASSERT_TRUE(block.ok()) << block.status();
  ASSERT_NE(block->offset, 0u);

  // What the client does with the fd it is sent: map it anew.
  std::shared_ptr<SharedRegion> published = session.region(block->region_id);
  absl::StatusOr<SharedRegion> client = SharedRegion::Adopt(
      UniqueFd(fcntl(published->fd(), F_DUPFD_CLOEXEC, 0)), published->size());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_NE(client->data(), published->data());

  for (int i = 0; i < 256; ++i) {
    block->data[i] = static_cast<uint8_t>(i);
  }
  EXPECT_EQ(std::memcmp(client->data() + block->offset, block->data, 256), 0);
}

TEST(OutputArenaTest, ReleasedBlockIsReused) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 1 << 20);
  absl::StatusOr<OutputArena::Block> a = arena.Allocate(1000);
  absl::StatusOr<OutputArena::Block> b = arena.Allocate(1000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(arena.bytes_in_use(), 2 * Rounded(1000));
  ASSERT_TRUE(arena.Release(a->region_id, a->offset).ok());
  EXPECT_EQ(arena.bytes_in_use(), Rounded(1000));
  absl::StatusOr<OutputArena::Block> c = arena.Allocate(900);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region_id, a->region_id);
  EXPECT_EQ(c->offset, a->offset);
  EXPECT_EQ(session.publish_calls(), 1);
}

TEST(OutputArenaTest, FreeNeighboursCoalesce) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 4096);
  std::vector<OutputArena::Block> blocks;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<OutputArena::Block> block = arena.Allocate(1024);
    ASSERT_TRUE(block.ok());
    EXPECT_EQ(block->offset, 1024u * i);
    blocks.push_back(*block);
  }
  // Free the middle two, in either order: 2048 contiguous bytes.
  ASSERT_TRUE(arena.Release(blocks[2].region_id, blocks[2].offset).ok());
  ASSERT_TRUE(arena.Release(blocks[1].region_id, blocks[1].offset).ok());
  absl::StatusOr<OutputArena::Block> big = arena.Allocate(2048);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->offset, 1024u);
  EXPECT_EQ(arena.region_count(), 1u);
  EXPECT_EQ(session.publish_calls(), 1);
  // Free everything: the whole region is one block again.
  ASSERT_TRUE(arena.Release(big->region_id, big->offset).ok());
  ASSERT_TRUE(arena.Release(blocks[0].region_id, blocks[0].offset).ok());
  ASSERT_TRUE(arena.Release(blocks[3].region_id, blocks[3].offset).ok());
  absl::StatusOr<OutputArena::Block> whole = arena.Allocate(4096);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->offset, 0u);
  EXPECT_EQ(session.publish_calls(), 1);
}

TEST(OutputArenaTest, BadReleasesAreInvalidArgument) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 1 << 20);
  absl::StatusOr<OutputArena::Block> block = arena.Allocate(1000);
  ASSERT_TRUE(block.ok());
  ASSERT_TRUE(arena.Release(block->region_id, block->offset).ok());

  absl::Status twice = arena.Release(block->region_id, block->offset);
  EXPECT_EQ(twice.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.message(), HasSubstr("twice"));
  EXPECT_EQ(arena.Release(block->region_id + 1, 0).code(),
            absl::StatusCode::kInvalidArgument);

  absl::StatusOr<OutputArena::Block> again = arena.Allocate(1000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(arena.Release(again->region_id, again->offset + kA).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(arena.bytes_in_use(), Rounded(1000));
}

TEST(OutputArenaTest, ZeroByteBlocksAreDistinct) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 1 << 20);
  absl::StatusOr<OutputArena::Block> a = arena.Allocate(0);
  absl::StatusOr<OutputArena::Block> b = arena.Allocate(0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->offset, b->offset);
  EXPECT_EQ(arena.bytes_in_use(), 2 * kA);
  EXPECT_TRUE(arena.Release(a->region_id, a->offset).ok());
  EXPECT_TRUE(arena.Release(b->region_id, b->offset).ok());
  EXPECT_EQ(arena.bytes_in_use(), 0u);
}

TEST(OutputArenaTest, BigAllocationGetsItsOwnPageRoundedRegion) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 4096);
  ASSERT_TRUE(arena.Allocate(100).ok());
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t big_size = 3 * page + 10;
  absl::StatusOr<OutputArena::Block> big = arena.Allocate(big_size);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->offset, 0u);
  EXPECT_EQ(arena.region_count(), 2u);
  EXPECT_EQ(session.publish_calls(), 2);
  std::shared_ptr<SharedRegion> region = session.region(big->region_id);
  ASSERT_NE(region, nullptr);
  EXPECT_EQ(region->size(), 4 * page);
  std::memset(big->data, 0xab, big_size);  // All of it is mapped.
}

TEST(OutputArenaTest, EmptyRegionIsRetiredWhileAnotherRemains) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 4096);
  absl::StatusOr<OutputArena::Block> fills_first = arena.Allocate(4096);
  absl::StatusOr<OutputArena::Block> in_second = arena.Allocate(64);
  ASSERT_TRUE(fills_first.ok() && in_second.ok());
  ASSERT_NE(fills_first->region_id, in_second->region_id);
  EXPECT_EQ(arena.region_count(), 2u);

  ASSERT_TRUE(arena.Release(in_second->region_id, in_second->offset).ok());
  EXPECT_EQ(arena.region_count(), 2u);  // until the call ends
  arena.RetireEmptyRegions();
  EXPECT_EQ(arena.region_count(), 1u);
  EXPECT_THAT(session.retired(), ::testing::ElementsAre(in_second->region_id));

  // The last region stays, empty, for the next output.
  ASSERT_TRUE(arena.Release(fills_first->region_id, fills_first->offset).ok());
  arena.RetireEmptyRegions();
  EXPECT_EQ(arena.region_count(), 1u);
  EXPECT_EQ(session.retired().size(), 1u);
  EXPECT_EQ(arena.bytes_in_use(), 0u);
  ASSERT_TRUE(arena.Allocate(10).ok());
  EXPECT_EQ(session.publish_calls(), 2);

  // A retired region's blocks are gone.
  EXPECT_EQ(arena.Release(in_second->region_id, in_second->offset).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OutputArenaTest, PublishFailureFailsTheAllocation) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 4096);
  session.FailNextPublish();
  absl::StatusOr<OutputArena::Block> block = arena.Allocate(10);
  EXPECT_EQ(block.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(arena.region_count(), 0u);
  EXPECT_EQ(arena.bytes_in_use(), 0u);
  EXPECT_TRUE(arena.Allocate(10).ok());
  EXPECT_EQ(arena.region_count(), 1u);
}

TEST(OutputArenaTest, AbsurdSizeIsAnErrorNotAWrap) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 4096);
  EXPECT_FALSE(arena.Allocate(UINT64_MAX).ok());
  EXPECT_FALSE(arena.Allocate(UINT64_MAX - 100).ok());
  EXPECT_EQ(arena.bytes_in_use(), 0u);
}

TEST(OutputArenaTest, CallbacksRunWithoutTheArenaLock) {
  FakeSession session;
  std::unique_ptr<OutputArena> arena;
  // Re-entering the arena from a callback would deadlock under its lock.
  session.on_publish = [&] { (void)arena->bytes_in_use(); };
  session.on_retire = [&] { (void)arena->region_count(); };
  arena =
      std::make_unique<OutputArena>(session.Publish(), session.Retire(), 4096);
  absl::StatusOr<OutputArena::Block> a = arena->Allocate(4096);
  absl::StatusOr<OutputArena::Block> b = arena->Allocate(4096);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(arena->Release(b->region_id, b->offset).ok());
  arena->RetireEmptyRegions();
  EXPECT_EQ(session.retired().size(), 1u);
}

// A call that releases the previous call's large output and then allocates
// one of the same size gets the same region back: no new memfd, no fresh
// pages.
TEST(OutputArenaTest, ARegionEmptiedByACallsReleasesServesItsOutputs) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 4096);
  const uint64_t big = 1 << 20;
  absl::StatusOr<OutputArena::Block> small = arena.Allocate(64);
  absl::StatusOr<OutputArena::Block> first = arena.Allocate(big);
  ASSERT_TRUE(small.ok() && first.ok());
  arena.RetireEmptyRegions();  // the first call ends
  for (int call = 0; call < 5; ++call) {
    ASSERT_TRUE(arena.Release(first->region_id, first->offset).ok());
    absl::StatusOr<OutputArena::Block> next = arena.Allocate(big);
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next->region_id, first->region_id);
    EXPECT_EQ(next->data, first->data);
    arena.RetireEmptyRegions();
    first = next;
  }
  EXPECT_EQ(session.publish_calls(), 2);
  EXPECT_TRUE(session.retired().empty());
  // Once nothing is in it, it goes.
  ASSERT_TRUE(arena.Release(first->region_id, first->offset).ok());
  arena.RetireEmptyRegions();
  EXPECT_THAT(session.retired(), ::testing::ElementsAre(first->region_id));
}

TEST(OutputArenaTest, ConcurrentAllocateAndReleaseStayConsistent) {
  FakeSession session;
  OutputArena arena(session.Publish(), session.Retire(), 64 << 10);
  constexpr int kThreads = 4;
  constexpr int kIterations = 3000;
  std::atomic<int> errors{0};
  std::vector<uint64_t> live_bytes(kThreads, 0);
  std::vector<std::vector<OutputArena::Block>> kept(kThreads);

  auto worker = [&](int t) {
    std::mt19937 rng(1234 + t);
    std::vector<std::pair<OutputArena::Block, uint64_t>> live;
    auto release_one = [&](size_t i) {
      const auto [block, size] = live[i];
      // Every byte still holds this thread's pattern: no other block
      // overlapped it.
      for (uint64_t j = 0; j < size; ++j) {
        if (block.data[j] != static_cast<uint8_t>(t + 1)) {
          ++errors;
          break;
        }
      }
      if (!arena.Release(block.region_id, block.offset).ok()) {
        ++errors;
      }
      live_bytes[t] -= Rounded(size);
      live[i] = live.back();
      live.pop_back();
    };
    for (int i = 0; i < kIterations; ++i) {
      if (live.size() < 24 && (live.empty() || rng() % 3 != 0)) {
        const uint64_t size = rng() % 6000;
        absl::StatusOr<OutputArena::Block> block = arena.Allocate(size);
        if (!block.ok()) {
          ++errors;
          continue;
        }
        std::memset(block->data, t + 1, size);
        live.emplace_back(*block, size);
        live_bytes[t] += Rounded(size);
      } else {
        release_one(rng() % live.size());
      }
    }
    while (live.size() > 2) {
      release_one(live.size() - 1);
    }
    for (const auto& entry : live) {
      kept[t].push_back(entry.first);
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(worker, t);
  }
  for (std::thread& thread : threads) {
    thread.join();
  }

  EXPECT_EQ(errors.load(), 0);
  uint64_t expected = 0;
  for (uint64_t bytes : live_bytes) {
    expected += bytes;
  }
  EXPECT_EQ(arena.bytes_in_use(), expected);
  EXPECT_GE(session.publish_calls(), 2);  // The load needed several regions.
  for (const auto& blocks : kept) {
    for (const OutputArena::Block& block : blocks) {
      EXPECT_TRUE(arena.Release(block.region_id, block.offset).ok());
    }
  }
  EXPECT_EQ(arena.bytes_in_use(), 0u);
  arena.RetireEmptyRegions();
  EXPECT_EQ(arena.region_count(), 1u);
  EXPECT_EQ(session.retired().size(),
            static_cast<size_t>(session.publish_calls() - 1));
}

}  // namespace
}  // namespace aoti_executor
