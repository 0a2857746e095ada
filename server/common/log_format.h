// How aoti-executord and its workers log: spdlog's default logger on stderr,
// as text (spdlog's lines, as always) or as JSON (--log-format=json: one
// object per line, for log pipelines).
//
// A JSON line has "time" (UTC, RFC 3339 with milliseconds), "level"
// (spdlog's name: trace, debug, info, warning, error, critical), "message",
// "process" ("daemon" or "worker"), "pid", in a worker "worker_pid", and the
// fields of the thread's LogContext (log_context.h): "session" (the client's
// pid), "node", "op", "worker_pid", "event" where they apply. Keys and
// values are escaped; bytes that are not UTF-8 become U+FFFD. gRPC's own log
// lines are routed through it too.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_LOG_FORMAT_H_
#define AOTI_EXECUTOR_SERVER_COMMON_LOG_FORMAT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "spdlog/common.h"

namespace aoti_executor {

enum class LogProcess { kDaemon, kWorker };

// Replaces spdlog's default logger with one on stderr in `format` ("text" or
// "json") at `level` (spdlog::level::from_str's names). InvalidArgument,
// naming the flag, for another format or level. Call before any thread logs.
absl::Status SetUpLogging(absl::string_view format, absl::string_view level,
                          LogProcess process);

// One JSON line (with its newline) as the JSON format writes it, with the
// calling thread's LogContext fields.
std::string FormatJsonLogLine(absl::Time time, spdlog::level::level_enum level,
                              absl::string_view message, LogProcess process);

// Appends `text` to `out` as a JSON string, quotes included.
void AppendJsonString(absl::string_view text, std::string* out);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_LOG_FORMAT_H_
