// The peer policy (--allow-uid/--allow-gid; server/service/peer_policy.h)
// against the real aoti-executord, started as a separate process on real
// sockets, and real clients: tests/e2e/policy_peer, which becomes another
// user (the test runs as root) and then uses the shim's C ABI, as any host
// process would. Each refused client must get a message that names its uid
// and the flags; the daemon must log the refusal with pid, uid and gid, and
// count it in aoti_peers_refused_total.
//
// The sockets' mode (0660) already stops other users; to show the policy
// doing its own work, most tests widen the sockets to 0666 after the daemon
// starts, as a shared volume or a careless chmod would.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/logged_daemon.h"
#include "tests/e2e/peer_process.h"

namespace aoti_executor {
namespace e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Generous: the machine may be loaded. Waits are for a condition.
constexpr absl::Duration kPatience = absl::Seconds(180);
// 'nobody' on Debian, and ids no account has: none is root or the test's.
constexpr int kNobody = 65534;
constexpr int kOtherUid = 4000;
constexpr int kSocketGroup = 4242;
constexpr int kAllowedGroup = 4243;

// A directory for one daemon's sockets: a 0755 parent every user can pass,
// and "s" in it with the owner, group and mode the test wants.
class SocketDir {
 public:
  SocketDir(uid_t owner, gid_t group, mode_t mode) {
    char dir[] = "/tmp/aoti-peer.XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    root_ = dir;
    EXPECT_EQ(chmod(root_.c_str(), 0755), 0);
    EXPECT_EQ(mkdir(path().c_str(), 0700), 0);
    EXPECT_EQ(chown(path().c_str(), owner, group), 0);
    EXPECT_EQ(chmod(path().c_str(), mode), 0);  // after chown: keeps setgid
  }
  ~SocketDir() {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  std::string path() const { return root_ + "/s"; }
  std::string socket() const { return path() + "/executor.sock"; }
  std::string attach() const { return socket() + ".attach"; }
  std::string endpoint() const { return "unix:" + socket(); }
  std::string log() const { return root_ + "/daemon.log"; }

  // Lets every local user connect to both sockets (what the policy is for).
  void OpenSocketsToAll() const {
    EXPECT_EQ(chmod(path().c_str(), 0755), 0);
    EXPECT_EQ(chmod(socket().c_str(), 0666), 0);
    EXPECT_EQ(chmod(attach().c_str(), 0666), 0);
  }

 private:
  std::string root_;
};

// Who a policy_peer runs as.
struct As {
  int uid = -1;  // -1: the test's user (root)
  int gid = -1;
  std::string groups = "none";
};

// Runs policy_peer as `as` against `endpoint`; its one line of output.
std::string RunPeer(const As& as, const std::string& endpoint,
                    const std::vector<std::string>& more = {}) {
  std::vector<std::string> args;
  if (as.uid >= 0) {
    args.push_back(absl::StrCat("--uid=", as.uid));
    args.push_back(absl::StrCat("--gid=", as.gid));
    args.push_back(absl::StrCat("--groups=", as.groups));
  }
  args.insert(args.end(), more.begin(), more.end());
  args.push_back(endpoint);
  args.push_back(RunfilePath("tests/fixtures/aten_ops.json"));
  auto peer = PeerProcess::Spawn(RunfilePath("tests/e2e/policy_peer"), args);
  if (!peer.ok()) return peer.status().ToString();
  absl::StatusOr<std::string> line = (*peer)->ReadLine(kPatience);
  (void)(*peer)->Wait(kPatience);
  return line.ok() ? *line : line.status().ToString();
}

std::unique_ptr<LoggedDaemon> StartDaemon(const SocketDir& dir,
                                          std::vector<std::string> flags,
                                          int uid = -1, int gid = -1) {
  flags.insert(flags.begin(), absl::StrCat("--listen=", dir.endpoint()));
  auto daemon = LoggedDaemon::Start({flags, dir.log(), uid, gid});
  EXPECT_TRUE(daemon.ok()) << daemon.status();
  return daemon.ok() ? *std::move(daemon) : nullptr;
}

std::string RefusedMessage(int uid) {
  return absl::StrCat("aoti-executord refused this process: uid ", uid,
                      " is not allowed (--allow-uid/--allow-gid)");
}

// The sample of aoti_peers_refused_total for `socket` in the daemon's page.
std::string RefusedSample(const LoggedDaemon& daemon,
                          const std::string& socket) {
  absl::StatusOr<std::string> page = ScrapeMetrics(daemon.MetricsPort());
  if (!page.ok()) return page.status().ToString();
  const std::string key =
      absl::StrCat("aoti_peers_refused_total{socket=\"", socket, "\"} ");
  const size_t at = page->find(key);
  if (at == std::string::npos) return "absent";
  return page->substr(at, page->find('\n', at) - at);
}

// Default policy: the socket's group. The directory is setgid, so the sockets
// the daemon (root) creates in it belong to kSocketGroup; a user whose
// supplementary groups hold it (how `usermod -aG` grants access, which
// SO_PEERCRED's gid does not show) gets in and runs a call.
TEST(PeerPolicyTest, DefaultAdmitsTheSocketGroupThroughASupplementaryGroup) {
  SocketDir dir(0, kSocketGroup, 02750);
  auto daemon = StartDaemon(dir, {});
  ASSERT_NE(daemon, nullptr);
  struct stat info {};
  ASSERT_EQ(stat(dir.attach().c_str(), &info), 0);
  ASSERT_EQ(info.st_gid, static_cast<gid_t>(kSocketGroup));

  EXPECT_EQ(
      RunPeer({kNobody, kNobody, absl::StrCat(kSocketGroup)}, dir.endpoint()),
      "ok");
  EXPECT_EQ(RunPeer({kOtherUid, kSocketGroup}, dir.endpoint()), "ok");
  EXPECT_THAT(daemon->Log(), Not(HasSubstr("refused")));
}

// Default policy on sockets anyone may open: another user is refused on the
// gRPC socket, before any session, with its uid in the message; the daemon
// logs pid, uid and gid and counts it.
TEST(PeerPolicyTest, DefaultRefusesOtherUsersOnWorldOpenSockets) {
  SocketDir dir(0, 0, 0755);
  auto daemon = StartDaemon(dir, {"--metrics-listen=127.0.0.1:0"});
  ASSERT_NE(daemon, nullptr);
  dir.OpenSocketsToAll();
  ASSERT_EQ(RefusedSample(*daemon, "grpc"),
            "aoti_peers_refused_total{socket=\"grpc\"} 0");

  const std::string answer = RunPeer({kNobody, kNobody}, dir.endpoint());
  EXPECT_THAT(answer, HasSubstr("create failed"));
  EXPECT_THAT(answer, HasSubstr(RefusedMessage(kNobody)));
  EXPECT_THAT(answer, HasSubstr("PERMISSION_DENIED"));
  EXPECT_TRUE(daemon->WaitForLog(
      absl::StrCat("uid ", kNobody, " gid ", kNobody, " groups -"), kPatience))
      << daemon->Log();
  EXPECT_THAT(daemon->Log(), HasSubstr("refused pid "));
  EXPECT_THAT(daemon->Log(), Not(HasSubstr("session opened")));
  EXPECT_EQ(RefusedSample(*daemon, "grpc"),
            "aoti_peers_refused_total{socket=\"grpc\"} 1");
  EXPECT_EQ(RefusedSample(*daemon, "attach"),
            "aoti_peers_refused_total{socket=\"attach\"} 0");
  // GetStatus counts it too (asked by root, whom the policy allows).
  absl::StatusOr<CommandResult> status =
      RunDaemonCommand({absl::StrCat("--status=", dir.endpoint())});
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->exit_code, 0) << status->output;
  EXPECT_THAT(status->output, HasSubstr("peers refused 1 "));
  // The daemon's own user (the test's, root) still gets in.
  EXPECT_EQ(RunPeer({}, dir.endpoint()), "ok");
}

// Explicit policy: the listed uid, and members of the listed group (primary
// or supplementary); members of the socket's group no longer count, and
// nobody else.
TEST(PeerPolicyTest, ExplicitUidsAndGroupsReplaceTheDefault) {
  SocketDir dir(0, kSocketGroup, 02755);
  auto daemon = StartDaemon(dir, {absl::StrCat("--allow-uid=", kNobody),
                                  absl::StrCat("--allow-gid=", kAllowedGroup)});
  ASSERT_NE(daemon, nullptr);
  dir.OpenSocketsToAll();

  EXPECT_EQ(RunPeer({kNobody, kNobody}, dir.endpoint()), "ok");
  EXPECT_EQ(RunPeer({kOtherUid, kAllowedGroup}, dir.endpoint()), "ok");
  EXPECT_EQ(RunPeer({kOtherUid, kOtherUid, absl::StrCat(kAllowedGroup)},
                    dir.endpoint()),
            "ok");
  EXPECT_THAT(RunPeer({kOtherUid, kSocketGroup}, dir.endpoint()),
              HasSubstr(RefusedMessage(kOtherUid)));
  EXPECT_THAT(daemon->Log(), HasSubstr(absl::StrCat("uid ", kOtherUid, " gid ",
                                                    kSocketGroup)));
}

// Root is no exception: a daemon that runs as another user refuses root
// (whose CAP_DAC_OVERRIDE passes any socket mode) unless --allow-uid=0 or a
// group lets it in, on gRPC, and for the admin commands as well.
TEST(PeerPolicyTest, ANonRootDaemonRefusesRoot) {
  SocketDir dir(kNobody, kNobody, 0755);
  auto daemon = StartDaemon(dir, {}, kNobody, kNobody);
  ASSERT_NE(daemon, nullptr);

  EXPECT_THAT(RunPeer({}, dir.endpoint()), HasSubstr(RefusedMessage(0)));
  EXPECT_EQ(RunPeer({kNobody, kNobody}, dir.endpoint()), "ok");
  absl::StatusOr<CommandResult> status =
      RunDaemonCommand({absl::StrCat("--status=", dir.endpoint())});
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->exit_code, 1) << status->output;
  EXPECT_THAT(status->output, HasSubstr(RefusedMessage(0)));
}

// A client that reaches the daemon over TCP passes no gRPC Unix socket, but
// every session needs the attach socket, where it is refused: the shim says
// so at create, with the daemon's words, and the refusal is counted there.
TEST(PeerPolicyTest, ATcpClientIsRefusedAtTheAttachSocket) {
  SocketDir dir(0, 0, 0755);
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  const std::string tcp = absl::StrCat("tcp:127.0.0.1:", port);
  auto daemon =
      StartDaemon(dir, {absl::StrCat("--listen=", tcp), "--insecure-tcp",
                        "--metrics-listen=127.0.0.1:0"});
  ASSERT_NE(daemon, nullptr);
  dir.OpenSocketsToAll();

  const std::string answer =
      RunPeer({kNobody, kNobody}, tcp, {"--env=AOTI_EXECUTOR_INSECURE_TCP=1"});
  EXPECT_THAT(answer, HasSubstr("create failed"));
  EXPECT_THAT(answer, HasSubstr(RefusedMessage(kNobody)));
  EXPECT_TRUE(daemon->WaitForLog(absl::StrCat("attach socket: refused pid "),
                                 kPatience))
      << daemon->Log();
  EXPECT_EQ(RefusedSample(*daemon, "attach"),
            "aoti_peers_refused_total{socket=\"attach\"} 1");
  EXPECT_EQ(RefusedSample(*daemon, "grpc"),
            "aoti_peers_refused_total{socket=\"grpc\"} 0");
  // Root, the daemon's user, runs calls over the same TCP listener.
  EXPECT_EQ(RunPeer({}, tcp, {"--env=AOTI_EXECUTOR_INSECURE_TCP=1"}), "ok");
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
