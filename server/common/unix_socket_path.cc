#include "server/common/unix_socket_path.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

absl::StatusOr<sockaddr_un> MakeAddress(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path '", path, "' must be 1 to ",
                     sizeof(address.sun_path) - 1, " bytes long"));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

// True if some process accepts connections on the socket file at `path`.
bool SomeoneListens(const sockaddr_un& address, int type) {
  const int probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  const bool live = connect(probe, reinterpret_cast<const sockaddr*>(&address),
                            sizeof(address)) == 0;
  close(probe);
  return live;
}

}  // namespace

absl::Status PrepareSocketPath(const std::string& path) {
  auto address = MakeAddress(path);
  if (!address.ok()) return address.status();
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!parent.empty() && !std::filesystem::exists(parent, error)) {
    std::filesystem::create_directories(parent, error);
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create socket directory '", parent.string(),
                       "': ", error.message()));
    }
    chmod(parent.c_str(), 0755);
  }
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) return absl::OkStatus();  // free
  if (!S_ISSOCK(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", path, "' exists and is not a socket"));
  }
  if (SomeoneListens(*address, SOCK_STREAM) ||
      SomeoneListens(*address, SOCK_SEQPACKET)) {
    return absl::AlreadyExistsError(
        absl::StrCat("another process is listening on '", path, "'"));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("unlink stale socket '", path, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ListenUnixSocket(const std::string& path, int type) {
  if (absl::Status ready = PrepareSocketPath(path); !ready.ok()) return ready;
  auto address = MakeAddress(path);
  if (!address.ok()) return address.status();
  const int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  // Mode before bind (no window in which the file is wider open) would need
  // fchmod on the socket, which Linux ignores; bind then chmod, with the
  // parent directory's mode as the real gate.
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*address),
           sizeof(*address)) != 0 ||
      chmod(path.c_str(), 0660) != 0 || listen(fd, 128) != 0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, absl::StrCat("listen on '", path, "'"));
  }
  return fd;
}

}  // namespace aoti_executor
