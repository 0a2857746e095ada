// The real aoti-executord, started as a separate process, with its sockets in
// directories a test planted: one another user owns, and one anyone can write
// without the sticky bit, each make it exit non-zero at start with a message
// on stderr that names the directory; a sticky (1777) one and one it creates
// itself are served from.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/health_check.h"
#include "tests/e2e/daemon_process.h"

namespace aoti_executor {
namespace e2e {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Generous: the machine may be loaded. Waits are for a condition.
constexpr absl::Duration kPatience = absl::Seconds(60);
// 'nobody' on Debian: a uid that is neither the test's nor root.
constexpr uid_t kOtherUid = 65534;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(lstat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

// One aoti-executord listening in `dir`, its stderr kept in a file.
class Daemon {
 public:
  Daemon(const std::string& dir, const std::string& stderr_path)
      : endpoint_(absl::StrCat("unix:", dir, "/executor.sock")),
        stderr_path_(stderr_path) {
    const std::string binary = RunfilePath("server/aoti-executord");
    std::vector<std::string> args = {
        binary, absl::StrCat("--listen=", endpoint_), "--log-level=warn"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      if (std::freopen(stderr_path.c_str(), "w", stderr) == nullptr) _exit(126);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
  }

  ~Daemon() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Its exit status once it has exited, or nullopt if it still runs after
  // kPatience.
  std::optional<int> WaitForExit() {
    const absl::Time give_up = absl::Now() + kPatience;
    while (absl::Now() < give_up) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return std::nullopt;
  }

  // OK once it answers SERVING; an error if it exits or never does.
  absl::Status WaitUntilServing() {
    const absl::Time give_up = absl::Now() + kPatience;
    absl::Status health;
    while (absl::Now() < give_up) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError(absl::StrCat(
            "aoti-executord exited at start, status ", status, ": ", Stderr()));
      }
      health = CheckHealth(endpoint_, absl::Seconds(1));
      if (health.ok()) return health;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return health;
  }

  // SIGTERM; its exit status.
  std::optional<int> Stop() {
    kill(pid_, SIGTERM);
    return WaitForExit();
  }

  std::string Stderr() const { return ReadFile(stderr_path_); }

 private:
  std::string endpoint_;
  std::string stderr_path_;
  pid_t pid_ = -1;
};

class SocketDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Not $TEST_TMPDIR: its paths can be too long for sockaddr_un.
    char base[] = "/tmp/aoti-e2e-sockdir.XXXXXX";
    ASSERT_NE(mkdtemp(base), nullptr);
    base_ = base;
    const char* outputs = std::getenv("TEST_TMPDIR");
    stderr_path_ =
        absl::StrCat(outputs != nullptr ? outputs : base_, "/daemon.stderr");
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  std::string Plant(const std::string& name, mode_t mode, uid_t owner) {
    const std::string dir = absl::StrCat(base_, "/", name);
    EXPECT_EQ(mkdir(dir.c_str(), 0700), 0) << dir;
    EXPECT_EQ(chown(dir.c_str(), owner, owner), 0)
        << dir << ": " << std::strerror(errno);
    EXPECT_EQ(chmod(dir.c_str(), mode), 0) << dir;
    return dir;
  }

  // Starts the daemon on `dir` and expects it to refuse it at start.
  void ExpectRefused(const std::string& dir, const std::string& why) {
    Daemon daemon(dir, stderr_path_);
    const std::optional<int> status = daemon.WaitForExit();
    ASSERT_TRUE(status.has_value()) << "still running on " << dir;
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << *status;
    EXPECT_THAT(daemon.Stderr(),
                AllOf(HasSubstr(absl::StrCat("socket directory '", dir, "'")),
                      HasSubstr(why), HasSubstr("let it create one")));
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << "it bound in " << dir;
  }

  // Starts the daemon on `dir` and expects it to serve, then stop cleanly.
  void ExpectServed(const std::string& dir) {
    Daemon daemon(dir, stderr_path_);
    ASSERT_TRUE(daemon.WaitUntilServing().ok()) << daemon.Stderr();
    EXPECT_EQ(ModeOf(dir + "/executor.sock"), 0660u);
    const std::optional<int> status = daemon.Stop();
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << *status << ": " << daemon.Stderr();
  }

  std::string base_;
  std::string stderr_path_;
};

TEST_F(SocketDirectoryTest, RefusesADirectoryAnotherUserOwns) {
  if (geteuid() != 0) GTEST_SKIP() << "chown to another uid needs root";
  const std::string dir = Plant("foreign", 0755, kOtherUid);
  ExpectRefused(dir, "owner uid 65534");
}

TEST_F(SocketDirectoryTest, RefusesAWorldWritableDirectoryWithoutSticky) {
  const std::string dir = Plant("open", 0777, geteuid());
  ExpectRefused(dir, "mode 0777");
  EXPECT_EQ(ModeOf(dir), 0777u) << "the daemon changed a refused directory";
}

TEST_F(SocketDirectoryTest, ServesFromAStickyWorldWritableDirectory) {
  ExpectServed(Plant("sticky", 01777, geteuid()));
}

TEST_F(SocketDirectoryTest, ServesFromADirectoryItCreates) {
  const std::string dir = absl::StrCat(base_, "/fresh");
  ExpectServed(dir);
  EXPECT_EQ(ModeOf(dir), 0755u);
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
