#include "client_shim/session/registration_memo.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <utility>
#include <vector>

#include "server/common/content_hash.h"
#include "server/common/file_holds.h"
#include "server/common/unique_fd.h"

namespace aoti_executor {
namespace client {

RegistrationMemo& RegistrationMemo::Process() {
  static auto* memo = new RegistrationMemo();  // never destroyed: no exit race
  return *memo;
}

std::string RegistrationMemo::ContentHash(
    std::shared_ptr<const SealedJson> json, const std::string& device) {
  std::optional<std::string> known = FindHash(json->bytes(), device);
  if (known.has_value()) return *std::move(known);
  std::string hash = KernelSetContentHash(json->bytes(), device);
  RememberHash(std::move(json), device, hash);
  return hash;
}

std::shared_ptr<const SealedJson> RegistrationMemo::FindFile(
    const std::string& path) const {
  // Not opened unless it is a regular file: opening a pipe would take the
  // one reader its writer waits for.
  struct stat info {};
  if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return nullptr;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid() || fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return nullptr;
  }
  std::vector<std::shared_ptr<const SealedJson>> same_size;
  {
    absl::MutexLock lock(&mu_);
    for (const Content& content : contents_) {
      if (content.json->size() == static_cast<size_t>(info.st_size)) {
        same_size.push_back(content.json);
      }
    }
  }
  for (const std::shared_ptr<const SealedJson>& json : same_size) {
    if (FileHolds(fd.get(), json->bytes())) return json;
  }
  return nullptr;
}

std::optional<std::string> RegistrationMemo::FindHash(
    absl::string_view json, const std::string& device) const {
  absl::MutexLock lock(&mu_);
  for (const Content& content : contents_) {
    // The size first: a memcmp of megabytes only for a likely match.
    const absl::string_view known = content.json->bytes();
    if (known.size() == json.size() && content.device == device &&
        (known.data() == json.data() || known == json)) {
      return content.hash;
    }
  }
  return std::nullopt;
}

void RegistrationMemo::RememberHash(std::shared_ptr<const SealedJson> json,
                                    const std::string& device,
                                    std::string hash) {
  if (json->size() > kMaxJsonBytes) return;
  absl::MutexLock lock(&mu_);
  for (const Content& content : contents_) {
    // Two executors of one new model, registered at once.
    if (content.hash == hash && content.device == device) return;
  }
  json_bytes_ += json->size();
  contents_.push_back(Content{std::move(json), device, std::move(hash)});
  while (contents_.size() > kMaxEntries || json_bytes_ > kMaxJsonBytes) {
    json_bytes_ -= contents_.front().json->size();
    contents_.pop_front();
  }
}

std::optional<RegistrationMemo::Nodes> RegistrationMemo::FindNodes(
    const std::string& content_hash) const {
  absl::MutexLock lock(&mu_);
  for (const HashedNodes& entry : nodes_) {
    if (entry.content_hash == content_hash) return entry.nodes;
  }
  return std::nullopt;
}

void RegistrationMemo::RememberNodes(const std::string& content_hash,
                                     Nodes nodes) {
  absl::MutexLock lock(&mu_);
  for (HashedNodes& entry : nodes_) {
    if (entry.content_hash == content_hash) {
      entry.nodes = std::move(nodes);
      return;
    }
  }
  nodes_.push_back(HashedNodes{content_hash, std::move(nodes)});
  if (nodes_.size() > kMaxEntries) nodes_.pop_front();
}

}  // namespace client
}  // namespace aoti_executor
