#include "client_shim/session/sealed_json.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace aoti_executor {
namespace client {
absl::StatusOr<std::shared_ptr<const SealedJson>> SealedJson::FromBytes(
    absl::string_view bytes) {
  const SealedPart part{0, bytes};
  absl::StatusOr<UniqueFd> memfd = CreateSealedMemfd(
      kMemfdName, bytes.size(), absl::MakeConstSpan(&part, 1));
  if (!memfd.ok()) return memfd.status();
  return Map(*std::move(memfd));
}

absl::StatusOr<std::shared_ptr<const SealedJson>> SealedJson::Seal(
    UniqueFd memfd) {
  if (absl::Status sealed = SealForGood(memfd.get()); !sealed.ok()) {
    return sealed;
  }
  return Map(std::move(memfd));
}

absl::StatusOr<std::shared_ptr<const SealedJson>>
SealedJson::FromKernelSetImage(UniqueFd image, uint64_t json_size) {
  absl::StatusOr<SealedBytes> mapped =
      SealedBytes::Map(std::move(image), "the kernel set image", 0,
                       std::numeric_limits<uint64_t>::max());
  if (!mapped.ok()) return mapped.status();
  if (mapped->bytes().size() < json_size) {
    return absl::InternalError(
        absl::StrCat("the kernel set image holds ", mapped->bytes().size(),
                     " bytes, fewer than the ", json_size, " of its JSON"));
  }
  return std::shared_ptr<const SealedJson>(
      new SealedJson(UniqueFd(), *std::move(mapped), json_size));
}

absl::StatusOr<std::shared_ptr<const SealedJson>> SealedJson::Map(UniqueFd fd) {
  // SealedBytes closes the fd it maps: it maps a duplicate, and this keeps
  // the memfd to send.
  UniqueFd for_mapping(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!for_mapping.valid()) return absl::ErrnoToStatus(errno, "dup");
  absl::StatusOr<SealedBytes> mapped =
      SealedBytes::Map(std::move(for_mapping), "the extern-kernel JSON", 0,
                       std::numeric_limits<uint64_t>::max());
  if (!mapped.ok()) return mapped.status();
  const size_t size = mapped->bytes().size();
  return std::shared_ptr<const SealedJson>(
      new SealedJson(std::move(fd), *std::move(mapped), size));
}

}  // namespace client
}  // namespace aoti_executor
