// A file a client sent on its attach socket for the daemon to read in place:
// the client's own extern-kernel JSON, compared with the sets the daemon
// has (a process's first create of a model the daemon has loaded copies
// nothing), and read only when it is new content.
//
// Only a regular file on a local disk or memory filesystem is read. A read
// of a FUSE or network file can block for as long as its server likes, and
// the client may be that server: an RPC thread of the daemon would hang on
// it. A refusal costs the client speed, not a failure: it sends a memfd.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_CLIENT_FILE_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_CLIENT_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace aoti_executor {

// The size of `fd` if the daemon reads it in place; else NotFound, naming
// why not (the client's cue to send the bytes instead).
absl::StatusOr<uint64_t> InPlaceFileSize(int fd);

// What `fd` holds from its start to its end (which may have moved since its
// fstat gave `size`); InvalidArgument past `max_size` bytes.
absl::StatusOr<std::string> ReadClientFile(int fd, uint64_t size,
                                           uint64_t max_size);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_CLIENT_FILE_H_
