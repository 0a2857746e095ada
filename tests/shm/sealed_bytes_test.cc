// SealedBytes and CreateSealedMemfd: bytes a peer cannot change after they
// were handed over, and nothing else, are mapped.
#include "server/shm/sealed_bytes.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/shm/shm_test_util.h"

namespace aoti_executor {
namespace {

using ::aoti_executor::testing_util::CountOpenFds;
using ::aoti_executor::testing_util::MakeMemfd;
using ::testing::HasSubstr;

constexpr uint64_t kMax = 1 << 20;

// A memfd written with write(2) and then sealed with `seals`: built with raw
// system calls, not with the code under test.
UniqueFd MemfdHolding(const std::string& bytes, int seals) {
  UniqueFd fd = MakeMemfd(0, MFD_CLOEXEC | MFD_ALLOW_SEALING, 0);
  EXPECT_EQ(write(fd.get(), bytes.data(), bytes.size()),
            static_cast<ssize_t>(bytes.size()));
  if (seals != 0) {
    EXPECT_EQ(fcntl(fd.get(), F_ADD_SEALS, seals), 0);
  }
  return fd;
}

TEST(SealedBytesTest, MapsAMemfdSealedAgainstWritingAndShrinking) {
  const std::string text = "{\"nodes\": []}";
  UniqueFd fd = MemfdHolding(text, F_SEAL_WRITE | F_SEAL_SHRINK);
  auto mapped = SealedBytes::Map(std::move(fd), "the JSON", text.size(), kMax);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(mapped->bytes(), text);
  // Moved, the mapping stays valid and is unmapped once.
  SealedBytes moved = *std::move(mapped);
  EXPECT_EQ(moved.bytes(), text);
}

TEST(SealedBytesTest, RefusesAMemfdThePeerCanStillWrite) {
  // Only F_SEAL_SHRINK: the peer could change the bytes after the daemon
  // hashed them, and so poison what other clients are served.
  UniqueFd fd = MemfdHolding("{}", F_SEAL_SHRINK | F_SEAL_GROW);
  auto mapped = SealedBytes::Map(std::move(fd), "the JSON", 0, kMax);
  ASSERT_FALSE(mapped.ok());
  EXPECT_EQ(mapped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mapped.status().message(),
              HasSubstr("the JSON: the memfd is not sealed against writing"));
}

TEST(SealedBytesTest, RefusesAMemfdThatCanShrink) {
  UniqueFd fd = MemfdHolding("{}", F_SEAL_WRITE);
  auto mapped = SealedBytes::Map(std::move(fd), "the JSON", 0, kMax);
  ASSERT_FALSE(mapped.ok());
  EXPECT_THAT(mapped.status().message(), HasSubstr("shrinking"));
}

TEST(SealedBytesTest, RefusesAFileThatIsNotASealableMemfd) {
  UniqueFd unsealable = MakeMemfd(16, MFD_CLOEXEC, 0);
  auto mapped = SealedBytes::Map(std::move(unsealable), "the JSON", 0, kMax);
  ASSERT_FALSE(mapped.ok());
  EXPECT_THAT(mapped.status().message(), HasSubstr("the JSON: "));

  int ends[2];
  ASSERT_EQ(pipe(ends), 0);
  close(ends[1]);
  mapped = SealedBytes::Map(UniqueFd(ends[0]), "the JSON", 0, kMax);
  ASSERT_FALSE(mapped.ok());
  EXPECT_THAT(mapped.status().message(), HasSubstr("not a memfd"));
}

TEST(SealedBytesTest, RefusesASizeOtherThanAnnouncedOrOverTheLimit) {
  UniqueFd fd = MemfdHolding("0123456789", F_SEAL_WRITE | F_SEAL_SHRINK);
  auto mapped = SealedBytes::Map(UniqueFd(dup(fd.get())), "the JSON", 4, kMax);
  ASSERT_FALSE(mapped.ok());
  EXPECT_THAT(mapped.status().message(),
              HasSubstr("holds 10 bytes, not the 4 announced"));
  mapped = SealedBytes::Map(std::move(fd), "the JSON", 0, 9);
  ASSERT_FALSE(mapped.ok());
  EXPECT_THAT(mapped.status().message(),
              HasSubstr("10 bytes, more than the 9 allowed"));
}

TEST(SealedBytesTest, ClosesTheFdWhateverHappens) {
  const int before = CountOpenFds();
  for (int seals : {0, F_SEAL_WRITE | F_SEAL_SHRINK}) {
    UniqueFd fd = MemfdHolding("abc", seals);
    (void)SealedBytes::Map(std::move(fd), "the JSON", 0, kMax);
  }
  EXPECT_EQ(CountOpenFds(), before);
}

TEST(CreateSealedMemfdTest, WritesThePartsAndSealsForGood) {
  const SealedPart parts[] = {{0, "head"}, {8, "tail"}};
  auto fd = CreateSealedMemfd("test", 12, parts);
  ASSERT_TRUE(fd.ok()) << fd.status();
  UniqueFd owned = *std::move(fd);
  EXPECT_EQ(fcntl(owned.get(), F_GET_SEALS),
            F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  char read_back[12];
  ASSERT_EQ(pread(owned.get(), read_back, sizeof(read_back), 0), 12);
  EXPECT_EQ(std::string(read_back, 12), std::string("head\0\0\0\0tail", 12));
  // No one can write it any more: not through write(2), not through a
  // shared writable mapping.
  EXPECT_EQ(pwrite(owned.get(), "x", 1, 0), -1);
  EXPECT_EQ(
      mmap(nullptr, 12, PROT_READ | PROT_WRITE, MAP_SHARED, owned.get(), 0),
      MAP_FAILED);
}

TEST(CreateSealedMemfdTest, RefusesAPartThatDoesNotFit) {
  const SealedPart parts[] = {{10, "four"}};
  auto fd = CreateSealedMemfd("test", 12, parts);
  ASSERT_FALSE(fd.ok());
  EXPECT_THAT(fd.status().message(),
              HasSubstr("4 bytes at 10 do not fit in a memfd of 12"));
}

}  // namespace
}  // namespace aoti_executor
