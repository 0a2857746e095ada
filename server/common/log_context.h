// Fields that the JSON log lines of a thread carry while a LogContext lives.
//
// spdlog 1.10 has no structured fields, and the text log already names its
// subjects in the message. For --log-format=json the formatter adds these to
// each line a thread logs inside the scope: e.g. {"worker_pid": 123} around
// the log of a worker's death, so a log pipeline can select by field instead
// of parsing messages. Text logs ignore them.
//
//   LogContext context({{"event", "worker_died"}, {"worker_pid", pid}});
//   spdlog::warn("worker pid {} {}", pid, how);
#ifndef AOTI_EXECUTOR_SERVER_COMMON_LOG_CONTEXT_H_
#define AOTI_EXECUTOR_SERVER_COMMON_LOG_CONTEXT_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace aoti_executor {

// One field: a key and a string or an integer value.
struct LogField {
  LogField(std::string key, absl::string_view text)
      : key(std::move(key)), value(text), is_number(false) {}
  LogField(std::string key, const char* text)
      : LogField(std::move(key), absl::string_view(text)) {}
  LogField(std::string key, int64_t number);
  LogField(std::string key, int number)
      : LogField(std::move(key), static_cast<int64_t>(number)) {}

  std::string key;
  std::string value;  // the number's decimal digits if is_number
  bool is_number;
};

// Adds its fields to the calling thread's log lines until it is destroyed.
// Scopes nest; on a key given twice the innermost wins. Not movable: the
// scope is the object's.
class LogContext {
 public:
  explicit LogContext(std::initializer_list<LogField> fields);
  ~LogContext();
  LogContext(const LogContext&) = delete;
  LogContext& operator=(const LogContext&) = delete;

 private:
  size_t count_;
};

// The calling thread's fields, outermost first.
const std::vector<LogField>& CurrentLogFields();

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_LOG_CONTEXT_H_
