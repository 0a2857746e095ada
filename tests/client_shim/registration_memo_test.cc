// RegistrationMemo: the content hash and node table a process remembers per
// kernel set content, bounded, and never mistaken for another content's.
#include "client_shim/session/registration_memo.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/content_hash.h"

namespace aoti_executor {
namespace client {
namespace {

std::shared_ptr<const SealedJson> Json(const std::string& text) {
  auto json = SealedJson::FromBytes(text);
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *std::move(json) : nullptr;
}

TEST(RegistrationMemoTest, TheHashIsTheContentHashOfTheBytesAndTheDevice) {
  RegistrationMemo memo;
  const auto json = Json(R"({"nodes": []})");
  EXPECT_EQ(memo.ContentHash(json, "cpu"),
            KernelSetContentHash(json->bytes(), "cpu"));
  EXPECT_EQ(memo.ContentHash(json, "cuda:0"),
            KernelSetContentHash(json->bytes(), "cuda:0"));
}

TEST(RegistrationMemoTest, EqualBytesAreFoundAndDifferentBytesAreNot) {
  RegistrationMemo memo;
  const auto first = Json(std::string(4096, 'a'));
  const std::string hash = memo.ContentHash(first, "cpu");
  EXPECT_EQ(first.use_count(), 2) << "the memo keeps the first content";

  // Another string with the same bytes: found, and not kept a second time.
  const auto same = Json(std::string(4096, 'a'));
  EXPECT_EQ(memo.ContentHash(same, "cpu"), hash);
  EXPECT_EQ(same.use_count(), 1);

  // One byte changed, same size: new content, its own hash.
  std::string changed_text(4096, 'a');
  changed_text[2048] = 'b';
  const auto changed = Json(changed_text);
  EXPECT_EQ(memo.ContentHash(changed, "cpu"),
            KernelSetContentHash(changed_text, "cpu"));
  EXPECT_NE(memo.ContentHash(changed, "cpu"), hash);
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// A file holding bytes the memo has is answered with the memo's own copy
// (no new one); a file changed in place, by a byte or by its length, is not.
TEST(RegistrationMemoTest, AFileWithRememberedBytesIsFoundWithoutACopy) {
  RegistrationMemo memo;
  // More than one of FindFile's 256 KiB reads, and not a multiple of it.
  std::string text(600 << 10, 'a');
  text.back() = 'z';
  const auto json = Json(text);
  memo.RememberHash(json, "cpu", KernelSetContentHash(text, "cpu"));
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/model.wrapper.json";

  Write(path, text);
  EXPECT_EQ(memo.FindFile(path), json);

  std::string changed = text;
  changed[400 << 10] = 'b';  // in the second read
  Write(path, changed);
  EXPECT_EQ(memo.FindFile(path), nullptr);
  Write(path, text + " ");
  EXPECT_EQ(memo.FindFile(path), nullptr);
  Write(path, text.substr(0, text.size() - 1));
  EXPECT_EQ(memo.FindFile(path), nullptr);

  // Not a file it can read: nothing found, and ReadFile names the error.
  EXPECT_EQ(memo.FindFile(path + ".missing"), nullptr);
  EXPECT_EQ(memo.FindFile(std::getenv("TEST_TMPDIR")), nullptr);
}

TEST(RegistrationMemoTest, AHashLearnedFromADaemonIsFoundForEqualBytesOnly) {
  RegistrationMemo memo;
  const auto json = Json(std::string(4096, 'a'));
  EXPECT_FALSE(memo.FindHash(json->bytes(), "cpu").has_value());
  const std::string answered = KernelSetContentHash(json->bytes(), "cpu");
  memo.RememberHash(json, "cpu", answered);
  EXPECT_EQ(json.use_count(), 2) << "the memo keeps the content";

  // Equal bytes in another string: found, and ContentHash need not hash.
  const std::string same(4096, 'a');
  EXPECT_EQ(memo.FindHash(same, "cpu"), answered);
  EXPECT_EQ(memo.ContentHash(Json(same), "cpu"), answered);
  // Another device, or one byte changed: not found.
  EXPECT_FALSE(memo.FindHash(same, "cuda:0").has_value());
  std::string changed(4096, 'a');
  changed[0] = 'b';
  EXPECT_FALSE(memo.FindHash(changed, "cpu").has_value());

  // Remembered twice (two executors of one new model at once): kept once.
  memo.RememberHash(Json(same), "cpu", answered);
  for (size_t i = 1; i < RegistrationMemo::kMaxEntries; ++i) {
    memo.ContentHash(Json("{" + std::to_string(i) + "}"), "cpu");
  }
  EXPECT_EQ(json.use_count(), 2) << "a duplicate would have pushed it out";
  EXPECT_EQ(memo.FindHash(same, "cpu"), answered);
}

TEST(RegistrationMemoTest, RemembersAtMostItsBoundsOldestFirst) {
  RegistrationMemo memo;
  const auto oldest = Json("{0}");
  memo.ContentHash(oldest, "cpu");
  for (size_t i = 1; i <= RegistrationMemo::kMaxEntries; ++i) {
    memo.ContentHash(Json("{" + std::to_string(i) + "}"), "cpu");
  }
  EXPECT_EQ(oldest.use_count(), 1) << "dropped after kMaxEntries newer ones";

  // Bytes too: two contents of more than half the bound cannot both stay.
  const size_t big = RegistrationMemo::kMaxJsonBytes / 2 + 1;
  const auto first_big = Json(std::string(big, 'x'));
  const auto second_big = Json(std::string(big, 'y'));
  memo.ContentHash(first_big, "cpu");
  EXPECT_EQ(first_big.use_count(), 2);
  memo.ContentHash(second_big, "cpu");
  EXPECT_EQ(first_big.use_count(), 1);
  EXPECT_EQ(second_big.use_count(), 2);
}

TEST(RegistrationMemoTest, NodeTablesAreKeptPerContentHash) {
  RegistrationMemo memo;
  EXPECT_FALSE(memo.FindNodes("h1").has_value());
  auto table = std::make_shared<const aoti::executor::v1::PackedNodeTable>();
  memo.RememberNodes("h1", {"fp1", table});
  auto found = memo.FindNodes("h1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->fingerprint, "fp1");
  EXPECT_EQ(found->table, table);
  EXPECT_FALSE(memo.FindNodes("h2").has_value());

  // A newer table for the same content replaces the old one.
  memo.RememberNodes("h1", {"fp2", table});
  EXPECT_EQ(memo.FindNodes("h1")->fingerprint, "fp2");

  for (size_t i = 0; i < RegistrationMemo::kMaxEntries; ++i) {
    memo.RememberNodes("other" + std::to_string(i), {"fp", table});
  }
  EXPECT_FALSE(memo.FindNodes("h1").has_value());
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor
