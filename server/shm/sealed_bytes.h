// Bytes a peer handed over in a memfd it can no longer change, mapped
// read-only.
//
// The seals are what make them safe to use in place: a memfd sealed against
// writing and shrinking reads the same tomorrow as when it was hashed or
// checked, and no page of it can vanish under a reader (SIGBUS). A peer that
// keeps a way to change the bytes is refused, rather than copied from.
#ifndef AOTI_EXECUTOR_SERVER_SHM_SEALED_BYTES_H_
#define AOTI_EXECUTOR_SERVER_SHM_SEALED_BYTES_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/common/unique_fd.h"

namespace aoti_executor {

// Bytes to write at an offset of a new sealed memfd.
struct SealedPart {
  uint64_t offset;
  absl::string_view bytes;
};

// A new memfd of `size` bytes (zero-filled, then `parts` written in), sealed
// for good against writing, shrinking and growing. `name` shows in
// /proc/<pid>/fd. Written, not mapped: a writable mapping would keep
// F_SEAL_WRITE off.
absl::StatusOr<UniqueFd> CreateSealedMemfd(const char* name, uint64_t size,
                                           absl::Span<const SealedPart> parts);

// Seals the memfd `fd` (made with MFD_ALLOW_SEALING, no writable mapping
// left) for good against writing, shrinking and growing.
absl::Status SealForGood(int fd);

class SealedBytes {
 public:
  // Maps `fd` (closed whatever happens: the mapping outlives it). `what`
  // names the bytes in errors, e.g. "the kernel set JSON".
  // Refuses a file that is not sealed with F_SEAL_WRITE and F_SEAL_SHRINK,
  // or that holds more than `max_size` bytes, or other than `expected_size`
  // bytes when that is not zero.
  static absl::StatusOr<SealedBytes> Map(UniqueFd fd, absl::string_view what,
                                         uint64_t expected_size,
                                         uint64_t max_size);

  SealedBytes(SealedBytes&& other) noexcept;
  SealedBytes& operator=(SealedBytes&& other) noexcept;
  SealedBytes(const SealedBytes&) = delete;
  SealedBytes& operator=(const SealedBytes&) = delete;
  ~SealedBytes();

  absl::string_view bytes() const { return bytes_; }

 private:
  explicit SealedBytes(absl::string_view bytes) : bytes_(bytes) {}

  absl::string_view bytes_;  // the whole mapping; empty: nothing mapped
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SHM_SEALED_BYTES_H_
