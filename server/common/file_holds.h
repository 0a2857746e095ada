// Whether a file holds exactly some bytes: how the shim finds that a JSON
// file still holds what it registered, and how the daemon finds that a
// client's file holds the JSON of a set it has. Compared piece by piece, with
// no copy of the file and no mapping of it (a file truncated under a mapping
// makes its reader take SIGBUS).
#ifndef AOTI_EXECUTOR_SERVER_COMMON_FILE_HOLDS_H_
#define AOTI_EXECUTOR_SERVER_COMMON_FILE_HOLDS_H_

#include "absl/strings/string_view.h"

namespace aoti_executor {

// True if `fd`, read from its start (its offset is left alone), holds
// exactly `bytes` and then ends. A read error counts as a difference.
bool FileHolds(int fd, absl::string_view bytes);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_FILE_HOLDS_H_
