// Unix socket files: what the daemon does before it listens on one.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_UNIX_SOCKET_PATH_H_
#define AOTI_EXECUTOR_SERVER_COMMON_UNIX_SOCKET_PATH_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/common/unique_fd.h"

namespace aoti_executor {

// Makes `path` ready for bind(): checks it fits sockaddr_un (107 bytes),
// creates its parent directory (mode 0755) if missing, and removes a stale
// socket file left by a dead daemon. AlreadyExists if a live process still
// accepts on it, FailedPrecondition if something else than a socket is there.
// FailedPrecondition, naming the directory, its owner and mode, if another
// local user could replace the socket: the parent directory (lstat: not a
// symlink) must be owned by this process's effective uid or by root, and not
// group- or world-writable unless sticky (like /tmp, 1777).
absl::Status PrepareSocketPath(const std::string& path);

// PrepareSocketPath, then a listening AF_UNIX socket of `type`
// (SOCK_STREAM, SOCK_SEQPACKET) bound at `path` with mode 0660
// (O_CLOEXEC).
absl::StatusOr<UniqueFd> ListenUnixSocket(const std::string& path, int type);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_UNIX_SOCKET_PATH_H_
