// The extern-kernel JSON file a create names, open for reading, not read
// yet: what a daemon that has the content compares in place (a process's
// first create of a model the daemon has loaded copies nothing, and keeps
// the daemon's sealed copy), and what is copied into a SealedJson when the
// bytes must come from here.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_SESSION_JSON_FILE_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_SESSION_JSON_FILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client_shim/session/sealed_json.h"
#include "server/common/unique_fd.h"

namespace aoti_executor {
namespace client {

class JsonFile {
 public:
  // Opens `path` read-only; a directory or a missing file is an error that
  // names it.
  static absl::StatusOr<JsonFile> Open(const std::string& path);

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  // A regular file, read from its start by every Copy; a pipe reads once.
  bool regular() const { return regular_; }

  // The bytes, copied into a sealed memfd inside the kernel (sendfile(2)):
  // a regular file's from its start, a pipe's as far as it goes.
  absl::StatusOr<std::shared_ptr<const SealedJson>> Copy() const;

 private:
  JsonFile(std::string path, UniqueFd fd, bool regular)
      : path_(std::move(path)), fd_(std::move(fd)), regular_(regular) {}

  std::string path_;
  UniqueFd fd_;
  bool regular_;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_SESSION_JSON_FILE_H_
