#include "server/service/peer_policy.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/peer_refusal.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59  // Linux 4.13; older C libraries lack the name
#endif

namespace aoti_executor {
namespace {

// Supplementary groups of the peer: a member of the socket's group through
// `usermod -aG` (how the systemd unit grants access) is one only here.
absl::StatusOr<std::vector<gid_t>> ReadPeerGroups(int fd) {
  std::vector<gid_t> groups(64);
  while (true) {
    socklen_t length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) ==
        0) {
      groups.resize(length / sizeof(gid_t));
      return groups;
    }
    if (errno == ERANGE && length > groups.size() * sizeof(gid_t)) {
      groups.resize(length / sizeof(gid_t) + 1);
      continue;
    }
    // ENOPROTOOPT: a kernel before 4.13; the primary gid still counts.
    if (errno == ENOPROTOOPT) return std::vector<gid_t>();
    return absl::ErrnoToStatus(errno, "getsockopt(SO_PEERGROUPS)");
  }
}

}  // namespace

absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd) {
  struct ucred cred {};
  socklen_t length = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
    return absl::ErrnoToStatus(errno, "getsockopt(SO_PEERCRED)");
  }
  absl::StatusOr<std::vector<gid_t>> groups = ReadPeerGroups(fd);
  if (!groups.ok()) return groups.status();
  return PeerCredentials{cred.pid, cred.uid, cred.gid, *std::move(groups)};
}

std::string DescribePeer(const PeerCredentials& peer) {
  return absl::StrCat(
      "pid ", peer.pid, " uid ", peer.uid, " gid ", peer.gid, " groups ",
      peer.groups.empty() ? "-" : absl::StrJoin(peer.groups, ","));
}

PeerPolicy::PeerPolicy(std::vector<uid_t> allow_uids,
                       std::vector<gid_t> allow_gids, uid_t self_uid)
    : explicit_(!allow_uids.empty() || !allow_gids.empty()),
      self_uid_(self_uid),
      uids_(allow_uids.begin(), allow_uids.end()),
      gids_(allow_gids.begin(), allow_gids.end()) {}

absl::Status PeerPolicy::Check(const PeerCredentials& peer,
                               gid_t socket_gid) const {
  // The daemon's own user could ptrace it anyway.
  if (peer.uid == self_uid_ || uids_.count(peer.uid) > 0) {
    return absl::OkStatus();
  }
  const auto allowed_group = [&](gid_t gid) {
    return explicit_ ? gids_.count(gid) > 0 : gid == socket_gid;
  };
  if (allowed_group(peer.gid) ||
      std::any_of(peer.groups.begin(), peer.groups.end(), allowed_group)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(PeerRefusedMessage(peer.uid));
}

std::string PeerPolicy::Describe(gid_t socket_gid) const {
  if (!explicit_) {
    return absl::StrCat("uid ", self_uid_, " (the daemon's) and group ",
                        socket_gid,
                        " (the socket's); default: no --allow-uid/--allow-gid");
  }
  std::set<uid_t> uids = uids_;
  uids.insert(self_uid_);
  return absl::StrCat("uids ", absl::StrJoin(uids, ","), " and groups ",
                      gids_.empty() ? "none" : absl::StrJoin(gids_, ","),
                      " (--allow-uid/--allow-gid, and the daemon's own uid)");
}

absl::StatusOr<gid_t> SocketGroup(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  return info.st_gid;
}

}  // namespace aoti_executor
