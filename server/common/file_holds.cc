#include "server/common/file_holds.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace aoti_executor {

bool FileHolds(int fd, absl::string_view bytes) {
  // Small enough to stay in the CPU's cache between reads.
  constexpr size_t kPiece = 256 << 10;
  std::vector<char> piece(kPiece);
  uint64_t offset = 0;
  while (true) {
    const ssize_t got =
        pread(fd, piece.data(), piece.size(), static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return false;
    if (got == 0) return offset == bytes.size();
    const size_t n = static_cast<size_t>(got);
    if (n > bytes.size() - offset ||
        std::memcmp(piece.data(), bytes.data() + offset, n) != 0) {
      return false;
    }
    offset += n;
  }
}

}  // namespace aoti_executor
