#include "client_shim/memory/shared_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/Device.h>
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <limits>
#include <list>
#include <map>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client_shim/last_error.h"

namespace aoti_executor {
namespace client {
namespace {

constexpr char kRegionName[] = "aoti-host-tensor";

uint64_t PageSize() {
  static const uint64_t page_size = [] {
    const long size = sysconf(_SC_PAGESIZE);
    return size > 0 ? static_cast<uint64_t>(size) : uint64_t{4096};
  }();
  return page_size;
}

// The live and cached regions of the process. Never destroyed: tensors may
// be freed after static destructors have run.
class Registry {
 public:
  static Registry& Get() {
    static Registry* const registry = new Registry;
    return *registry;
  }

  // Makes a cached region of exactly `region_size` bytes live with `n`
  // bytes allocated and returns its data, or nullptr if none is cached.
  uint8_t* TakeCached(uint64_t region_size, uint64_t n) {
    absl::MutexLock lock(&mu_);
    // The most recently freed first: its pages are the likeliest resident.
    for (auto it = cached_.rbegin(); it != cached_.rend(); ++it) {
      if (it->region->size() != region_size) continue;
      uint8_t* data = it->region->data();
      // Copied, inserted, then erased: a bad_alloc leaves it cached.
      live_.emplace(reinterpret_cast<uintptr_t>(data), Live{*it, n});
      cached_bytes_ -= region_size;
      cached_.erase(std::next(it).base());
      return data;
    }
    return nullptr;
  }

  // Registers `region`, new, as live with `n` bytes allocated; returns its
  // data.
  uint8_t* AddNew(std::shared_ptr<SharedRegion> region, uint64_t n) {
    uint8_t* data = region->data();
    absl::MutexLock lock(&mu_);
    const uint64_t key = next_key_++;
    retained_.insert(key);
    try {
      live_.emplace(reinterpret_cast<uintptr_t>(data),
                    Live{Entry{std::move(region), key}, n});
    } catch (...) {
      retained_.erase(key);
      throw;
    }
    ++created_;
    return data;
  }

  // Frees the live allocation at `data`: its region is cached, and the
  // oldest cached regions beyond the bounds are dropped (unmapped after the
  // lock is released, unless someone still holds them). False if no live
  // allocation starts at `data`.
  bool Free(void* data) noexcept {
    // Destroyed after the lock is released: munmap and close take time.
    std::list<Entry> dropped;
    std::shared_ptr<SharedRegion> uncached;
    absl::MutexLock lock(&mu_);
    auto it = live_.find(reinterpret_cast<uintptr_t>(data));
    if (it == live_.end()) return false;
    const uint64_t size = it->second.entry.region->size();
    bool cached = false;
    if (size <= kMaxCachedBytes) {
      try {
        cached_.push_back(it->second.entry);
        cached = true;
      } catch (...) {
        // No memory for a list node: the region is dropped instead.
      }
    }
    if (!cached) {
      Forget(it->second.entry.key);
      uncached = std::move(it->second.entry.region);
      live_.erase(it);
      return true;
    }
    live_.erase(it);
    cached_bytes_ += size;
    while (cached_bytes_ > kMaxCachedBytes ||
           cached_.size() > kMaxCachedRegions) {
      // The newest, just cached, fits by itself: the loop stops before it.
      Forget(cached_.front().key);
      cached_bytes_ -= cached_.front().region->size();
      dropped.splice(dropped.end(), cached_, cached_.begin());
    }
    return true;
  }

  absl::optional<SharedAllocation> Find(const void* p, uint64_t n) {
    if (p == nullptr) return absl::nullopt;
    const uintptr_t address = reinterpret_cast<uintptr_t>(p);
    absl::ReaderMutexLock lock(&mu_);
    auto it = live_.upper_bound(address);
    if (it == live_.begin()) return absl::nullopt;
    --it;
    const uint64_t offset = address - it->first;
    const uint64_t bytes = it->second.bytes;
    if (offset > bytes || n > bytes - offset) return absl::nullopt;
    return SharedAllocation{it->second.entry.region, it->second.entry.key,
                            offset};
  }

  bool Retained(uint64_t key) {
    absl::ReaderMutexLock lock(&mu_);
    return retained_.contains(key);
  }

  uint64_t dropped() const { return dropped_.load(); }

  SharedAllocatorStats Stats() {
    absl::ReaderMutexLock lock(&mu_);
    SharedAllocatorStats stats;
    stats.live_regions = live_.size();
    stats.cached_regions = cached_.size();
    stats.cached_bytes = cached_bytes_;
    stats.regions_created = created_;
    stats.regions_dropped = dropped_.load();
    return stats;
  }

 private:
  struct Entry {
    std::shared_ptr<SharedRegion> region;
    uint64_t key;
  };
  struct Live {
    Entry entry;
    uint64_t bytes;  // as allocated, before rounding to pages
  };

  Registry() = default;

  void Forget(uint64_t key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    retained_.erase(key);
    dropped_.fetch_add(1);
  }

  absl::Mutex mu_;
  // Live allocations by the address of their data.
  std::map<uintptr_t, Live> live_ ABSL_GUARDED_BY(mu_);
  // Freed regions, the oldest first.
  std::list<Entry> cached_ ABSL_GUARDED_BY(mu_);
  uint64_t cached_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // The keys of the regions in live_ and cached_.
  absl::flat_hash_set<uint64_t> retained_ ABSL_GUARDED_BY(mu_);
  uint64_t next_key_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t created_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> dropped_{0};
};

void DeleteShared(void* data) noexcept;

// c10's CPU allocator once installed: large allocations in shared memory,
// the rest from `previous`. Its DataPtrs have their data as context, so
// raw_allocate and raw_deallocate (oneDNN uses them) work too.
class SharedAllocator final : public c10::Allocator {
 public:
  explicit SharedAllocator(c10::Allocator* previous) : previous_(previous) {}

  c10::DataPtr allocate(size_t n) override {
    const uint64_t page_size = PageSize();
    if (n < kSharedAllocationMinBytes ||
        n > std::numeric_limits<size_t>::max() - page_size) {
      return previous_->allocate(n);
    }
    const uint64_t region_size = (n + page_size - 1) / page_size * page_size;
    Registry& registry = Registry::Get();
    uint8_t* data = registry.TakeCached(region_size, n);
    if (data == nullptr) {
      absl::StatusOr<SharedRegion> region =
          SharedRegion::Create(kRegionName, region_size);
      if (!region.ok()) {
        ReportPrivateAllocation(region.status(), n);
        return previous_->allocate(n);
      }
      data = registry.AddNew(std::make_shared<SharedRegion>(*std::move(region)),
                             n);
    }
    return c10::DataPtr(data, data, &DeleteShared,
                        c10::Device(c10::DeviceType::CPU));
  }

  c10::DeleterFnPtr raw_deleter() const override { return &DeleteShared; }

  void copy_data(void* dest, const void* src, size_t count) const override {
    default_copy_data(dest, src, count);
  }

  c10::Allocator* previous() const { return previous_; }

 private:
  // One line to stderr, the first time only: the model still runs, its
  // large tensors are just copied when they cross to the daemon.
  static void ReportPrivateAllocation(const absl::Status& status,
                                      size_t n) noexcept {
    static std::atomic<bool> reported{false};
    if (reported.exchange(true)) return;
    std::fprintf(stderr,
                 "aoti_remote: shared allocator: %s; allocating %zu bytes "
                 "(and any later such failures) in private memory\n",
                 FormatStatus(status).c_str(), n);
  }

  c10::Allocator* const previous_;
};

std::atomic<SharedAllocator*> installed{nullptr};

// The deleter of shared allocations, and the raw deleter of everything this
// allocator made: what the registry does not know came from `previous`.
void DeleteShared(void* data) noexcept {
  if (data == nullptr || Registry::Get().Free(data)) return;
  SharedAllocator* allocator = installed.load();
  c10::DeleterFnPtr previous_deleter =
      allocator != nullptr ? allocator->previous()->raw_deleter() : nullptr;
  if (previous_deleter != nullptr) {
    previous_deleter(data);
  } else {
    // raw_allocate through an allocator without a raw deleter: c10 would
    // have refused to free it too. Leaked rather than crash the host.
    std::fprintf(stderr, "aoti_remote: shared allocator: cannot free %p\n",
                 data);
  }
}

// Keeps this shared library loaded for good: the deleters of the tensors it
// allocated, and c10's CPU allocator, are its code. Best effort.
void PinThisLibrary() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&DeleteShared), &info) == 0 ||
      info.dli_fname == nullptr) {
    return;
  }
  // The handle is never closed: that is the point.
  (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

absl::Status Install() {
  ABSL_CONST_INIT static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  SharedAllocator* allocator = installed.load();
  c10::Allocator* current = c10::GetAllocator(c10::DeviceType::CPU);
  if (allocator != nullptr) {
    if (current == allocator) return absl::OkStatus();
    return absl::FailedPreconditionError(
        "the shared allocator was installed, but another CPU allocator has "
        "replaced it since");
  }
  if (current == nullptr) {
    return absl::FailedPreconditionError("c10 has no CPU allocator");
  }
  PinThisLibrary();
  // Never deleted: tensors it made may outlive everything else.
  allocator = new SharedAllocator(current);
  // The highest priority, so that no later SetAllocator of a lower one
  // replaces it: raw_deallocate always asks the current allocator, which
  // must then know this one's pointers.
  c10::SetAllocator(c10::DeviceType::CPU, allocator, /*priority=*/UINT8_MAX);
  installed.store(allocator);
  if (c10::GetAllocator(c10::DeviceType::CPU) != allocator) {
    return absl::InternalError(
        "c10::SetAllocator did not install the shared allocator");
  }
  return absl::OkStatus();
}

}  // namespace

absl::optional<SharedAllocation> FindSharedAllocation(const void* p,
                                                      uint64_t n) {
  return Registry::Get().Find(p, n);
}

absl::Status InstallSharedAllocator() {
  try {
    return Install();
  } catch (...) {
    return CurrentExceptionStatus();
  }
}

bool SharedAllocatorInstalled() {
  SharedAllocator* allocator = installed.load();
  return allocator != nullptr &&
         c10::GetAllocator(c10::DeviceType::CPU) == allocator;
}

bool SharedRegionRetained(uint64_t key) {
  return Registry::Get().Retained(key);
}

uint64_t SharedRegionsDropped() { return Registry::Get().dropped(); }

SharedAllocatorStats GetSharedAllocatorStats() {
  return Registry::Get().Stats();
}

}  // namespace client
}  // namespace aoti_executor
