// SealedJson and JsonFile: a file's bytes, copied once into a memfd sealed
// for good, whatever the file is (regular, empty, a pipe) and whatever
// happens to the file afterwards; a file that cannot be read is named in the
// error. The JSON at the start of a daemon's kernel set image is that JSON
// alone.
#include "client_shim/session/sealed_json.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/types/span.h"
#include "client_shim/session/json_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/shm/sealed_bytes.h"

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

// What a create does with a file this process has not registered, when the
// daemon does not have its content either.
absl::StatusOr<std::shared_ptr<const SealedJson>> ReadFile(
    const std::string& path) {
  absl::StatusOr<JsonFile> file = JsonFile::Open(path);
  if (!file.ok()) return file.status();
  return file->Copy();
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
  auto json = ReadFile(path);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)->bytes(), bytes);
  ExpectSealed(**json);

  WriteFile("model.wrapper.json", "changed");
  EXPECT_EQ((*json)->bytes(), bytes);
}

TEST(SealedJsonTest, EveryCopyOfARegularFileStartsAtItsStart) {
  // The file's offset is shared with the daemon it was sent to, and a
  // failed create copies it again for the local fallback.
  const std::string bytes = Numbered(100000);
  auto file = JsonFile::Open(WriteFile("twice.wrapper.json", bytes));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->regular());
  for (int i = 0; i < 2; ++i) {
    auto json = file->Copy();
    ASSERT_TRUE(json.ok()) << json.status();
    EXPECT_EQ((*json)->bytes(), bytes) << "copy " << i;
  }
}

TEST(SealedJsonTest, TheJsonOfAKernelSetImageIsItsStartAlone) {
  const std::string json = Numbered(50000);
  const std::string spans = "node spans after the JSON";
  const SealedPart parts[] = {{0, json}, {json.size(), spans}};
  auto image = CreateSealedMemfd("image", json.size() + spans.size(),
                                 absl::MakeConstSpan(parts));
  ASSERT_TRUE(image.ok()) << image.status();
  auto adopted = SealedJson::FromKernelSetImage(*std::move(image), json.size());
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ((*adopted)->bytes(), json);
  EXPECT_EQ((*adopted)->size(), json.size());
  // Its memfd holds more than the JSON: it is never sent as the JSON.
  EXPECT_EQ((*adopted)->fd(), -1);

  auto short_image =
      CreateSealedMemfd("image", json.size(), absl::MakeConstSpan(parts, 1));
  ASSERT_TRUE(short_image.ok()) << short_image.status();
  auto too_long =
      SealedJson::FromKernelSetImage(*std::move(short_image), json.size() + 1);
  EXPECT_FALSE(too_long.ok());
  EXPECT_THAT(too_long.status().message(), HasSubstr("fewer than the"));

  // A memfd its sender can still write is no copy to keep.
  UniqueFd unsealed(memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_TRUE(unsealed.valid());
  ASSERT_EQ(write(unsealed.get(), json.data(), json.size()),
            static_cast<ssize_t>(json.size()));
  auto refused =
      SealedJson::FromKernelSetImage(std::move(unsealed), json.size());
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("not sealed"));
}

TEST(SealedJsonTest, AnEmptyFileIsEmpty) {
  auto json = ReadFile(WriteFile("empty.json", ""));
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
  auto file = JsonFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_FALSE(file->regular()) << "a pipe is copied once, as far as it goes";
  auto json = file->Copy();
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
  auto json = ReadFile(missing);
  EXPECT_EQ(json.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(json.status().message(), HasSubstr(missing));

  const std::string directory = TempPath("");
  json = ReadFile(directory);
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(json.status().message(), HasSubstr("is a directory"));
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor
