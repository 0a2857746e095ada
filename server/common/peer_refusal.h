// The one wording of a refused peer (server/service/peer_policy.h), shared by
// the daemon, which says it on gRPC, and the shim, which says it when the
// attach socket refuses it: a client sees the same message either way.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_PEER_REFUSAL_H_
#define AOTI_EXECUTOR_SERVER_COMMON_PEER_REFUSAL_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace aoti_executor {

// "aoti-executord refused this process: uid 65534 is not allowed
// (--allow-uid/--allow-gid)".
inline std::string PeerRefusedMessage(uint64_t uid) {
  return absl::StrCat("aoti-executord refused this process: uid ", uid,
                      " is not allowed (--allow-uid/--allow-gid)");
}

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_PEER_REFUSAL_H_
