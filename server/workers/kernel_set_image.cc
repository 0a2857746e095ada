#include "server/workers/kernel_set_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/shm/sealed_bytes.h"

namespace aoti_executor {
namespace {

namespace wv1 = ::aoti::executor::worker::v1;

constexpr uint64_t kSpanBytes = 2 * sizeof(uint64_t);

absl::Status Refuse(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("kernel set image: ", why));
}

}  // namespace

KernelSetImage::KernelSetImage(UniqueFd fd, SealedBytes mapped,
                               std::string device, uint64_t json_size,
                               uint64_t node_count, uint64_t spans_offset)
    : fd_(std::move(fd)),
      mapped_(std::move(mapped)),
      device_(std::move(device)),
      json_size_(json_size),
      node_count_(node_count),
      spans_offset_(spans_offset) {}

absl::StatusOr<std::shared_ptr<const KernelSetImage>> KernelSetImage::Create(
    absl::string_view json, const std::vector<NodeSpan>& spans,
    std::string device) {
  const uint64_t spans_offset = (json.size() + 7) & ~uint64_t{7};
  const uint64_t total = spans_offset + spans.size() * kSpanBytes;
  std::vector<uint64_t> encoded;
  encoded.reserve(2 * spans.size());
  for (const NodeSpan& span : spans) {
    encoded.push_back(span.offset);
    encoded.push_back(span.size);
  }
  const SealedPart parts[] = {
      {0, json},
      {spans_offset,
       absl::string_view(reinterpret_cast<const char*>(encoded.data()),
                         encoded.size() * sizeof(uint64_t))}};
  const uint64_t size = std::max<uint64_t>(total, 1);
  AOTI_ASSIGN_OR_RETURN(UniqueFd fd,
                        CreateSealedMemfd("aoti-kernel-set", size, parts));
  // Map closes the fd it is given; the image keeps its own to send.
  UniqueFd for_mapping(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!for_mapping.valid()) {
    return absl::ErrnoToStatus(errno, "dup of the kernel set image");
  }
  AOTI_ASSIGN_OR_RETURN(
      SealedBytes mapped,
      SealedBytes::Map(std::move(for_mapping), "kernel set image", size, size));
  return std::shared_ptr<const KernelSetImage>(
      new KernelSetImage(std::move(fd), std::move(mapped), std::move(device),
                         json.size(), spans.size(), spans_offset));
}

wv1::RegisterKernelSet KernelSetImage::Describe(uint64_t kernel_set_id) const {
  wv1::RegisterKernelSet message;
  message.set_kernel_set_id(kernel_set_id);
  message.set_device(device_);
  message.set_json_size(json_size_);
  message.set_node_count(node_count_);
  message.set_spans_offset(spans_offset_);
  return message;
}

absl::StatusOr<std::shared_ptr<const MappedKernelSetImage>>
MappedKernelSetImage::Map(UniqueFd fd, const wv1::RegisterKernelSet& request) {
  if (!fd.valid()) return Refuse("no memfd came with the registration");
  const uint64_t json_size = request.json_size();
  const uint64_t offset = request.spans_offset();
  const uint64_t count = request.node_count();
  if (offset < json_size || offset % 8 != 0 ||
      count > UINT64_MAX / kSpanBytes ||
      offset > UINT64_MAX - count * kSpanBytes) {
    return Refuse(absl::StrCat("spans at ", offset, " for ", count,
                               " nodes do not fit after ", json_size,
                               " bytes of JSON"));
  }
  const uint64_t expected = std::max<uint64_t>(offset + count * kSpanBytes, 1);
  AOTI_ASSIGN_OR_RETURN(
      SealedBytes image,
      SealedBytes::Map(std::move(fd), "kernel set image", expected, expected));
  const char* bytes = image.bytes().data();
  std::vector<NodeSpan> spans(count);
  for (uint64_t i = 0; i < count; ++i) {
    const char* pair = bytes + offset + i * kSpanBytes;
    std::memcpy(&spans[i].offset, pair, sizeof(uint64_t));
    std::memcpy(&spans[i].size, pair + sizeof(uint64_t), sizeof(uint64_t));
    if (spans[i].offset > json_size ||
        spans[i].size > json_size - spans[i].offset) {
      return Refuse(absl::StrCat("node ", i, " lies outside the JSON"));
    }
  }
  const absl::string_view json(bytes, json_size);
  return std::shared_ptr<const MappedKernelSetImage>(
      new MappedKernelSetImage(std::move(image), json, std::move(spans)));
}

}  // namespace aoti_executor
