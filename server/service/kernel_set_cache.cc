#include "server/service/kernel_set_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/content_hash.h"
#include "server/kernels/device.h"

namespace aoti_executor {

absl::StatusOr<KernelSetCache::Entry> KernelSetCache::GetOrLoad(
    absl::string_view json, const std::string& device) {
  std::string hash = KernelSetContentHash(json, device);
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(hash);
    if (it != entries_.end()) return it->second;
  }
  // Parsing can take a while (10,000 nodes); do it outside the lock. Two
  // clients racing on one new model both parse, and the first insert wins.
  auto parsed_device = ParseDevice(device);
  if (!parsed_device.ok()) return parsed_device.status();
  auto kernels = KernelSet::Parse(json, *parsed_device);
  if (!kernels.ok()) return kernels.status();
  auto image = KernelSetImage::Create(json, kernels->node_spans(), device);
  if (!image.ok()) return image.status();
  auto shared = std::make_shared<const KernelSet>(*std::move(kernels));
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.try_emplace(hash);
  if (inserted) {
    it->second = Entry{next_id_++, hash, std::move(shared), *std::move(image)};
  }
  return it->second;
}

std::optional<KernelSetCache::Entry> KernelSetCache::Find(
    const std::string& content_hash) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(content_hash);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

size_t KernelSetCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace aoti_executor
