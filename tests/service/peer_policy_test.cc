// PeerPolicy's rules (server/service/peer_policy.h) on credentials written
// out, and ReadPeerCredentials on a real socket pair (the kernel's record of
// this process). The end-to-end behaviour, with real users, is in
// tests/e2e/peer_policy_test.cc.
#include "server/service/peer_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

constexpr uid_t kDaemon = 999;
constexpr gid_t kSocketGroup = 4242;

PeerCredentials Peer(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  return PeerCredentials{1234, uid, gid, std::move(groups)};
}

TEST(PeerPolicyTest, DefaultIsTheDaemonsUidAndTheSocketsGroup) {
  const PeerPolicy policy({}, {}, kDaemon);
  EXPECT_TRUE(policy.Check(Peer(kDaemon, 1), kSocketGroup).ok());
  EXPECT_TRUE(policy.Check(Peer(1000, kSocketGroup), kSocketGroup).ok());
  // `usermod -aG`: the group only among the supplementary ones.
  EXPECT_TRUE(
      policy.Check(Peer(1000, 1000, {7, kSocketGroup}), kSocketGroup).ok());
  const absl::Status other = policy.Check(Peer(1000, 1000, {7}), kSocketGroup);
  EXPECT_TRUE(absl::IsPermissionDenied(other));
  EXPECT_EQ(other.message(),
            "aoti-executord refused this process: uid 1000 is not allowed "
            "(--allow-uid/--allow-gid)");
  // Root is not special: its CAP_DAC_OVERRIDE is what the policy closes.
  EXPECT_TRUE(absl::IsPermissionDenied(policy.Check(Peer(0, 0), kSocketGroup)));
  // ... unless the socket's group is root's, or the daemon is root.
  EXPECT_TRUE(policy.Check(Peer(0, 0), 0).ok());
  EXPECT_TRUE(PeerPolicy({}, {}, 0).Check(Peer(0, 0), kSocketGroup).ok());
}

TEST(PeerPolicyTest, ExplicitListsReplaceTheSocketsGroup) {
  const PeerPolicy policy({1000}, {77}, kDaemon);
  EXPECT_TRUE(policy.Check(Peer(kDaemon, 1), kSocketGroup).ok());
  EXPECT_TRUE(policy.Check(Peer(1000, 1), kSocketGroup).ok());
  EXPECT_TRUE(policy.Check(Peer(2000, 77), kSocketGroup).ok());
  EXPECT_TRUE(policy.Check(Peer(2000, 2000, {77}), kSocketGroup).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(
      policy.Check(Peer(2000, kSocketGroup), kSocketGroup)));
  EXPECT_TRUE(absl::IsPermissionDenied(policy.Check(Peer(0, 0), 0)));
  EXPECT_TRUE(PeerPolicy({0}, {}, kDaemon).Check(Peer(0, 0), 5).ok());
  // Only --allow-uid given: no group at all.
  EXPECT_TRUE(absl::IsPermissionDenied(
      PeerPolicy({1000}, {}, kDaemon)
          .Check(Peer(2000, kSocketGroup), kSocketGroup)));
}

TEST(PeerPolicyTest, DescribeSaysWhatIsAllowed) {
  EXPECT_THAT(PeerPolicy({}, {}, kDaemon).Describe(kSocketGroup),
              HasSubstr("uid 999 (the daemon's) and group 4242"));
  EXPECT_THAT(PeerPolicy({1000}, {77, 78}, kDaemon).Describe(kSocketGroup),
              HasSubstr("uids 999,1000 and groups 77,78"));
}

TEST(ReadPeerCredentialsTest, ReadsThisProcessFromASocketPair) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  absl::StatusOr<PeerCredentials> peer = ReadPeerCredentials(pair[0]);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->pid, getpid());
  EXPECT_EQ(peer->uid, geteuid());
  EXPECT_EQ(peer->gid, getegid());
  std::vector<gid_t> groups(getgroups(0, nullptr));
  groups.resize(getgroups(groups.size(), groups.data()));
  EXPECT_THAT(peer->groups, UnorderedElementsAreArray(groups));
  EXPECT_THAT(DescribePeer(*peer),
              HasSubstr(absl::StrCat("pid ", getpid(), " uid ", geteuid())));
  close(pair[0]);
  close(pair[1]);
  EXPECT_FALSE(ReadPeerCredentials(pair[0]).ok());
}

}  // namespace
}  // namespace aoti_executor
