// A parsed kernel set as the daemon hands it to workers: one sealed,
// read-only memfd per content with the JSON and where each node lies in it
// (the layout is in proto/worker.proto, RegisterKernelSet).
//
// Built once per content and sent, as the same fd, to every worker that
// needs the set: registering a model the daemon already has costs a worker
// no copy and no parse, and no worker can change what another one reads.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_KERNEL_SET_IMAGE_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_KERNEL_SET_IMAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/worker.pb.h"
#include "server/common/unique_fd.h"
#include "server/kernels/node_span.h"
#include "server/shm/sealed_bytes.h"

namespace aoti_executor {

// The daemon's side: owns the memfd.
class KernelSetImage {
 public:
  static absl::StatusOr<std::shared_ptr<const KernelSetImage>> Create(
      absl::string_view json, const std::vector<NodeSpan>& spans,
      std::string device);
  KernelSetImage(const KernelSetImage&) = delete;
  KernelSetImage& operator=(const KernelSetImage&) = delete;

  int fd() const { return fd_.get(); }
  const std::string& device() const { return device_; }
  // The JSON in the image, mapped read-only: a registration's bytes are
  // compared with it.
  absl::string_view json() const {
    return mapped_.bytes().substr(0, json_size_);
  }
  // The message that goes with fd(), for kernel set `kernel_set_id`.
  ::aoti::executor::worker::v1::RegisterKernelSet Describe(
      uint64_t kernel_set_id) const;

 private:
  KernelSetImage(UniqueFd fd, SealedBytes mapped, std::string device,
                 uint64_t json_size, uint64_t node_count,
                 uint64_t spans_offset);

  const UniqueFd fd_;
  const SealedBytes mapped_;
  const std::string device_;
  const uint64_t json_size_;
  const uint64_t node_count_;
  const uint64_t spans_offset_;
};

// The worker's side: the image mapped read-only, checked against its
// message.
class MappedKernelSetImage {
 public:
  // `fd` is closed whatever happens (the mapping outlives it).
  static absl::StatusOr<std::shared_ptr<const MappedKernelSetImage>> Map(
      UniqueFd fd,
      const ::aoti::executor::worker::v1::RegisterKernelSet& request);
  MappedKernelSetImage(const MappedKernelSetImage&) = delete;
  MappedKernelSetImage& operator=(const MappedKernelSetImage&) = delete;

  absl::string_view json() const { return json_; }
  const std::vector<NodeSpan>& spans() const { return spans_; }

 private:
  MappedKernelSetImage(SealedBytes image, absl::string_view json,
                       std::vector<NodeSpan> spans)
      : image_(std::move(image)), json_(json), spans_(std::move(spans)) {}

  const SealedBytes image_;
  const absl::string_view json_;  // in image_
  const std::vector<NodeSpan> spans_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_KERNEL_SET_IMAGE_H_
