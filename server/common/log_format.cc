#include "server/common/log_format.h"

#include <grpc/support/log.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/common/log_context.h"
#include "spdlog/formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {
namespace {

// The length of the UTF-8 sequence at the start of `text`, or 0 if it is not
// a valid one (overlong forms, surrogates and values past U+10FFFF
// included).
size_t Utf8SequenceLength(absl::string_view text) {
  const auto byte = [&](size_t i) {
    return static_cast<unsigned char>(text[i]);
  };
  const unsigned char lead = byte(0);
  size_t length;
  uint32_t code;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  const bool overlong =
      (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
  const bool surrogate = code >= 0xD800 && code <= 0xDFFF;
  if (overlong || surrogate || code > 0x10FFFF) return 0;
  return length;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(LogProcess process) : process_(process) {}

  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    const std::string line = FormatJsonLogLine(
        absl::FromChrono(msg.time), msg.level,
        absl::string_view(msg.payload.data(), msg.payload.size()), process_);
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(process_);
  }

 private:
  const LogProcess process_;
};

// gRPC's own lines (gpr_log, already filtered by GRPC_VERBOSITY), so that a
// JSON log holds no line of another shape.
void ForwardGrpcLog(gpr_log_func_args* args) {
  spdlog::level::level_enum level = spdlog::level::debug;
  if (args->severity == GPR_LOG_SEVERITY_INFO) level = spdlog::level::info;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) level = spdlog::level::err;
  spdlog::log(level, "grpc {}:{}: {}", args->file, args->line, args->message);
}

void AppendField(absl::string_view key, absl::string_view value, bool is_number,
                 std::string* out) {
  out->push_back(',');
  AppendJsonString(key, out);
  out->push_back(':');
  if (is_number) {
    out->append(value.data(), value.size());
  } else {
    AppendJsonString(value, out);
  }
}

}  // namespace

void AppendJsonString(absl::string_view text, std::string* out) {
  out->push_back('"');
  while (!text.empty()) {
    const char c = text[0];
    const size_t length = Utf8SequenceLength(text);
    if (length == 0) {
      out->append("\\ufffd");
      text.remove_prefix(1);
      continue;
    }
    if (length > 1) {
      out->append(text.data(), length);
    } else if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(out, "\\u%04x", static_cast<unsigned char>(c));
    } else {
      out->push_back(c);
    }
    text.remove_prefix(length);
  }
  out->push_back('"');
}

std::string FormatJsonLogLine(absl::Time time, spdlog::level::level_enum level,
                              absl::string_view message, LogProcess process) {
  std::string line = "{\"time\":";
  AppendJsonString(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()),
      &line);
  const spdlog::string_view_t level_name = spdlog::level::to_string_view(level);
  AppendField("level", absl::string_view(level_name.data(), level_name.size()),
              false, &line);
  AppendField("message", message, false, &line);
  const bool worker = process == LogProcess::kWorker;
  AppendField("process", worker ? "worker" : "daemon", false, &line);
  const std::string pid = absl::StrCat(getpid());
  AppendField("pid", pid, true, &line);
  std::set<absl::string_view> keys = {"time", "level", "message", "process",
                                      "pid"};
  if (worker) {
    AppendField("worker_pid", pid, true, &line);
    keys.insert("worker_pid");
  }
  // Innermost first, so that it wins over an outer scope's same key.
  const std::vector<LogField>& fields = CurrentLogFields();
  for (auto field = fields.rbegin(); field != fields.rend(); ++field) {
    if (!keys.insert(field->key).second) continue;
    AppendField(field->key, field->value, field->is_number, &line);
  }
  line.append("}\n");
  return line;
}

absl::Status SetUpLogging(absl::string_view format, absl::string_view level,
                          LogProcess process) {
  const spdlog::level::level_enum parsed =
      spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level=", level, ": expected a spdlog level"));
  }
  std::shared_ptr<spdlog::logger> logger;
  if (format == "json") {
    // Not the color sink: escape codes would break the JSON.
    logger = std::make_shared<spdlog::logger>(
        "", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_formatter(std::make_unique<JsonFormatter>(process));
    gpr_set_log_function(ForwardGrpcLog);
  } else if (format == "text") {
    logger = std::make_shared<spdlog::logger>(
        "", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    // The daemon's lines as spdlog's default; a worker's name its pid.
    if (process == LogProcess::kWorker) {
      logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] [worker %P] %v");
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-format=", format, ": expected text or json"));
  }
  logger->set_level(parsed);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace aoti_executor
