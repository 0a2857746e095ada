// Kernel sets by content: every client of one model shares one KernelSet.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_KERNEL_SET_CACHE_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_KERNEL_SET_CACHE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/kernels/kernel_set.h"
#include "server/service/node_table.h"
#include "server/workers/kernel_set_image.h"

namespace aoti_executor {

class KernelSetCache {
 public:
  struct Entry {
    uint64_t id = 0;
    std::string content_hash;  // hex SHA-256 of device + '\0' + JSON
    std::shared_ptr<const KernelSet> kernels;
    // What workers are sent: built once, shared by all of them.
    std::shared_ptr<const KernelSetImage> image;
    // What clients are sent.
    std::shared_ptr<const NodeTable> nodes;
  };

  // How GetOrLoad came by its answer (the daemon's log says).
  enum class Found {
    kParsed,     // new content
    kSameBytes,  // a cached set's JSON is these very bytes
    kSameFile,   // ... and the bytes of the client's file (FindFile)
    kSameHash,   // by its content hash (another client's parse of it
                 // finished first; ExecutorService: asked for by hash)
  };

  // The cached set for this JSON and device, parsed on first use. A JSON
  // that fails to parse is not cached: its error comes back every time.
  // `found`, if not null, says how.
  absl::StatusOr<Entry> GetOrLoad(absl::string_view json,
                                  const std::string& device,
                                  Found* found = nullptr);

  // The cached set for `device` whose JSON the file `fd` (`size` bytes by
  // its fstat, read in place: client_file.h) holds exactly, if any.
  std::optional<Entry> FindFile(int fd, uint64_t size,
                                const std::string& device) const;

  // The cached set with this content hash (KernelSetContentHash), if any.
  std::optional<Entry> Find(const std::string& content_hash) const;

  size_t size() const;

 private:
  // The cached set whose JSON is `json`, byte for byte, for `device`.
  std::optional<Entry> FindBytes(absl::string_view json,
                                 const std::string& device) const;
  // The cached sets whose JSON has `size` bytes, for `device`.
  std::vector<Entry> SameSize(uint64_t size, const std::string& device) const;

  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // by hash
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_KERNEL_SET_CACHE_H_
