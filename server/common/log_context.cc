#include "server/common/log_context.h"

#include <cstddef>

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

// Per thread: spdlog formats a line on the thread that logs it (the default
// logger is synchronous), so the formatter sees the logger's fields.
std::vector<LogField>& Fields() {
  thread_local std::vector<LogField> fields;
  return fields;
}

}  // namespace

LogField::LogField(std::string key, int64_t number)
    : key(std::move(key)), value(absl::StrCat(number)), is_number(true) {}

LogContext::LogContext(std::initializer_list<LogField> fields)
    : count_(fields.size()) {
  Fields().insert(Fields().end(), fields.begin(), fields.end());
}

LogContext::~LogContext() {
  Fields().erase(Fields().end() - static_cast<ptrdiff_t>(count_),
                 Fields().end());
}

const std::vector<LogField>& CurrentLogFields() { return Fields(); }

}  // namespace aoti_executor
