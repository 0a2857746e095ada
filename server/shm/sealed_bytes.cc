#include "server/shm/sealed_bytes.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

constexpr int kRequiredSeals = F_SEAL_WRITE | F_SEAL_SHRINK;

absl::Status Refuse(absl::string_view what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
}

absl::Status WriteAll(int fd, absl::string_view bytes, uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t written =
        pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return absl::ErrnoToStatus(errno, "writing a memfd");
    bytes.remove_prefix(static_cast<size_t>(written));
    offset += static_cast<uint64_t>(written);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UniqueFd> CreateSealedMemfd(const char* name, uint64_t size,
                                           absl::Span<const SealedPart> parts) {
  for (const SealedPart& part : parts) {
    if (part.offset > size || part.bytes.size() > size - part.offset) {
      return absl::InvalidArgumentError(
          absl::StrCat(part.bytes.size(), " bytes at ", part.offset,
                       " do not fit in a memfd of ", size));
    }
  }
  UniqueFd owned(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!owned.valid()) return absl::ErrnoToStatus(errno, "memfd_create");
  const int fd = owned.get();
  absl::Status status;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    status = absl::ErrnoToStatus(errno, "ftruncate of a memfd");
  }
  for (const SealedPart& part : parts) {
    if (status.ok()) status = WriteAll(fd, part.bytes, part.offset);
  }
  if (status.ok()) status = SealForGood(fd);
  if (!status.ok()) return status;
  return owned;
}

absl::Status SealForGood(int fd) {
  if (fcntl(fd, F_ADD_SEALS,
            F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return absl::ErrnoToStatus(errno, "sealing a memfd");
  }
  return absl::OkStatus();
}

absl::StatusOr<SealedBytes> SealedBytes::Map(UniqueFd owned,
                                             absl::string_view what,
                                             uint64_t expected_size,
                                             uint64_t max_size) {
  const int fd = owned.get();
  if (fd < 0) return Refuse(what, absl::StrCat("invalid fd ", fd));
  // Seals first, size second: once F_SEAL_SHRINK is in place the size can no
  // longer drop below what fstat reports next.
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    return errno == EINVAL ? Refuse(what, "not a memfd that allows sealing")
                           : absl::ErrnoToStatus(errno, "fcntl(F_GET_SEALS)");
  }
  if ((seals & kRequiredSeals) != kRequiredSeals) {
    return Refuse(what,
                  "the memfd is not sealed against writing and shrinking "
                  "(F_SEAL_WRITE | F_SEAL_SHRINK)");
  }
  struct stat facts {};
  if (fstat(fd, &facts) != 0) return absl::ErrnoToStatus(errno, "fstat");
  const uint64_t size = static_cast<uint64_t>(facts.st_size);
  if (!S_ISREG(facts.st_mode)) return Refuse(what, "not a regular file");
  if (size > max_size) {
    return Refuse(what, absl::StrCat(size, " bytes, more than the ", max_size,
                                     " allowed"));
  }
  if (expected_size != 0 && size != expected_size) {
    return Refuse(what,
                  absl::StrCat("the memfd holds ", size, " bytes, not the ",
                               expected_size, " announced"));
  }
  if (size == 0) return SealedBytes(absl::string_view());
  void* mapping = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapping == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap");
  return SealedBytes(
      absl::string_view(static_cast<const char*>(mapping), size));
}

SealedBytes::SealedBytes(SealedBytes&& other) noexcept
    : bytes_(std::exchange(other.bytes_, absl::string_view())) {}

SealedBytes& SealedBytes::operator=(SealedBytes&& other) noexcept {
  if (this != &other) {
    SealedBytes dropped(std::move(*this));
    bytes_ = std::exchange(other.bytes_, absl::string_view());
  }
  return *this;
}

SealedBytes::~SealedBytes() {
  if (!bytes_.empty()) {
    munmap(const_cast<char*>(bytes_.data()), bytes_.size());
  }
}

}  // namespace aoti_executor
