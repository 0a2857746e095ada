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

namespace aoti_executor {
namespace {

namespace wv1 = ::aoti::executor::worker::v1;

constexpr uint64_t kSpanBytes = 2 * sizeof(uint64_t);
constexpr int kSeals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

absl::Status WriteAll(int fd, const void* data, uint64_t size,
                      uint64_t offset) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = pwrite(fd, bytes, size, static_cast<off_t>(offset));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      return absl::ErrnoToStatus(errno, "writing the kernel set image");
    }
    bytes += written;
    offset += static_cast<uint64_t>(written);
    size -= static_cast<uint64_t>(written);
  }
  return absl::OkStatus();
}

absl::Status Refuse(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("kernel set image: ", why));
}

}  // namespace

KernelSetImage::KernelSetImage(int fd, std::string device, uint64_t json_size,
                               uint64_t node_count, uint64_t spans_offset)
    : fd_(fd),
      device_(std::move(device)),
      json_size_(json_size),
      node_count_(node_count),
      spans_offset_(spans_offset) {}

KernelSetImage::~KernelSetImage() { close(fd_); }

absl::StatusOr<std::shared_ptr<const KernelSetImage>> KernelSetImage::Create(
    absl::string_view json, const std::vector<NodeSpan>& spans,
    std::string device) {
  const uint64_t spans_offset = (json.size() + 7) & ~uint64_t{7};
  const uint64_t total = spans_offset + spans.size() * kSpanBytes;
  const int fd =
      memfd_create("aoti-kernel-set", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return absl::ErrnoToStatus(errno, "memfd_create");
  // Owns fd from here on, whatever fails below.
  std::shared_ptr<const KernelSetImage> image(new KernelSetImage(
      fd, std::move(device), json.size(), spans.size(), spans_offset));
  if (ftruncate(fd, static_cast<off_t>(std::max<uint64_t>(total, 1))) != 0) {
    return absl::ErrnoToStatus(errno, "ftruncate of the kernel set image");
  }
  std::vector<uint64_t> encoded;
  encoded.reserve(2 * spans.size());
  for (const NodeSpan& span : spans) {
    encoded.push_back(span.offset);
    encoded.push_back(span.size);
  }
  // Written, not mapped: a writable mapping would keep F_SEAL_WRITE off.
  if (absl::Status written = WriteAll(fd, json.data(), json.size(), 0);
      !written.ok()) {
    return written;
  }
  if (absl::Status written = WriteAll(
          fd, encoded.data(), encoded.size() * sizeof(uint64_t), spans_offset);
      !written.ok()) {
    return written;
  }
  if (fcntl(fd, F_ADD_SEALS, kSeals) != 0) {
    return absl::ErrnoToStatus(errno, "sealing the kernel set image");
  }
  return image;
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

MappedKernelSetImage::~MappedKernelSetImage() {
  munmap(mapping_, mapped_bytes_);
}

absl::StatusOr<std::shared_ptr<const MappedKernelSetImage>>
MappedKernelSetImage::Map(int fd, const wv1::RegisterKernelSet& request) {
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) close(fd);
    }
  } closer{fd};
  if (fd < 0) return Refuse("no memfd came with the registration");
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
  struct stat facts {};
  if (fstat(fd, &facts) != 0) return absl::ErrnoToStatus(errno, "fstat");
  if (!S_ISREG(facts.st_mode) ||
      static_cast<uint64_t>(facts.st_size) != expected) {
    return Refuse(absl::StrCat("the memfd holds ", facts.st_size,
                               " bytes, not the ", expected, " described"));
  }
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & (F_SEAL_WRITE | F_SEAL_SHRINK)) !=
                       (F_SEAL_WRITE | F_SEAL_SHRINK)) {
    return Refuse("the memfd is not sealed against writing and shrinking");
  }
  void* mapping = mmap(nullptr, expected, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapping == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap");
  const char* bytes = static_cast<const char*>(mapping);
  std::vector<NodeSpan> spans(count);
  for (uint64_t i = 0; i < count; ++i) {
    const char* pair = bytes + offset + i * kSpanBytes;
    std::memcpy(&spans[i].offset, pair, sizeof(uint64_t));
    std::memcpy(&spans[i].size, pair + sizeof(uint64_t), sizeof(uint64_t));
    if (spans[i].offset > json_size ||
        spans[i].size > json_size - spans[i].offset) {
      munmap(mapping, expected);
      return Refuse(absl::StrCat("node ", i, " lies outside the JSON"));
    }
  }
  return std::shared_ptr<const MappedKernelSetImage>(new MappedKernelSetImage(
      mapping, expected, absl::string_view(bytes, json_size),
      std::move(spans)));
}

}  // namespace aoti_executor
