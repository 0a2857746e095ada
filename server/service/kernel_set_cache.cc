#include "server/service/kernel_set_cache.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/content_hash.h"
#include "server/kernels/device.h"

namespace aoti_executor {
namespace {

absl::StatusOr<KernelSet> ParseKernelSet(absl::string_view json,
                                         const std::string& device) {
  auto parsed_device = ParseDevice(device);
  if (!parsed_device.ok()) return parsed_device.status();
  return KernelSet::Parse(json, *parsed_device);
}

}  // namespace

absl::StatusOr<KernelSetCache::Entry> KernelSetCache::GetOrLoad(
    absl::string_view json, const std::string& device) {
  // A client sends JSON only after asking by hash, so the content is almost
  // always new: hash it while parsing (10,000 nodes take milliseconds of
  // each), outside the lock. Two clients racing on one new model both parse,
  // and the first insert wins.
  std::string hash;
  std::thread hasher([&] { hash = KernelSetContentHash(json, device); });
  absl::StatusOr<KernelSet> kernels = ParseKernelSet(json, device);
  hasher.join();
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(hash);
    if (it != entries_.end()) return it->second;
  }
  if (!kernels.ok()) return kernels.status();
  auto image = KernelSetImage::Create(json, kernels->node_spans(), device);
  if (!image.ok()) return image.status();
  std::shared_ptr<const NodeTable> nodes = DescribeNodeTable(*kernels);
  auto shared = std::make_shared<const KernelSet>(*std::move(kernels));
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.try_emplace(hash);
  if (inserted) {
    it->second = Entry{next_id_++, hash, std::move(shared), *std::move(image),
                       std::move(nodes)};
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
