// The daemon's allocator for output tensors of one session, in shared
// regions that it hands to the client.
//
// Outputs are copied into blocks of large regions (one region per many
// outputs, each region sent to the client once), and freed when the client
// releases them. Regions left with no block in use are dropped at the end of
// each call (RetireEmptyRegions), all but one, so memory returns after a
// burst, while a call whose releases empty a region (the previous call's
// large output) can put its own outputs there first: no fresh pages to
// fault in.
#ifndef AOTI_EXECUTOR_SERVER_SHM_OUTPUT_ARENA_H_
#define AOTI_EXECUTOR_SERVER_SHM_OUTPUT_ARENA_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {

class OutputArena {
 public:
  // Called (under no arena lock) for each new region before any block of it
  // is handed out: registers it with the session and sends its fd to the
  // client; returns its region id, or an error that fails the allocation.
  using PublishFn =
      std::function<absl::StatusOr<uint64_t>(std::shared_ptr<SharedRegion>)>;
  // Called when the arena drops an empty region, with its id.
  using RetireFn = std::function<void(uint64_t region_id)>;

  static constexpr uint64_t kDefaultRegionSize = 64ull << 20;
  static constexpr uint64_t kAlignment = 64;

  OutputArena(PublishFn publish, RetireFn retire,
              uint64_t region_size = kDefaultRegionSize);
  // Drops the arena's reference to every region (without calling
  // `retire`). Out of line, where Region is a complete type.
  ~OutputArena();

  struct Block {
    uint64_t region_id;
    uint64_t offset;  // kAlignment-aligned
    uint8_t* data;    // the daemon's mapping of the block
  };

  // A block of at least `byte_size` bytes (0 is allowed and still yields a
  // distinct block). Thread-safe.
  absl::StatusOr<Block> Allocate(uint64_t byte_size);

  // Frees the block that Allocate returned at (region_id, offset); its
  // region stays until RetireEmptyRegions. InvalidArgument if no such block
  // is allocated (a double release).
  absl::Status Release(uint64_t region_id, uint64_t offset);

  // Drops every region with no block in use, keeping at least one region,
  // and calls `retire` for each. Thread-safe.
  void RetireEmptyRegions();

  // Bytes of blocks handed out and not yet released, each counted at its
  // size rounded up to kAlignment (so a 0-byte block counts kAlignment).
  uint64_t bytes_in_use() const;
  size_t region_count() const;

 private:
  struct Region;  // a SharedRegion with its free and used lists

  PublishFn publish_;
  RetireFn retire_;
  uint64_t region_size_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, std::unique_ptr<Region>> regions_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_in_use_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SHM_OUTPUT_ARENA_H_
