#include "server/framing/fd_channel.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/shm/shared_region.h"
#include "tests/shm/shm_test_util.h"

namespace aoti_executor {
namespace {

using ::aoti_executor::testing_util::CountOpenFds;
using ::aoti_executor::testing_util::IsOpen;
using ::aoti_executor::testing_util::MakeSealedMemfd;
using ::aoti_executor::testing_util::MakeSocketPair;
using ::aoti_executor::testing_util::SendRaw;
using ::testing::HasSubstr;

// Generous: only a hang makes a test wait this long.
absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

AttachFrame RegionFrame(uint64_t id, uint64_t size) {
  AttachFrame frame;
  frame.type = AttachFrameType::kClientRegion;
  frame.id = id;
  frame.size = size;
  return frame;
}

TEST(FdChannelTest, FrameAndFdRoundTrip) {
  auto sockets = MakeSocketPair();
  UniqueFd memfd = MakeSealedMemfd(4096);
  ASSERT_TRUE(
      SendFrame(sockets.a.get(), RegionFrame(7, 4096), memfd.get()).ok());

  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), Soon());
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->frame.type, AttachFrameType::kClientRegion);
  EXPECT_EQ(received->frame.id, 7u);
  EXPECT_EQ(received->frame.size, 4096u);
  ASSERT_TRUE(received->fd.valid());
  EXPECT_NE(received->fd.get(), memfd.get());
  // MSG_CMSG_CLOEXEC: a received fd never leaks into an exec'd child.
  EXPECT_EQ(fcntl(received->fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  // The same file: a write through one fd shows through the other.
  ASSERT_EQ(pwrite(memfd.get(), "abc", 3, 100), 3);
  char buf[4] = {};
  ASSERT_EQ(pread(received->fd.get(), buf, 3, 100), 3);
  EXPECT_STREQ(buf, "abc");
}

TEST(FdChannelTest, FrameWithoutFd) {
  auto sockets = MakeSocketPair();
  AttachFrame welcome;
  welcome.type = AttachFrameType::kWelcome;
  std::memcpy(welcome.secret, "0123456789abcdef0123456789abcdef",
              AttachFrame::kSecretLength);
  ASSERT_TRUE(SendFrame(sockets.a.get(), welcome).ok());

  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), Soon());
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_FALSE(received->fd.valid());
  EXPECT_EQ(received->frame.type, AttachFrameType::kWelcome);
  EXPECT_EQ(std::string(received->frame.secret, AttachFrame::kSecretLength),
            "0123456789abcdef0123456789abcdef");
}

TEST(FdChannelTest, FramesKeepTheirBoundariesAndOrder) {
  auto sockets = MakeSocketPair();
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(SendFrame(sockets.a.get(), RegionFrame(id, 0)).ok());
  }
  for (uint64_t id = 1; id <= 3; ++id) {
    absl::StatusOr<ReceivedFrame> received =
        ReceiveFrame(sockets.b.get(), Soon());
    ASSERT_TRUE(received.ok()) << received.status();
    EXPECT_EQ(received->frame.id, id);
  }
}

TEST(FdChannelTest, DeadlineExceededOnAnIdleSocket) {
  auto sockets = MakeSocketPair();
  const absl::Time start = absl::Now();
  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), start + absl::Milliseconds(50));
  const absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(received.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(waited, absl::Milliseconds(50));
}

TEST(FdChannelTest, PastDeadlineStillTakesAWaitingFrame) {
  auto sockets = MakeSocketPair();
  ASSERT_TRUE(SendFrame(sockets.a.get(), RegionFrame(9, 0)).ok());
  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), absl::InfinitePast());
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->frame.id, 9u);
  EXPECT_EQ(ReceiveFrame(sockets.b.get(), absl::InfinitePast()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(FdChannelTest, PeerClosedIsUnavailable) {
  auto sockets = MakeSocketPair();
  sockets.a.reset();
  EXPECT_EQ(ReceiveFrame(sockets.b.get(), Soon()).status().code(),
            absl::StatusCode::kUnavailable);
  // Without MSG_NOSIGNAL this would kill the test with SIGPIPE.
  EXPECT_EQ(SendFrame(sockets.b.get(), RegionFrame(1, 0)).code(),
            absl::StatusCode::kUnavailable);
}

TEST(FdChannelTest, PeerClosedWakesABlockedReceiver) {
  auto sockets = MakeSocketPair();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    usleep(50 * 1000);
    _exit(0);  // Closes the child's copy; the parent closes its own below.
  }
  sockets.a.reset();
  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), absl::InfiniteFuture());
  EXPECT_EQ(received.status().code(), absl::StatusCode::kUnavailable);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
}

TEST(FdChannelTest, InvalidSocketIsAnErrorNotAWait) {
  EXPECT_EQ(ReceiveFrame(-1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SendFrame(-1, AttachFrame()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FdChannelTest, WrongMagicIsRefusedAndItsFdClosed) {
  auto sockets = MakeSocketPair();
  UniqueFd memfd = MakeSealedMemfd(4096);
  AttachFrame frame = RegionFrame(1, 4096);
  frame.magic = 0xdeadbeef;
  const int fds_before = CountOpenFds();
  const int fd = memfd.get();
  ASSERT_EQ(SendRaw(sockets.a.get(), &frame, sizeof(frame), &fd, 1),
            static_cast<ssize_t>(sizeof(frame)));
  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), Soon());
  EXPECT_EQ(received.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(received.status().message(), HasSubstr("magic"));
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST(FdChannelTest, WrongVersionIsRefused) {
  auto sockets = MakeSocketPair();
  AttachFrame frame;
  frame.version = 2;
  ASSERT_EQ(SendRaw(sockets.a.get(), &frame, sizeof(frame)),
            static_cast<ssize_t>(sizeof(frame)));
  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), Soon());
  EXPECT_EQ(received.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(received.status().message(), HasSubstr("version"));
}

TEST(FdChannelTest, ShortFrameIsRefusedAndItsFdClosed) {
  auto sockets = MakeSocketPair();
  UniqueFd memfd = MakeSealedMemfd(4096);
  AttachFrame frame = RegionFrame(1, 4096);
  const int fds_before = CountOpenFds();
  const int fd = memfd.get();
  ASSERT_EQ(SendRaw(sockets.a.get(), &frame, 10, &fd, 1), 10);
  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), Soon());
  EXPECT_EQ(received.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(received.status().message(), HasSubstr("short"));
  EXPECT_EQ(CountOpenFds(), fds_before);
  // The channel is still usable: record boundaries are kept.
  ASSERT_TRUE(SendFrame(sockets.a.get(), RegionFrame(2, 0)).ok());
  absl::StatusOr<ReceivedFrame> next = ReceiveFrame(sockets.b.get(), Soon());
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->frame.id, 2u);
}

TEST(FdChannelTest, LongFrameIsRefused) {
  auto sockets = MakeSocketPair();
  char bytes[100] = {};
  AttachFrame frame;
  std::memcpy(bytes, &frame, sizeof(frame));
  ASSERT_EQ(SendRaw(sockets.a.get(), bytes, sizeof(bytes)),
            static_cast<ssize_t>(sizeof(bytes)));
  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), Soon());
  EXPECT_EQ(received.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(received.status().message(), HasSubstr("longer"));
}

TEST(FdChannelTest, TwoFdsAreRefusedAndBothClosed) {
  auto sockets = MakeSocketPair();
  UniqueFd first = MakeSealedMemfd(4096);
  UniqueFd second = MakeSealedMemfd(4096);
  AttachFrame frame = RegionFrame(1, 4096);
  const int fds_before = CountOpenFds();
  const int fds[2] = {first.get(), second.get()};
  ASSERT_EQ(SendRaw(sockets.a.get(), &frame, sizeof(frame), fds, 2),
            static_cast<ssize_t>(sizeof(frame)));
  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), Soon());
  EXPECT_EQ(received.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(received.status().message(), HasSubstr("2 fds"));
  EXPECT_EQ(CountOpenFds(), fds_before);
}

// At RLIMIT_NOFILE the kernel drops the fd and sets MSG_CTRUNC; the frame
// must not pass as one without an fd. Run in a child, whose limit we lower.
TEST(FdChannelTest, DroppedFdAtRlimitIsAnError) {
  auto sockets = MakeSocketPair();
  UniqueFd memfd = MakeSealedMemfd(4096);
  ASSERT_TRUE(
      SendFrame(sockets.a.get(), RegionFrame(1, 4096), memfd.get()).ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The lowest free fd number; a limit there leaves no room for another.
    const int lowest_free = fcntl(sockets.b.get(), F_DUPFD, 0);
    if (lowest_free < 0) {
      _exit(10);
    }
    close(lowest_free);
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
      _exit(11);
    }
    limit.rlim_cur = static_cast<rlim_t>(lowest_free);
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      _exit(12);
    }
    absl::StatusOr<ReceivedFrame> received =
        ReceiveFrame(sockets.b.get(), absl::Now() + absl::Seconds(10));
    if (received.ok()) {
      _exit(13);
    }
    if (received.status().code() != absl::StatusCode::kResourceExhausted) {
      _exit(14);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// The point of the channel: a memfd made in one process is mapped by another.
TEST(FdChannelTest, MemfdCrossesProcesses) {
  auto sockets = MakeSocketPair();
  constexpr uint64_t kSize = 1 << 16;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sockets.b.reset();
    absl::StatusOr<SharedRegion> region =
        SharedRegion::Create("from-child", kSize);
    if (!region.ok()) {
      _exit(10);
    }
    const std::string text = "hello from pid " + std::to_string(getpid());
    std::memcpy(region->data() + 1000, text.c_str(), text.size() + 1);
    AttachFrame frame = RegionFrame(getpid(), kSize);
    if (!SendFrame(sockets.a.get(), frame, region->fd()).ok()) {
      _exit(11);
    }
    // Our mapping and fd go away with us; the parent's must survive that.
    _exit(0);
  }
  sockets.a.reset();
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  absl::StatusOr<ReceivedFrame> received =
      ReceiveFrame(sockets.b.get(), Soon());
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->frame.id, static_cast<uint64_t>(child));
  absl::StatusOr<SharedRegion> region =
      SharedRegion::Adopt(std::move(received->fd), received->frame.size);
  ASSERT_TRUE(region.ok()) << region.status();
  EXPECT_EQ(std::string(reinterpret_cast<char*>(region->data() + 1000)),
            "hello from pid " + std::to_string(child));
  // After the frame, the child's end is closed.
  EXPECT_EQ(ReceiveFrame(sockets.b.get(), Soon()).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace aoti_executor
