// UniqueFd: each descriptor is closed exactly once, by its last owner. Whether
// a number is open is asked of the kernel (fcntl), not of the type.
#include "server/common/unique_fd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "gtest/gtest.h"

namespace aoti_executor {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

int OpenDevNull() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST(UniqueFdTest, ClosesWhatItHoldsWhenItGoes) {
  int raw;
  {
    UniqueFd fd(OpenDevNull());
    raw = fd.get();
    ASSERT_TRUE(fd.valid());
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(UniqueFdTest, AMoveHandsTheDescriptorOverAndTheSourceClosesNothing) {
  UniqueFd source(OpenDevNull());
  const int raw = source.get();
  UniqueFd target(std::move(source));
  EXPECT_FALSE(source.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(target.get(), raw);
  source.reset();  // NOLINT(bugprone-use-after-move): closes nothing
  EXPECT_TRUE(IsOpen(raw));
}

TEST(UniqueFdTest, MoveAssignmentClosesTheOneItReplaces) {
  UniqueFd kept(OpenDevNull());
  UniqueFd replaced(OpenDevNull());
  const int kept_raw = kept.get();
  const int replaced_raw = replaced.get();
  replaced = std::move(kept);
  EXPECT_FALSE(IsOpen(replaced_raw));
  EXPECT_EQ(replaced.get(), kept_raw);
  EXPECT_TRUE(IsOpen(kept_raw));
}

TEST(UniqueFdTest, SelfMoveAssignmentKeepsTheDescriptorOpen) {
  UniqueFd fd(OpenDevNull());
  const int raw = fd.get();
  UniqueFd& alias = fd;
  fd = std::move(alias);
  EXPECT_EQ(fd.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
}

TEST(UniqueFdTest, ReleaseGivesTheDescriptorUpWithoutClosingIt) {
  int raw;
  {
    UniqueFd fd(OpenDevNull());
    raw = fd.release();
    EXPECT_FALSE(fd.valid());
  }
  EXPECT_TRUE(IsOpen(raw));
  close(raw);
}

TEST(UniqueFdTest, ResetClosesTheOldOneAndHoldsTheNew) {
  UniqueFd fd(OpenDevNull());
  const int old = fd.get();
  const int fresh = OpenDevNull();
  fd.reset(fresh);
  EXPECT_FALSE(IsOpen(old));
  EXPECT_EQ(fd.get(), fresh);
  fd.reset(fresh);  // the same number again: kept, not closed
  EXPECT_TRUE(IsOpen(fresh));
}

TEST(UniqueFdTest, ADefaultOneHoldsNothing) {
  UniqueFd fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(fd.get(), -1);
}

TEST(UniqueFdTest, ASocketPairIsConnectedAndCloseOnExec) {
  auto pair = MakeSocketPair(SOCK_SEQPACKET);
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto& [a, b] = *pair;
  EXPECT_EQ(fcntl(a.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(fcntl(b.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(send(a.get(), "hi", 2, 0), 2);
  char got[3] = {};
  EXPECT_EQ(recv(b.get(), got, sizeof(got), 0), 2);  // one record
  EXPECT_STREQ(got, "hi");
}

TEST(UniqueFdTest, APipeReadsWhatItsWriteEndWrote) {
  auto pipe = MakePipe();
  ASSERT_TRUE(pipe.ok()) << pipe.status();
  auto& [read_end, write_end] = *pipe;
  EXPECT_EQ(fcntl(read_end.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(write(write_end.get(), "x", 1), 1);
  write_end.reset();
  char got[2] = {};
  EXPECT_EQ(read(read_end.get(), got, sizeof(got)), 1);
  EXPECT_EQ(read(read_end.get(), got, sizeof(got)), 0);  // EOF: closed
}

}  // namespace
}  // namespace aoti_executor
