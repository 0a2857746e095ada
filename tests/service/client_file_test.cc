// A client's file as the daemon reads it (client_file.h, file_holds.h):
// which files it reads in place (regular files on a local filesystem; never
// a pipe, whose read could block), and that a comparison or a read sees
// exactly what the file holds, from its start, however far its offset has
// moved and however it has grown.
#include "server/service/client_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/file_holds.h"
#include "server/common/unique_fd.h"

namespace aoti_executor {
namespace {

using ::testing::HasSubstr;

// Bytes no two offsets of which are alike for long, over several pieces.
std::string Numbered(size_t size) {
  std::string bytes;
  for (size_t i = 0; bytes.size() < size; ++i) bytes += std::to_string(i) + ",";
  bytes.resize(size);
  return bytes;
}

UniqueFd OpenFile(const std::string& name, const std::string& bytes) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return UniqueFd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
}

TEST(ClientFileTest, RegularFilesAndMemfdsAreReadInPlaceAndPipesAreNot) {
  const std::string bytes = Numbered(1000);
  const UniqueFd file = OpenFile("in_place.json", bytes);
  ASSERT_TRUE(file.valid());
  auto size = InPlaceFileSize(file.get());
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, bytes.size());

  const UniqueFd memfd(memfd_create("json", MFD_CLOEXEC));
  ASSERT_TRUE(memfd.valid());
  ASSERT_EQ(ftruncate(memfd.get(), 4096), 0);
  size = InPlaceFileSize(memfd.get());
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, 4096u);

  int ends[2];
  ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
  const UniqueFd read_end(ends[0]);
  const UniqueFd write_end(ends[1]);
  size = InPlaceFileSize(read_end.get());
  EXPECT_EQ(size.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(size.status().message(), HasSubstr("not a regular file"));
}

TEST(ClientFileTest, AFileHoldsExactlyTheSameBytesOrNot) {
  // Several of FileHolds' pieces, and not a whole number of them.
  const std::string bytes = Numbered((200 << 10) + 7);
  const UniqueFd same = OpenFile("same.json", bytes);
  ASSERT_TRUE(same.valid());
  // The client's offset is not the daemon's business: the file is read from
  // its start.
  ASSERT_EQ(lseek(same.get(), 12345, SEEK_SET), 12345);
  EXPECT_TRUE(FileHolds(same.get(), bytes));
  EXPECT_TRUE(FileHolds(same.get(), bytes)) << "a second comparison";

  std::string last_differs = bytes;
  last_differs.back() = last_differs.back() == 'x' ? 'y' : 'x';
  EXPECT_FALSE(FileHolds(same.get(), last_differs));
  EXPECT_FALSE(FileHolds(same.get(), bytes.substr(0, bytes.size() - 1)))
      << "the file goes on past the bytes";
  EXPECT_FALSE(
      FileHolds(OpenFile("shorter.json", bytes.substr(1)).get(), bytes));
  EXPECT_FALSE(FileHolds(-1, bytes)) << "a read error is a difference";
}

TEST(ClientFileTest, AReadTakesWhatTheFileHoldsUpToTheLimit) {
  const std::string bytes = Numbered((3 << 20) + 11);
  const UniqueFd file = OpenFile("read.json", bytes);
  ASSERT_TRUE(file.valid());
  ASSERT_EQ(lseek(file.get(), 99, SEEK_SET), 99);
  // A size from an older fstat: the file has grown since.
  auto read = ReadClientFile(file.get(), 100, uint64_t{1} << 30);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes);

  // Too large by its fstat (refused before any read), or grown past the
  // limit since.
  for (const uint64_t size : {uint64_t{bytes.size()}, uint64_t{100}}) {
    read = ReadClientFile(file.get(), size, 1 << 20);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(read.status().message(), HasSubstr("more than the 1048576"));
  }

  read = ReadClientFile(OpenFile("empty.json", "").get(), 0, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
}

}  // namespace
}  // namespace aoti_executor
