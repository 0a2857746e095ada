#include "client_shim/session/sealed_json.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace aoti_executor {
namespace client {
namespace {

constexpr const char kMemfdName[] = "aoti-kernel-set-json";

absl::StatusOr<UniqueFd> NewMemfd() {
  UniqueFd fd(memfd_create(kMemfdName, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "memfd_create");
  return fd;
}

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

absl::StatusOr<std::shared_ptr<const SealedJson>> SealedJson::ReadFile(
    const std::string& path) {
  const UniqueFd file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.valid()) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open \"", path, "\""));
  }
  struct stat facts {};
  if (fstat(file.get(), &facts) == 0 && S_ISDIR(facts.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", path, "\" is a directory"));
  }
  absl::StatusOr<UniqueFd> memfd = NewMemfd();
  if (!memfd.ok()) return memfd.status();
  if (absl::Status copied = CopyToEnd(file.get(), memfd->get(), path);
      !copied.ok()) {
    return copied;
  }
  return Seal(*std::move(memfd));
}

absl::StatusOr<std::shared_ptr<const SealedJson>> SealedJson::FromBytes(
    absl::string_view bytes) {
  const SealedPart part{0, bytes};
  absl::StatusOr<UniqueFd> memfd = CreateSealedMemfd(
      kMemfdName, bytes.size(), absl::MakeConstSpan(&part, 1));
  if (!memfd.ok()) return memfd.status();
  return Map(*std::move(memfd));
}

absl::StatusOr<std::shared_ptr<const SealedJson>> SealedJson::Seal(
    UniqueFd fd) {
  if (absl::Status sealed = SealForGood(fd.get()); !sealed.ok()) return sealed;
  return Map(std::move(fd));
}

absl::StatusOr<std::shared_ptr<const SealedJson>> SealedJson::Map(UniqueFd fd) {
  // SealedBytes closes the fd it maps: it maps a duplicate, and this keeps
  // the memfd to send.
  UniqueFd for_mapping(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!for_mapping.valid()) return absl::ErrnoToStatus(errno, "dup");
  absl::StatusOr<SealedBytes> mapped =
      SealedBytes::Map(std::move(for_mapping), "the extern-kernel JSON", 0,
                       std::numeric_limits<uint64_t>::max());
  if (!mapped.ok()) return mapped.status();
  return std::shared_ptr<const SealedJson>(
      new SealedJson(std::move(fd), *std::move(mapped)));
}

}  // namespace client
}  // namespace aoti_executor
