// The JSON log line (server/common/log_format.h) parsed back with RapidJSON:
// its fields, the LogContext scopes, and escaping of what a message may hold
// (quotes, control characters, bytes that are not UTF-8).
#include "server/common/log_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/common/log_context.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {
namespace {

// The line parsed; a failure if it is not one JSON object and a newline.
rapidjson::Document Parse(const std::string& line) {
  rapidjson::Document document;
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  document.Parse(line.c_str());
  EXPECT_FALSE(document.HasParseError()) << line;
  EXPECT_TRUE(document.IsObject()) << line;
  return document;
}

const absl::Time kTime =
    absl::FromCivil(absl::CivilSecond(2026, 12, 5, 23, 4, 5),
                    absl::UTCTimeZone()) +
    absl::Milliseconds(678);

TEST(JsonLogLineTest, CarriesTimeLevelMessageAndProcess) {
  const rapidjson::Document line = Parse(FormatJsonLogLine(
      kTime, spdlog::level::warn, "worker pid 7 died", LogProcess::kDaemon));
  EXPECT_STREQ(line["time"].GetString(), "2026-12-05T23:04:05.678Z");
  EXPECT_STREQ(line["level"].GetString(), "warning");
  EXPECT_STREQ(line["message"].GetString(), "worker pid 7 died");
  EXPECT_STREQ(line["process"].GetString(), "daemon");
  EXPECT_EQ(line["pid"].GetInt64(), getpid());
  EXPECT_FALSE(line.HasMember("worker_pid"));
}

TEST(JsonLogLineTest, AWorkersLinesNameItsPid) {
  const rapidjson::Document line = Parse(FormatJsonLogLine(
      kTime, spdlog::level::err, "cannot answer", LogProcess::kWorker));
  EXPECT_STREQ(line["level"].GetString(), "error");
  EXPECT_STREQ(line["process"].GetString(), "worker");
  EXPECT_EQ(line["worker_pid"].GetInt64(), getpid());
}

TEST(JsonLogLineTest, ContextFieldsWhileTheirScopeLives) {
  {
    const LogContext session({{"session", 41}, {"op", "outer"}});
    const LogContext node({{"node", int64_t{3}}, {"op", "ns::my_op"}});
    const rapidjson::Document line = Parse(FormatJsonLogLine(
        kTime, spdlog::level::info, "m", LogProcess::kDaemon));
    EXPECT_EQ(line["session"].GetInt(), 41);
    EXPECT_EQ(line["node"].GetInt(), 3);
    // The inner scope wins, and a key appears once.
    EXPECT_STREQ(line["op"].GetString(), "ns::my_op");
    EXPECT_EQ(line.MemberCount(), 8u);
  }
  const rapidjson::Document after = Parse(
      FormatJsonLogLine(kTime, spdlog::level::info, "m", LogProcess::kDaemon));
  EXPECT_FALSE(after.HasMember("session"));
  EXPECT_FALSE(after.HasMember("op"));
}

TEST(JsonLogLineTest, ContextCannotReplaceTheFixedFields) {
  const LogContext context({{"message", "forged"}, {"pid", 1}});
  const rapidjson::Document line = Parse(FormatJsonLogLine(
      kTime, spdlog::level::info, "real", LogProcess::kDaemon));
  EXPECT_STREQ(line["message"].GetString(), "real");
  EXPECT_EQ(line["pid"].GetInt64(), getpid());
}

TEST(JsonLogLineTest, EscapesWhatAMessageMayHold) {
  const std::string message = absl::StrCat(
      "quote \" backslash \\ newline \n tab \t nul ", std::string(1, '\0'),
      " bell \a del \x7f utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
      " bad \xff \xc3 \xed\xa0\x80 \xc0\xaf end");
  const rapidjson::Document line = Parse(FormatJsonLogLine(
      kTime, spdlog::level::info, message, LogProcess::kDaemon));
  const std::string parsed(line["message"].GetString(),
                           line["message"].GetStringLength());
  EXPECT_EQ(parsed, absl::StrCat("quote \" backslash \\ newline \n tab \t nul ",
                                 std::string(1, '\0'),
                                 " bell \a del \x7f utf8 \xc3\xa9 \xe2\x82\xac "
                                 "\xf0\x9f\x98\x80",
                                 // Each byte of a bad sequence becomes U+FFFD.
                                 " bad \xef\xbf\xbd \xef\xbf\xbd "
                                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                                 "\xef\xbf\xbd\xef\xbf\xbd end"));
}

TEST(SetUpLoggingTest, RefusesUnknownFormatsAndLevelsNamingTheFlag) {
  EXPECT_THAT(SetUpLogging("xml", "info", LogProcess::kDaemon).message(),
              ::testing::HasSubstr("--log-format"));
  EXPECT_THAT(SetUpLogging("json", "loud", LogProcess::kDaemon).message(),
              ::testing::HasSubstr("--log-level"));
  EXPECT_TRUE(SetUpLogging("json", "warning", LogProcess::kDaemon).ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  EXPECT_TRUE(SetUpLogging("text", "info", LogProcess::kWorker).ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
}

}  // namespace
}  // namespace aoti_executor
