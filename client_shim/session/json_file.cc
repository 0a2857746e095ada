#include "client_shim/session/json_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace client {
namespace {

absl::Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return absl::ErrnoToStatus(errno, "writing a memfd");
    data += written;
    size -= static_cast<size_t>(written);
  }
  return absl::OkStatus();
}

// Copies `in` from its current offset to its end into `out`, by sendfile(2)
// where `in` allows it (a regular file), else through a buffer (a pipe).
absl::Status CopyToEnd(int in, int out, const std::string& path) {
  constexpr size_t kMostPerCall = size_t{1} << 30;
  bool spliced = true;
  while (spliced) {
    const ssize_t sent = sendfile(out, in, nullptr, kMostPerCall);
    if (sent == 0) return absl::OkStatus();
    if (sent > 0) continue;
    if (errno == EINTR) continue;
    // EINVAL or ENOSYS: `in` cannot be spliced from. Nothing was copied by
    // the call that failed, so the buffered copy goes on from here.
    if (errno != EINVAL && errno != ENOSYS) {
      return absl::ErrnoToStatus(errno,
                                 absl::StrCat("cannot read \"", path, "\""));
    }
    spliced = false;
  }
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(in, buffer, sizeof(buffer));
    if (n == 0) return absl::OkStatus();
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::ErrnoToStatus(errno,
                                 absl::StrCat("cannot read \"", path, "\""));
    }
    if (absl::Status written = WriteAll(out, buffer, static_cast<size_t>(n));
        !written.ok()) {
      return written;
    }
  }
}

}  // namespace

absl::StatusOr<JsonFile> JsonFile::Open(const std::string& path) {
  UniqueFd file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.valid()) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open \"", path, "\""));
  }
  struct stat facts {};
  if (fstat(file.get(), &facts) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("fstat \"", path, "\""));
  }
  if (S_ISDIR(facts.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", path, "\" is a directory"));
  }
  return JsonFile(path, std::move(file), S_ISREG(facts.st_mode));
}

absl::StatusOr<std::shared_ptr<const SealedJson>> JsonFile::Copy() const {
  if (regular_ && lseek(fd_.get(), 0, SEEK_SET) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot read \"", path_, "\""));
  }
  UniqueFd memfd(
      memfd_create(SealedJson::kMemfdName, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!memfd.valid()) return absl::ErrnoToStatus(errno, "memfd_create");
  if (absl::Status copied = CopyToEnd(fd_.get(), memfd.get(), path_);
      !copied.ok()) {
    return copied;
  }
  return SealedJson::Seal(std::move(memfd));
}

}  // namespace client
}  // namespace aoti_executor
