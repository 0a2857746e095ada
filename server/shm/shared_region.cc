#include "server/shm/shared_region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

// The largest mapping we accept: it must fit off_t (ftruncate, st_size) and
// size_t (mmap).
constexpr uint64_t kMaxRegionSize =
    static_cast<uint64_t>(std::numeric_limits<off_t>::max()) <
            static_cast<uint64_t>(std::numeric_limits<size_t>::max())
        ? static_cast<uint64_t>(std::numeric_limits<off_t>::max())
        : static_cast<uint64_t>(std::numeric_limits<size_t>::max());

absl::Status SyscallError(const char* syscall) {
  return absl::ErrnoToStatus(errno, syscall);
}

absl::StatusOr<uint8_t*> MapReadWrite(int fd, uint64_t byte_size) {
  void* data = mmap(nullptr, static_cast<size_t>(byte_size),
                    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    return SyscallError("mmap");
  }
  return static_cast<uint8_t*>(data);
}

}  // namespace

absl::StatusOr<SharedRegion> SharedRegion::Create(const std::string& name,
                                                  uint64_t byte_size) {
  if (byte_size == 0 || byte_size > kMaxRegionSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared region size ", byte_size, " must be in [1, ",
                     kMaxRegionSize, "]"));
  }
  UniqueFd owned(memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!owned.valid()) {
    return SyscallError("memfd_create");
  }
  const int fd = owned.get();
  if (ftruncate(fd, static_cast<off_t>(byte_size)) != 0) {
    return SyscallError("ftruncate");
  }
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return SyscallError("fcntl(F_ADD_SEALS)");
  }
  absl::StatusOr<uint8_t*> data = MapReadWrite(fd, byte_size);
  if (!data.ok()) {
    return data.status();
  }
  return SharedRegion(std::move(owned), *data, byte_size);
}

absl::StatusOr<SharedRegion> SharedRegion::Adopt(UniqueFd owned,
                                                 uint64_t expected_size) {
  const int fd = owned.get();
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot adopt invalid fd ", fd));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return SyscallError("fstat");
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        "shared region fd is not a regular file (a memfd is expected)");
  }
  // Seals first, size second: once F_SEAL_SHRINK is in place the size can no
  // longer drop below what fstat reports next.
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    if (errno == EINVAL) {
      return absl::InvalidArgumentError(
          "shared region fd does not support seals (a memfd created with "
          "MFD_ALLOW_SEALING is expected)");
    }
    return SyscallError("fcntl(F_GET_SEALS)");
  }
  if ((seals & F_SEAL_SHRINK) == 0) {
    return absl::InvalidArgumentError(
        "shared region memfd is not sealed against shrinking "
        "(F_SEAL_SHRINK)");
  }
  if (fstat(fd, &st) != 0) {
    return SyscallError("fstat");
  }
  if (st.st_size <= 0) {
    return absl::InvalidArgumentError("shared region memfd is empty");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > kMaxRegionSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared region size ", size, " exceeds ", kMaxRegionSize));
  }
  if (expected_size != 0 && size != expected_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shared region size is ", size, " bytes, expected ", expected_size));
  }
  absl::StatusOr<uint8_t*> data = MapReadWrite(fd, size);
  if (!data.ok()) {
    return data.status();
  }
  return SharedRegion(std::move(owned), *data, size);
}

SharedRegion::SharedRegion(SharedRegion&& other) noexcept
    : fd_(std::move(other.fd_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

SharedRegion& SharedRegion::operator=(SharedRegion&& other) noexcept {
  if (this != &other) {
    SharedRegion old(std::move(*this));
    fd_ = std::move(other.fd_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SharedRegion::~SharedRegion() {
  if (data_ != nullptr) {
    munmap(data_, static_cast<size_t>(size_));
  }
}

bool SharedRegion::Contains(const void* p, uint64_t n) const {
  if (data_ == nullptr || p == nullptr) {
    return false;
  }
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data_);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  if (addr < begin) {
    return false;
  }
  const uint64_t offset = static_cast<uint64_t>(addr - begin);
  return offset <= size_ && n <= size_ - offset;
}

}  // namespace aoti_executor
