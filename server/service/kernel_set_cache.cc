#include "server/service/kernel_set_cache.h"

#include <openssl/evp.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/kernels/device.h"

namespace aoti_executor {
namespace {

std::string ContentHash(absl::string_view json, const std::string& device) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  EVP_DigestUpdate(context, device.data(), device.size() + 1);  // with its '\0'
  EVP_DigestUpdate(context, json.data(), json.size());
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace

absl::StatusOr<KernelSetCache::Entry> KernelSetCache::GetOrLoad(
    absl::string_view json, const std::string& device) {
  std::string hash = ContentHash(json, device);
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

size_t KernelSetCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace aoti_executor
