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
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

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
  const UniqueFd probe(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return false;
  return connect(probe.get(), reinterpret_cast<const sockaddr*>(&address),
                 sizeof(address)) == 0;
}

// Creates `dir` (the socket's own directory) if missing, mode 0755 so that
// clients of other users can reach the socket, whose own mode (0660) is the
// gate. An existing directory keeps its mode: the operator chose it.
absl::Status CreateSocketDirectory(const std::string& dir) {
  const std::filesystem::path above = std::filesystem::path(dir).parent_path();
  std::error_code error;
  if (!above.empty()) std::filesystem::create_directories(above, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create socket directory '", above.string(),
                     "': ", error.message()));
  }
  if (mkdir(dir.c_str(), 0755) != 0) {
    const int mkdir_error = errno;
    if (mkdir_error == EEXIST) return absl::OkStatus();
    return absl::ErrnoToStatus(
        mkdir_error,
        absl::StrCat("cannot create socket directory '", dir, "'"));
  }
  // The umask may have narrowed mkdir's 0755; clients need to search it.
  chmod(dir.c_str(), 0755);
  return absl::OkStatus();
}

// Refuses a socket directory another local user controls: whoever can write
// it can unlink the socket and bind their own in its place, and stand between
// every client and the daemon. Root as the owner is trusted (it could do that
// anyway), and so is a sticky directory like /tmp (1777): in it only a
// file's owner may remove or rename the file. lstat: a symlink could be
// repointed by whoever owns it, and is not the directory it seems to be.
absl::Status CheckSocketDirectory(const std::string& dir) {
  struct stat info {};
  if (lstat(dir.c_str(), &info) != 0) {
    const int lstat_error = errno;
    return absl::ErrnoToStatus(lstat_error,
                               absl::StrCat("socket directory '", dir, "'"));
  }
  const uid_t self = geteuid();
  constexpr absl::string_view kWhatToDo =
      "use a directory only aoti-executord's user can write, or let it "
      "create one (name a path that does not exist yet)";
  if (S_ISLNK(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "socket directory '", dir,
        "' is a symbolic link, which aoti-executord does not follow: ",
        kWhatToDo));
  }
  if (!S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("socket directory '", dir, "' is not a directory"));
  }
  std::string problem;
  if (info.st_uid != self && info.st_uid != 0) {
    problem = absl::StrCat("is owned by another user than aoti-executord (uid ",
                           self, ") or root");
  } else if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
             (info.st_mode & S_ISVTX) == 0) {
    problem = "is writable by other users and not sticky";
  } else {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "socket directory '", dir, "' (owner uid ", info.st_uid, ", mode ",
      absl::StrFormat("%04o", info.st_mode & 07777), ") ", problem,
      ": another user could replace the socket; ", kWhatToDo));
}

}  // namespace

absl::Status PrepareSocketPath(const std::string& path) {
  auto address = MakeAddress(path);
  if (!address.ok()) return address.status();
  std::string dir = std::filesystem::path(path).parent_path().string();
  // A trailing slash would make lstat follow a symlink.
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) dir = ".";
  if (absl::Status created = CreateSocketDirectory(dir); !created.ok()) {
    return created;
  }
  if (absl::Status trusted = CheckSocketDirectory(dir); !trusted.ok()) {
    return trusted;
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

absl::StatusOr<UniqueFd> ListenUnixSocket(const std::string& path, int type) {
  if (absl::Status ready = PrepareSocketPath(path); !ready.ok()) return ready;
  auto address = MakeAddress(path);
  if (!address.ok()) return address.status();
  UniqueFd fd(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  // Mode before bind (no window in which the file is wider open) would need
  // fchmod on the socket, which Linux ignores; bind then chmod, with the
  // parent directory's mode as the real gate.
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&*address),
           sizeof(*address)) != 0 ||
      chmod(path.c_str(), 0660) != 0 || listen(fd.get(), 128) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("listen on '", path, "'"));
  }
  return fd;
}

}  // namespace aoti_executor
