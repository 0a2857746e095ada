#include "server/service/client_file.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

// Filesystems whose reads are served by this kernel alone, from its page
// cache or a local device. Not btrfs-or-ext4 "and the rest": a filesystem
// missing here (ZFS, say) only costs its clients the memfd.
bool ReadLocally(const struct statfs& facts) {
  switch (static_cast<uint64_t>(facts.f_type)) {
    case EXT4_SUPER_MAGIC:  // ext2, ext3 and ext4 share it
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case F2FS_SUPER_MAGIC:
    case TMPFS_MAGIC:  // and memfds
    case RAMFS_MAGIC:
    case OVERLAYFS_SUPER_MAGIC:  // container images
    case SQUASHFS_MAGIC:
    case EROFS_SUPER_MAGIC_V1:
      return true;
    default:
      return false;
  }
}

absl::Status TooLarge(uint64_t max_size) {
  return absl::InvalidArgumentError(absl::StrCat(
      "the JSON file sent holds more than the ", max_size, " bytes allowed"));
}

}  // namespace

absl::StatusOr<uint64_t> InPlaceFileSize(int fd) {
  struct stat file {};
  if (fstat(fd, &file) != 0) return absl::ErrnoToStatus(errno, "fstat");
  if (!S_ISREG(file.st_mode)) {
    return absl::NotFoundError(
        "the JSON file sent is not a regular file: send its bytes");
  }
  struct statfs filesystem {};
  if (fstatfs(fd, &filesystem) != 0) {
    return absl::ErrnoToStatus(errno, "fstatfs");
  }
  if (!ReadLocally(filesystem)) {
    return absl::NotFoundError(absl::StrCat(
        "the JSON file sent is on a filesystem (type 0x",
        absl::Hex(static_cast<uint64_t>(filesystem.f_type)),
        ") that the daemon does not read in place: send its bytes"));
  }
  return static_cast<uint64_t>(file.st_size);
}

absl::StatusOr<std::string> ReadClientFile(int fd, uint64_t size,
                                           uint64_t max_size) {
  constexpr size_t kPiece = 1 << 20;
  std::string bytes;
  if (size > max_size) {
    // Said before a gigabyte is read, not after.
    return TooLarge(max_size);
  }
  bytes.reserve(size + kPiece);
  while (true) {
    if (bytes.size() > max_size) return TooLarge(max_size);
    const size_t done = bytes.size();
    bytes.resize(done + kPiece);
    const ssize_t got =
        pread(fd, bytes.data() + done, kPiece, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) {
      bytes.resize(done);
      continue;
    }
    if (got < 0) {
      return absl::ErrnoToStatus(errno, "reading the JSON file sent");
    }
    bytes.resize(done + static_cast<size_t>(got));
    if (got == 0) return bytes;
  }
}

}  // namespace aoti_executor
