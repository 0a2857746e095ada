// The worker's CPU allocator: while a call runs, large allocations go
// straight into the session's output arena, so an op's output already lies
// in shared memory and reaches the client without a copy.
//
// A block made here is shared between the worker's tensor and, once handed
// out as an output, the client: it returns to the arena when both have let
// go (the tensor's deleter, and the client's release).
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_OUTPUT_ALLOCATOR_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_OUTPUT_ALLOCATOR_H_

#include <c10/core/Allocator.h>
#include <c10/core/Storage.h>

#include <cstdint>
#include <optional>

#include "server/shm/output_arena.h"

namespace aoti_executor {

class OutputAllocator final : public c10::Allocator {
 public:
  // Smaller allocations stay with the default allocator: copying a small
  // output costs less than an arena round trip for every temporary.
  static constexpr size_t kMinBytes = 64 << 10;

  // Makes the allocator the process's CPU allocator, wrapping the one
  // installed before. Once, before any call runs.
  static void Install();

  // While a Scope lives, this thread's large CPU allocations come from
  // `arena`.
  class Scope {
   public:
    explicit Scope(OutputArena* arena);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    OutputArena* previous_;
  };

  // If `storage` is an arena block made here, gives the client a reference
  // to it (released by ReleaseFromClient) and says where it is.
  struct Block {
    uint64_t region_id;
    uint64_t offset;
  };
  static std::optional<Block> HandToClient(const c10::Storage& storage);

  // The client released the output block at (region_id, offset). False if
  // no block made here was handed out there (the caller frees it itself).
  static bool ReleaseFromClient(uint64_t region_id, uint64_t offset);

  c10::DataPtr allocate(size_t n) override;
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void copy_data(void* dest, const void* src, size_t count) const override {
    default_copy_data(dest, src, count);
  }

 private:
  explicit OutputAllocator(c10::Allocator* fallback) : fallback_(fallback) {}

  c10::Allocator* const fallback_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_OUTPUT_ALLOCATOR_H_
