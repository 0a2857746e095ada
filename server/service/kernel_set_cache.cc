#include "server/service/kernel_set_cache.h"

#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/common/content_hash.h"
#include "server/common/file_holds.h"
#include "server/kernels/device.h"

namespace aoti_executor {
namespace {

absl::StatusOr<KernelSet> ParseKernelSet(absl::string_view json,
                                         const std::string& device,
                                         std::stop_token stop) {
  auto parsed_device = ParseDevice(device);
  if (!parsed_device.ok()) return parsed_device.status();
  return KernelSet::Parse(json, *parsed_device, std::move(stop));
}

}  // namespace

absl::StatusOr<KernelSetCache::Entry> KernelSetCache::GetOrLoad(
    absl::string_view json, const std::string& device, Found* found) {
  Found ignored;
  if (found == nullptr) found = &ignored;
  // A second process of a model sends bytes the cache has: comparing them
  // (a fraction of a millisecond for megabytes) beats hashing them, and
  // starts no parse.
  if (std::optional<Entry> same = FindBytes(json, device)) {
    *found = Found::kSameBytes;
    return *std::move(same);
  }
  // Hash and parse at once, outside the lock: new content pays no hash (a
  // 3 MB set takes milliseconds to hash and tens to parse). Content the
  // cache has stops the parse as soon as the hash finds it: a second process
  // of a model pays a hash, not a parse. Two clients racing on one new model
  // both parse, and the first insert wins.
  std::stop_source stop_parse;
  std::string hash;
  std::optional<Entry> cached;
  std::thread hasher([&] {
    hash = KernelSetContentHash(json, device);
    cached = Find(hash);
    if (cached.has_value()) stop_parse.request_stop();
  });
  absl::StatusOr<KernelSet> kernels =
      ParseKernelSet(json, device, stop_parse.get_token());
  hasher.join();
  if (!cached.has_value()) cached = Find(hash);
  if (cached.has_value()) {
    *found = Found::kSameHash;
    return *std::move(cached);
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
  *found = inserted ? Found::kParsed : Found::kSameHash;
  return it->second;
}

std::vector<KernelSetCache::Entry> KernelSetCache::SameSize(
    uint64_t size, const std::string& device) const {
  std::vector<Entry> candidates;
  absl::MutexLock lock(&mu_);
  for (const auto& [hash, entry] : entries_) {
    if (entry.image->json().size() == size && entry.image->device() == device) {
      candidates.push_back(entry);
    }
  }
  return candidates;
}

// Both compare outside the lock: the entries' images are shared, and never
// change.
std::optional<KernelSetCache::Entry> KernelSetCache::FindBytes(
    absl::string_view json, const std::string& device) const {
  for (Entry& entry : SameSize(json.size(), device)) {
    if (entry.image->json() == json) return std::move(entry);
  }
  return std::nullopt;
}

std::optional<KernelSetCache::Entry> KernelSetCache::FindFile(
    int fd, uint64_t size, const std::string& device) const {
  for (Entry& entry : SameSize(size, device)) {
    if (FileHolds(fd, entry.image->json())) return std::move(entry);
  }
  return std::nullopt;
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
