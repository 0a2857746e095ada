// A shared-memory region: a sealed memfd and its read-write mapping.
//
// Memfds rather than named /dev/shm objects: they have no name anyone else
// could open, vanish when the last fd and mapping go (no leak after kill -9
// of either side), and can be sealed so that a peer cannot shrink a file we
// have mapped (which would turn our next access into SIGBUS).
#ifndef AOTI_EXECUTOR_SERVER_SHM_SHARED_REGION_H_
#define AOTI_EXECUTOR_SERVER_SHM_SHARED_REGION_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "server/common/unique_fd.h"

namespace aoti_executor {

class SharedRegion {
 public:
  // Creates a memfd of `byte_size` (> 0) bytes named `name` (shows in
  // /proc/PID/fd only), seals it against shrink, grow and further sealing,
  // and maps it read-write. Pages are not touched.
  static absl::StatusOr<SharedRegion> Create(const std::string& name,
                                             uint64_t byte_size);

  // Maps `fd`, received from a peer, read-write. Refuses (and closes) an fd
  // that is not a regular file, is empty, is not sealed against shrinking,
  // or whose size is not `expected_size` (when non-zero).
  static absl::StatusOr<SharedRegion> Adopt(UniqueFd fd,
                                            uint64_t expected_size = 0);

  SharedRegion(SharedRegion&& other) noexcept;
  SharedRegion& operator=(SharedRegion&& other) noexcept;
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  ~SharedRegion();  // munmap and close

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_.get(); }
  // True if [p, p + n) lies inside the mapping (overflow-safe).
  bool Contains(const void* p, uint64_t n) const;

 private:
  SharedRegion(UniqueFd fd, uint8_t* data, uint64_t size)
      : fd_(std::move(fd)), data_(data), size_(size) {}

  UniqueFd fd_;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SHM_SHARED_REGION_H_
