// Which local processes may use the daemon: the peer policy, checked on
// every connection to its Unix sockets (the attach socket and the gRPC
// ones) with the credentials the kernel recorded at connect.
//
// The socket files' mode (0660) already keeps out whoever is neither their
// owner nor in their group; the policy closes what the mode leaves open:
// root, whose CAP_DAC_OVERRIDE ignores the mode, and sockets an operator
// made wider (a shared volume, a 0666 chmod).
//
// Default (no --allow-uid, no --allow-gid): the daemon's own uid, and members
// of the group of the socket connected to (primary or supplementary), i.e.
// exactly whom the 0660 mode lets in, root included only if the daemon runs
// as root or the socket's group is root's. Explicit: the daemon's own uid,
// the --allow-uid uids, and members of the --allow-gid groups; the socket's
// group no longer counts.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_PEER_POLICY_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_PEER_POLICY_H_

#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace aoti_executor {

// Who is on the other end of a Unix socket, as of its connect().
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;  // the primary (effective) gid
  // Supplementary groups (SO_PEERGROUPS; empty where the kernel lacks it).
  std::vector<gid_t> groups;
};

// SO_PEERCRED and SO_PEERGROUPS of connected socket `fd`.
absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd);

// "pid 12 uid 65534 gid 65534 groups 4242,4243", for logs.
std::string DescribePeer(const PeerCredentials& peer);

class PeerPolicy {
 public:
  // `allow_uids` and `allow_gids` from the flags; both empty: the default.
  // `self_uid`: the daemon's effective uid.
  PeerPolicy(std::vector<uid_t> allow_uids, std::vector<gid_t> allow_gids,
             uid_t self_uid);

  // OK if `peer` may use a socket whose file belongs to group `socket_gid`;
  // PermissionDenied with PeerRefusedMessage otherwise.
  absl::Status Check(const PeerCredentials& peer, gid_t socket_gid) const;

  // What the policy allows on a socket of group `socket_gid`, for the log:
  // "uid 0, gid 0 (the socket's group; default)".
  std::string Describe(gid_t socket_gid) const;

 private:
  const bool explicit_;
  const uid_t self_uid_;
  const std::set<uid_t> uids_;
  const std::set<gid_t> gids_;
};

// The group of the file at `path` (a socket just bound), for Check.
absl::StatusOr<gid_t> SocketGroup(const std::string& path);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_PEER_POLICY_H_
