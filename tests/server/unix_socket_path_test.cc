// PrepareSocketPath and ListenUnixSocket against unix_socket_path.h: the
// socket directory is created when missing, trusted when only the daemon's
// user (or root) can change it, and refused, naming it with its owner and
// mode, when another local user could replace the socket in it.
#include "server/common/unix_socket_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// 'nobody' on Debian: a uid that is neither the test's nor root.
constexpr uid_t kOtherUid = 65534;

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(lstat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

class UnixSocketPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Not $TEST_TMPDIR: its paths can be too long for sockaddr_un.
    char base[] = "/tmp/aoti-sockdir.XXXXXX";
    ASSERT_NE(mkdtemp(base), nullptr);
    base_ = base;
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  // A directory under the test's own, created with `mode` (umask aside).
  std::string Plant(const std::string& name, mode_t mode) {
    const std::string dir = absl::StrCat(base_, "/", name);
    EXPECT_EQ(mkdir(dir.c_str(), 0700), 0) << dir;
    EXPECT_EQ(chmod(dir.c_str(), mode), 0) << dir;
    return dir;
  }

  // A planted directory owned by kOtherUid; needs root (as the tests run).
  std::string PlantForeign(const std::string& name, mode_t mode) {
    const std::string dir = Plant(name, mode);
    EXPECT_EQ(chown(dir.c_str(), kOtherUid, kOtherUid), 0) << dir;
    EXPECT_EQ(chmod(dir.c_str(), mode), 0) << dir;  // chown clears set-id bits
    return dir;
  }

  std::string base_;
};

TEST_F(UnixSocketPathTest, CreatesAMissingDirectory0755AndTrustsIt) {
  const std::string dir = absl::StrCat(base_, "/fresh/nested");
  const mode_t old_umask = umask(077);
  const absl::Status ready = PrepareSocketPath(dir + "/executor.sock");
  umask(old_umask);
  ASSERT_TRUE(ready.ok()) << ready;
  EXPECT_EQ(ModeOf(dir), 0755u);
}

TEST_F(UnixSocketPathTest, ListensInAFreshDirectoryAndAgainAfterADeadDaemon) {
  const std::string path = absl::StrCat(base_, "/run/executor.sock");
  absl::StatusOr<UniqueFd> fd = ListenUnixSocket(path, SOCK_STREAM);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(ModeOf(path), 0660u);
  fd->reset();
  // The daemon's restart: its own directory and stale socket are reused.
  fd = ListenUnixSocket(path, SOCK_STREAM);
  ASSERT_TRUE(fd.ok()) << fd.status();
}

TEST_F(UnixSocketPathTest, KeepsTheModeOfAnExistingDirectory) {
  const std::string tight = Plant("tight", 0700);
  ASSERT_TRUE(PrepareSocketPath(tight + "/executor.sock").ok());
  EXPECT_EQ(ModeOf(tight), 0700u);
  const std::string group = Plant("group", 0750);
  ASSERT_TRUE(PrepareSocketPath(group + "/executor.sock").ok());
  EXPECT_EQ(ModeOf(group), 0750u);
}

TEST_F(UnixSocketPathTest, TrustsAStickyWorldWritableDirectory) {
  const std::string sticky = Plant("sticky", 01777);
  absl::StatusOr<UniqueFd> fd =
      ListenUnixSocket(sticky + "/executor.sock", SOCK_SEQPACKET);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(ModeOf(sticky), 01777u);
}

TEST_F(UnixSocketPathTest, RefusesAWorldWritableDirectoryWithoutSticky) {
  const std::string open = Plant("open", 0777);
  const absl::Status ready = PrepareSocketPath(open + "/executor.sock");
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition) << ready;
  EXPECT_THAT(ready.message(),
              AllOf(HasSubstr(absl::StrCat("'", open, "'")),
                    HasSubstr(absl::StrCat("owner uid ", geteuid())),
                    HasSubstr("mode 0777"), HasSubstr("not sticky"),
                    HasSubstr("let it create one")));
  EXPECT_EQ(ModeOf(open), 0777u) << "the refused directory was changed";
  EXPECT_FALSE(ListenUnixSocket(open + "/executor.sock", SOCK_STREAM).ok());
  EXPECT_FALSE(std::filesystem::exists(open + "/executor.sock"));
}

TEST_F(UnixSocketPathTest, RefusesAGroupWritableDirectory) {
  const std::string group = Plant("group", 0770);
  const absl::Status ready = PrepareSocketPath(group + "/executor.sock");
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition) << ready;
  EXPECT_THAT(ready.message(), AllOf(HasSubstr(group), HasSubstr("mode 0770")));
}

TEST_F(UnixSocketPathTest, RefusesADirectoryOwnedByAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "chown to another uid needs root";
  const std::string foreign = PlantForeign("foreign", 0755);
  const absl::Status ready = PrepareSocketPath(foreign + "/executor.sock");
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition) << ready;
  EXPECT_THAT(ready.message(),
              AllOf(HasSubstr(absl::StrCat("'", foreign, "'")),
                    HasSubstr("owner uid 65534"), HasSubstr("mode 0755"),
                    HasSubstr("owned by another user"),
                    HasSubstr("use a directory only aoti-executord's user "
                              "can write")));
}

TEST_F(UnixSocketPathTest, StickyDoesNotMakeAnotherUsersDirectoryTrusted) {
  // Its owner may still remove our socket from it.
  if (geteuid() != 0) GTEST_SKIP() << "chown to another uid needs root";
  const std::string foreign = PlantForeign("foreign-tmp", 01777);
  const absl::Status ready = PrepareSocketPath(foreign + "/executor.sock");
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition) << ready;
  EXPECT_THAT(ready.message(),
              AllOf(HasSubstr("owner uid 65534"), HasSubstr("mode 1777")));
}

TEST_F(UnixSocketPathTest, RefusesASymlinkInPlaceOfTheDirectory) {
  // Even to a directory it would trust: the link's owner can repoint it.
  const std::string real = Plant("real", 0755);
  const std::string link = absl::StrCat(base_, "/link");
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  const absl::Status ready = PrepareSocketPath(link + "/executor.sock");
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition) << ready;
  EXPECT_THAT(ready.message(), AllOf(HasSubstr(absl::StrCat("'", link, "'")),
                                     HasSubstr("symbolic link")));
  EXPECT_FALSE(std::filesystem::exists(real + "/executor.sock"));
}

TEST_F(UnixSocketPathTest, TrustsRootOwnedSystemDirectories) {
  // /tmp itself (root, 1777), where the default endpoint's directory goes.
  EXPECT_TRUE(PrepareSocketPath("/tmp/aoti-sockdir-unused.sock").ok());
}

}  // namespace
}  // namespace aoti_executor
