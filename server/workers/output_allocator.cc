#include "server/workers/output_allocator.h"

#include <atomic>
#include <map>
#include <utility>

#include "absl/synchronization/mutex.h"

namespace aoti_executor {
namespace {

thread_local OutputArena* current_arena = nullptr;

// One arena block and who holds it: the worker's tensors (one reference for
// their storage) and the client (one per output it was handed as).
struct ArenaBlock {
  OutputArena* arena;
  uint64_t region_id;
  uint64_t offset;
  std::atomic<int> references{1};
};

void Unreference(ArenaBlock* block) {
  if (--block->references == 0) {
    (void)block->arena->Release(block->region_id, block->offset);
    delete block;
  }
}

void DeleteBlock(void* context) {
  Unreference(static_cast<ArenaBlock*>(context));
}

// Blocks handed to the client, by (region, offset), with how many outputs
// the client holds on each.
absl::Mutex handed_mu;
std::map<std::pair<uint64_t, uint64_t>, std::pair<ArenaBlock*, int>>& Handed() {
  static auto* handed =
      new std::map<std::pair<uint64_t, uint64_t>, std::pair<ArenaBlock*, int>>;
  return *handed;
}

}  // namespace

void OutputAllocator::Install() {
  static OutputAllocator* const allocator =
      new OutputAllocator(c10::GetAllocator(c10::DeviceType::CPU));
  c10::SetAllocator(c10::DeviceType::CPU, allocator, /*priority=*/UINT8_MAX);
}

OutputAllocator::Scope::Scope(OutputArena* arena) : previous_(current_arena) {
  current_arena = arena;
}

OutputAllocator::Scope::~Scope() { current_arena = previous_; }

c10::DataPtr OutputAllocator::allocate(size_t n) {
  OutputArena* arena = current_arena;
  if (arena == nullptr || n < kMinBytes) return fallback_->allocate(n);
  auto block = arena->Allocate(n);
  if (!block.ok()) return fallback_->allocate(n);  // the copy path still works
  auto* context = new ArenaBlock{arena, block->region_id, block->offset};
  return c10::DataPtr(block->data, context, &DeleteBlock,
                      c10::Device(c10::DeviceType::CPU));
}

std::optional<OutputAllocator::Block> OutputAllocator::HandToClient(
    const c10::Storage& storage) {
  auto* block = storage.data_ptr().cast_context<ArenaBlock>(&DeleteBlock);
  if (block == nullptr) return std::nullopt;
  ++block->references;
  absl::MutexLock lock(&handed_mu);
  auto& entry = Handed()[{block->region_id, block->offset}];
  entry.first = block;
  ++entry.second;
  return Block{block->region_id, block->offset};
}

bool OutputAllocator::ReleaseFromClient(uint64_t region_id, uint64_t offset) {
  ArenaBlock* block;
  {
    absl::MutexLock lock(&handed_mu);
    auto it = Handed().find({region_id, offset});
    if (it == Handed().end()) return false;
    block = it->second.first;
    if (--it->second.second == 0) Handed().erase(it);
  }
  Unreference(block);
  return true;
}

}  // namespace aoti_executor
