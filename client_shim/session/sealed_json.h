// A model's extern-kernel JSON as the shim holds it: bytes that no one can
// change, in a sealed memfd that the shim reads through a read-only mapping.
// Either the daemon's own copy (a daemon that has the content compared the
// file with it: JsonFile), or copied once, inside the kernel, from the file
// into a memfd that the daemon is handed as it is.
//
// Not a std::string: read into this process's memory and written again into
// a memfd for the daemon, megabytes cost two copies and two sets of fresh
// pages where sendfile(2) costs one copy and one set
// (docs/benchmarks.md, "Registration").
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_SESSION_SEALED_JSON_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_SESSION_SEALED_JSON_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/common/unique_fd.h"
#include "server/shm/sealed_bytes.h"

namespace aoti_executor {
namespace client {

class SealedJson {
 public:
  // What its memfds are called in /proc/<pid>/fd.
  static constexpr char kMemfdName[] = "aoti-kernel-set-json";

  // The memfd `memfd` (made with MFD_ALLOW_SEALING, written, never mapped
  // writable), sealed for good and mapped.
  static absl::StatusOr<std::shared_ptr<const SealedJson>> Seal(UniqueFd memfd);
  // `bytes`, copied.
  static absl::StatusOr<std::shared_ptr<const SealedJson>> FromBytes(
      absl::string_view bytes);
  // The first `json_size` bytes of a kernel set image the daemon sent
  // (kKernelSetJson): a memfd it sealed for good, which holds more after the
  // JSON.
  static absl::StatusOr<std::shared_ptr<const SealedJson>> FromKernelSetImage(
      UniqueFd image, uint64_t json_size);

  absl::string_view bytes() const { return mapped_.bytes().substr(0, size_); }
  size_t size() const { return size_; }
  // The memfd that holds exactly bytes(), sealed against writing, shrinking
  // and growing; -1 for the JSON of a kernel set image, whose memfd holds
  // more: a daemon is sent a copy of that one (FromBytes).
  int fd() const { return fd_.get(); }

 private:
  SealedJson(UniqueFd fd, SealedBytes mapped, size_t size)
      : fd_(std::move(fd)), mapped_(std::move(mapped)), size_(size) {}
  // Maps the sealed memfd `fd`.
  static absl::StatusOr<std::shared_ptr<const SealedJson>> Map(UniqueFd fd);

  UniqueFd fd_;
  SealedBytes mapped_;
  size_t size_;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_SESSION_SEALED_JSON_H_
