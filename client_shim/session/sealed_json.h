// A model's extern-kernel JSON as the shim holds it: copied once, inside the
// kernel, from its file into a sealed memfd, which the daemon is handed as it
// is, and which the shim reads through a read-only mapping.
//
// Not a std::string: read into this process's memory and written again into
// a memfd for the daemon, megabytes cost two copies and two sets of fresh
// pages where sendfile(2) costs one copy and one set
// (docs/benchmarks.md, "Registration").
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_SESSION_SEALED_JSON_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_SESSION_SEALED_JSON_H_

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
  // The bytes of the file at `path` (read to its end: a pipe works too).
  static absl::StatusOr<std::shared_ptr<const SealedJson>> ReadFile(
      const std::string& path);
  // `bytes`, copied.
  static absl::StatusOr<std::shared_ptr<const SealedJson>> FromBytes(
      absl::string_view bytes);

  absl::string_view bytes() const { return mapped_.bytes(); }
  size_t size() const { return bytes().size(); }
  // The memfd, sealed against writing, shrinking and growing.
  int fd() const { return fd_.get(); }

 private:
  SealedJson(UniqueFd fd, SealedBytes mapped)
      : fd_(std::move(fd)), mapped_(std::move(mapped)) {}
  // Seals the memfd `fd` and maps it.
  static absl::StatusOr<std::shared_ptr<const SealedJson>> Seal(UniqueFd fd);
  // Maps the sealed memfd `fd`.
  static absl::StatusOr<std::shared_ptr<const SealedJson>> Map(UniqueFd fd);

  UniqueFd fd_;
  SealedBytes mapped_;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_SESSION_SEALED_JSON_H_
