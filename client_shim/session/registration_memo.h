// What this process learned registering kernel sets, so that registering one
// again costs neither a SHA-256 of its megabytes nor its node table again: a
// second instance of a model, an executor that reconnects after its daemon
// restarted, a server that reloads a model.
//
// Contents are compared byte for byte, never trusted by a cheaper hash: a
// file that changed is new content. A hash may be one this process computed
// or one a daemon answered for bytes it was sent (the daemon is trusted with
// the calls themselves).
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_SESSION_REGISTRATION_MEMO_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_SESSION_REGISTRATION_MEMO_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "client_shim/session/sealed_json.h"
#include "proto/executor.pb.h"

namespace aoti_executor {
namespace client {

class RegistrationMemo {
 public:
  // Contents (and node tables) remembered at most; the oldest goes first.
  static constexpr size_t kMaxEntries = 8;
  // JSON bytes kept alive here at most, when their executors are gone.
  static constexpr size_t kMaxJsonBytes = 64 << 20;

  // The one of this process.
  static RegistrationMemo& Process();

  // KernelSetContentHash(*json, device), computed once per content. Keeps a
  // reference to `json` (no copy) to compare later ones with.
  std::string ContentHash(std::shared_ptr<const SealedJson> json,
                          const std::string& device);
  // The remembered JSON whose bytes equal the file at `path` now, if any.
  // The file is read in small pieces and compared as it is read (never
  // mapped: a file truncated meanwhile would fault), so that a model this
  // process registered before costs one pass over its bytes, not a copy into
  // a new memfd and then a comparison. Null for a file it cannot read, and
  // for anything but a regular file (which it does not open).
  std::shared_ptr<const SealedJson> FindFile(const std::string& path) const;

  // The hash of equal bytes for `device`, if remembered.
  std::optional<std::string> FindHash(absl::string_view json,
                                      const std::string& device) const;
  // Remembers `hash` as the content hash of `json` for `device`, as a daemon
  // that hashed it answered: this process need not compute it.
  void RememberHash(std::shared_ptr<const SealedJson> json,
                    const std::string& device, std::string hash);

  // A daemon's node table for a content hash, as it answered it.
  struct Nodes {
    std::string fingerprint;  // RegisterKernelSetResponse.nodes_fingerprint
    std::shared_ptr<const aoti::executor::v1::PackedNodeTable> table;
  };
  std::optional<Nodes> FindNodes(const std::string& content_hash) const;
  void RememberNodes(const std::string& content_hash, Nodes nodes);

 private:
  struct Content {
    std::shared_ptr<const SealedJson> json;
    std::string device;
    std::string hash;
  };
  struct HashedNodes {
    std::string content_hash;
    Nodes nodes;
  };

  mutable absl::Mutex mu_;
  std::deque<Content> contents_ ABSL_GUARDED_BY(mu_);   // newest last
  size_t json_bytes_ ABSL_GUARDED_BY(mu_) = 0;          // in contents_
  std::deque<HashedNodes> nodes_ ABSL_GUARDED_BY(mu_);  // newest last
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_SESSION_REGISTRATION_MEMO_H_
