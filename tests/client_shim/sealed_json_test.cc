// SealedJson: a file's bytes, copied once into a memfd sealed for good,
// whatever the file is (regular, empty, a pipe) and whatever happens to the
// file afterwards; a file that cannot be read is named in the error.
#include "client_shim/session/sealed_json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aoti_executor {
namespace client {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

std::string WriteFile(const std::string& name, const std::string& bytes) {
  std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

// Bytes no two offsets of which are alike for long: a copy that drops,
// repeats or reorders a chunk shows.
std::string Numbered(size_t size) {
  std::string bytes;
  for (size_t i = 0; bytes.size() < size; ++i) bytes += std::to_string(i) + ",";
  bytes.resize(size);
  return bytes;
}

void ExpectSealed(const SealedJson& json) {
  const int seals = fcntl(json.fd(), F_GET_SEALS);
  ASSERT_GE(seals, 0);
  for (int seal : {F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL}) {
    EXPECT_NE(seals & seal, 0) << "seal " << seal;
  }
  struct stat facts {};
  ASSERT_EQ(fstat(json.fd(), &facts), 0);
  EXPECT_EQ(static_cast<size_t>(facts.st_size), json.size());
  EXPECT_EQ(write(json.fd(), "x", 1), -1) << "a sealed memfd refuses writes";
}

TEST(SealedJsonTest, AFilesBytesAreCopiedAndNoLaterChangeReachesThem) {
  // Larger than one sendfile chunk of the page cache, and not page-aligned.
  const std::string bytes = Numbered((3 << 20) + 123);
  const std::string path = WriteFile("model.wrapper.json", bytes);
  auto json = SealedJson::ReadFile(path);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)->bytes(), bytes);
  ExpectSealed(**json);

  WriteFile("model.wrapper.json", "changed");
  EXPECT_EQ((*json)->bytes(), bytes);
}

TEST(SealedJsonTest, AnEmptyFileIsEmpty) {
  auto json = SealedJson::ReadFile(WriteFile("empty.json", ""));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE((*json)->bytes().empty());
  ExpectSealed(**json);
}

TEST(SealedJsonTest, APipeIsReadToItsEnd) {
  // sendfile(2) cannot read a pipe: the buffered copy takes over.
  const std::string path = TempPath("model.fifo");
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  const std::string bytes = Numbered(200000);  // more than a pipe holds
  std::thread writer([&] { std::ofstream(path, std::ios::binary) << bytes; });
  auto json = SealedJson::ReadFile(path);
  writer.join();
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)->bytes(), bytes);
  ExpectSealed(**json);
}

TEST(SealedJsonTest, FromBytesHoldsTheBytes) {
  const std::string bytes = Numbered(70000);
  auto json = SealedJson::FromBytes(bytes);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)->bytes(), bytes);
  ExpectSealed(**json);
}

TEST(SealedJsonTest, AFileThatCannotBeReadIsNamed) {
  const std::string missing = TempPath("no-such.wrapper.json");
  auto json = SealedJson::ReadFile(missing);
  EXPECT_EQ(json.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(json.status().message(), HasSubstr(missing));

  const std::string directory = TempPath("");
  json = SealedJson::ReadFile(directory);
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(json.status().message(), HasSubstr("is a directory"));
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor
