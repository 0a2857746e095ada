#include "server/shm/shared_region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/framing/fd_channel.h"
#include "tests/shm/shm_test_util.h"

namespace aoti_executor {
namespace {

using ::aoti_executor::testing_util::CountOpenFds;
using ::aoti_executor::testing_util::IsOpen;
using ::aoti_executor::testing_util::MakeMemfd;
using ::aoti_executor::testing_util::MakeSealedMemfd;
using ::aoti_executor::testing_util::MakeSocketPair;
using ::testing::HasSubstr;

constexpr uint64_t kSize = 1 << 20;

TEST(SharedRegionTest, CreateMapsASealedMemfd) {
  absl::StatusOr<SharedRegion> region = SharedRegion::Create("test", kSize);
  ASSERT_TRUE(region.ok()) << region.status();
  EXPECT_EQ(region->size(), kSize);
  EXPECT_NE(region->data(), nullptr);
  EXPECT_GE(region->fd(), 0);
  EXPECT_EQ(fcntl(region->fd(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  const int seals = fcntl(region->fd(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  // The seals hold: neither we nor a peer can resize it or lift them.
  EXPECT_NE(ftruncate(region->fd(), kSize / 2), 0);
  EXPECT_NE(ftruncate(region->fd(), kSize * 2), 0);
  EXPECT_NE(fcntl(region->fd(), F_ADD_SEALS, F_SEAL_WRITE), 0);
  // Fresh memfd pages read as zero, and the mapping is writable.
  EXPECT_EQ(region->data()[kSize - 1], 0);
  region->data()[kSize - 1] = 42;
  EXPECT_EQ(region->data()[kSize - 1], 42);
}

TEST(SharedRegionTest, CreateRefusesZeroBytes) {
  absl::StatusOr<SharedRegion> region = SharedRegion::Create("test", 0);
  EXPECT_EQ(region.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SharedRegionTest, CreateRefusesAbsurdSize) {
  absl::StatusOr<SharedRegion> region =
      SharedRegion::Create("test", UINT64_MAX);
  EXPECT_EQ(region.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SharedRegionTest, CreateAdoptRoundTripThroughASocket) {
  const int fds_before = CountOpenFds();
  {
    absl::StatusOr<SharedRegion> created =
        SharedRegion::Create("round-trip", kSize);
    ASSERT_TRUE(created.ok()) << created.status();
    auto sockets = MakeSocketPair();
    AttachFrame frame;
    frame.type = AttachFrameType::kClientRegion;
    frame.size = created->size();
    ASSERT_TRUE(SendFrame(sockets.a.get(), frame, created->fd()).ok());
    absl::StatusOr<ReceivedFrame> received = ReceiveFrame(sockets.b.get());
    ASSERT_TRUE(received.ok()) << received.status();
    ASSERT_TRUE(received->fd.valid());
    EXPECT_NE(received->fd.get(), created->fd());

    absl::StatusOr<SharedRegion> adopted =
        SharedRegion::Adopt(std::move(received->fd), received->frame.size);
    ASSERT_TRUE(adopted.ok()) << adopted.status();
    EXPECT_EQ(adopted->size(), kSize);
    EXPECT_NE(adopted->data(), created->data());  // Two mappings...

    // ...of the same pages, both ways.
    std::memcpy(created->data() + 4096, "from creator", 13);
    EXPECT_STREQ(reinterpret_cast<char*>(adopted->data() + 4096),
                 "from creator");
    std::memcpy(adopted->data() + kSize - 8, "adopter", 8);
    EXPECT_STREQ(reinterpret_cast<char*>(created->data() + kSize - 8),
                 "adopter");
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST(SharedRegionTest, AdoptAcceptsShrinkSealOnly) {
  UniqueFd fd = MakeMemfd(8192, MFD_CLOEXEC | MFD_ALLOW_SEALING, F_SEAL_SHRINK);
  absl::StatusOr<SharedRegion> region = SharedRegion::Adopt(std::move(fd));
  ASSERT_TRUE(region.ok()) << region.status();
  EXPECT_EQ(region->size(), 8192u);
}

TEST(SharedRegionTest, AdoptRefusesAndClosesAnUnsealedMemfd) {
  UniqueFd fd = MakeMemfd(8192, MFD_CLOEXEC | MFD_ALLOW_SEALING, 0);
  const int raw = fd.get();
  absl::StatusOr<SharedRegion> region = SharedRegion::Adopt(std::move(fd));
  EXPECT_EQ(region.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(region.status().message(), HasSubstr("shrink"));
  EXPECT_FALSE(IsOpen(raw));
}

TEST(SharedRegionTest, AdoptRefusesAMemfdThatCannotBeSealed) {
  // Without MFD_ALLOW_SEALING the memfd carries F_SEAL_SEAL and nothing else.
  UniqueFd fd = MakeMemfd(8192, MFD_CLOEXEC, 0);
  const int raw = fd.get();
  absl::StatusOr<SharedRegion> region = SharedRegion::Adopt(std::move(fd));
  EXPECT_EQ(region.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(region.status().message(), HasSubstr("F_SEAL_SHRINK"));
  EXPECT_FALSE(IsOpen(raw));
}

TEST(SharedRegionTest, AdoptRefusesAPipe) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd write_end(pipe_fds[1]);
  absl::StatusOr<SharedRegion> region =
      SharedRegion::Adopt(UniqueFd(pipe_fds[0]));
  EXPECT_EQ(region.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(region.status().message(), HasSubstr("regular file"));
  EXPECT_FALSE(IsOpen(pipe_fds[0]));
}

TEST(SharedRegionTest, AdoptRefusesTheWrongSize) {
  UniqueFd fd = MakeSealedMemfd(8192);
  const int raw = fd.get();
  absl::StatusOr<SharedRegion> region =
      SharedRegion::Adopt(std::move(fd), 4096);
  EXPECT_EQ(region.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(region.status().message(), HasSubstr("8192"));
  EXPECT_THAT(region.status().message(), HasSubstr("4096"));
  EXPECT_FALSE(IsOpen(raw));
}

TEST(SharedRegionTest, AdoptRefusesAnEmptyMemfd) {
  UniqueFd fd = MakeSealedMemfd(0);
  const int raw = fd.get();
  absl::StatusOr<SharedRegion> region = SharedRegion::Adopt(std::move(fd));
  EXPECT_EQ(region.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(region.status().message(), HasSubstr("empty"));
  EXPECT_FALSE(IsOpen(raw));
}

TEST(SharedRegionTest, AdoptRefusesANegativeFd) {
  EXPECT_EQ(SharedRegion::Adopt(UniqueFd()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SharedRegionTest, AdoptRefusesAClosedFd) {
  UniqueFd fd = MakeSealedMemfd(4096);
  const int raw = fd.get();
  fd.reset();
  absl::StatusOr<SharedRegion> region = SharedRegion::Adopt(UniqueFd(raw));
  EXPECT_FALSE(region.ok());
  EXPECT_THAT(region.status().message(), HasSubstr("fstat"));
}

TEST(SharedRegionTest, MoveTransfersOwnership) {
  const int fds_before = CountOpenFds();
  {
    absl::StatusOr<SharedRegion> a = SharedRegion::Create("a", 4096);
    absl::StatusOr<SharedRegion> b = SharedRegion::Create("b", 8192);
    ASSERT_TRUE(a.ok() && b.ok());
    uint8_t* a_data = a->data();
    const int a_fd = a->fd();
    const int b_fd = b->fd();

    SharedRegion moved(std::move(*a));
    EXPECT_EQ(a->fd(), -1);
    EXPECT_EQ(a->data(), nullptr);
    EXPECT_EQ(a->size(), 0u);
    EXPECT_EQ(moved.fd(), a_fd);
    EXPECT_EQ(moved.data(), a_data);

    moved = std::move(*b);  // Releases a's memfd.
    EXPECT_FALSE(IsOpen(a_fd));
    EXPECT_EQ(moved.fd(), b_fd);
    EXPECT_EQ(moved.size(), 8192u);
    EXPECT_EQ(b->fd(), -1);
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST(SharedRegionTest, ContainsIsOverflowSafe) {
  absl::StatusOr<SharedRegion> region = SharedRegion::Create("c", 4096);
  ASSERT_TRUE(region.ok());
  const uint8_t* base = region->data();
  EXPECT_TRUE(region->Contains(base, 4096));
  EXPECT_TRUE(region->Contains(base + 100, 3996));
  EXPECT_FALSE(region->Contains(base + 100, 3997));
  EXPECT_TRUE(region->Contains(base + 4096, 0));
  EXPECT_FALSE(region->Contains(base + 4097, 0));
  // An address just below the mapping (never dereferenced).
  const void* before = reinterpret_cast<const void*>(  // NOLINT
      reinterpret_cast<uintptr_t>(base) - 1);
  EXPECT_FALSE(region->Contains(before, 1));
  // A length that wraps the address space must not pass.
  EXPECT_FALSE(region->Contains(base + 1, UINT64_MAX));
  EXPECT_FALSE(region->Contains(base + 4095, UINT64_MAX - 4094));
  EXPECT_FALSE(region->Contains(nullptr, 0));

  SharedRegion moved_from = std::move(*region);
  EXPECT_FALSE(region->Contains(base, 1));
}

}  // namespace
}  // namespace aoti_executor
