// KernelSetCache: one entry per (JSON, device), parsed once and shared; a
// JSON or device that does not parse is refused, with why, and not cached.
//
// The JSON is what PyTorch 2.13 wrote for //tests/models (tests/fixtures/
// pytorch-2.13): mlp.json and dynamic.json call the ops of
// libaoti_test_ops.so, which the test loads; crashing.json calls
// misbehaving:: ops, whose library it deliberately does not load.
#include "server/service/kernel_set_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/kernels/op_library.h"
#include "server/workers/kernel_set_image.h"

namespace aoti_executor {
namespace {

namespace wv1 = ::aoti::executor::worker::v1;

using ::testing::HasSubstr;

std::string RunfilePath(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return relative;
  return absl::StrCat(srcdir, "/", workspace, "/", relative);
}

std::string ReadFixture(const std::string& name) {
  const std::string path =
      RunfilePath(absl::StrCat("tests/fixtures/pytorch-2.13/", name));
  std::ifstream file(path, std::ios::binary);
  EXPECT_TRUE(file.good()) << "cannot open " << path;
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

class KernelSetCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Process-wide and never unloaded, so once for the whole binary.
    static const absl::Status* loaded = new absl::Status(
        LoadOpLibrary(RunfilePath("tests/ops/libaoti_test_ops.so")));
    ASSERT_TRUE(loaded->ok()) << *loaded;
  }

  KernelSetCache cache_;
};

TEST_F(KernelSetCacheTest, SameJsonAndDeviceShareOneEntryParsedOnce) {
  const std::string json = ReadFixture("mlp.json");
  KernelSetCache::Found found;
  absl::StatusOr<KernelSetCache::Entry> first =
      cache_.GetOrLoad(json, "cpu", &found);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(found, KernelSetCache::Found::kParsed);
  // Another copy of the bytes, as a second client sends them.
  const std::string copy = json;
  absl::StatusOr<KernelSetCache::Entry> second =
      cache_.GetOrLoad(copy, "cpu", &found);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(found, KernelSetCache::Found::kSameBytes);

  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->content_hash, first->content_hash);
  // Parsed once: both hold the very same KernelSet and worker image.
  EXPECT_EQ(second->kernels.get(), first->kernels.get());
  EXPECT_EQ(second->image.get(), first->image.get());
  EXPECT_EQ(cache_.size(), 1u);

  // The image carries what a worker needs: the JSON, where each node lies in
  // it, and the device, as a worker maps them.
  ASSERT_NE(first->image, nullptr);
  EXPECT_EQ(first->image->device(), "cpu");
  const wv1::RegisterKernelSet described = first->image->Describe(7);
  EXPECT_EQ(described.kernel_set_id(), 7u);
  EXPECT_EQ(described.device(), "cpu");
  auto mapped =
      MappedKernelSetImage::Map(UniqueFd(dup(first->image->fd())), described);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ((*mapped)->json(), json);
  ASSERT_EQ((*mapped)->spans().size(), first->kernels->size());
  for (size_t i = 0; i < (*mapped)->spans().size(); ++i) {
    EXPECT_EQ((*mapped)->spans()[i].offset,
              first->kernels->node_spans()[i].offset);
    EXPECT_EQ((*mapped)->spans()[i].size, first->kernels->node_spans()[i].size);
  }
  // mlp.json has three extern nodes, the first fn_with_default_input.
  ASSERT_NE(first->kernels, nullptr);
  EXPECT_EQ(first->kernels->size(), 3u);
  EXPECT_EQ(first->kernels->device(), c10::Device(c10::kCPU));
  absl::StatusOr<const OpKernel*> node = first->kernels->Find(0);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)->target(), "aoti_test::fn_with_default_input");
}

// Found by its bytes only if every byte and the device are the same: one
// byte changed (the length kept) or another device is new content.
TEST_F(KernelSetCacheTest, OnlyTheSameBytesForTheSameDeviceAreFoundByBytes) {
  const std::string json = ReadFixture("mlp.json") + " ";
  KernelSetCache::Found found;
  absl::StatusOr<KernelSetCache::Entry> first =
      cache_.GetOrLoad(json, "cpu", &found);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(found, KernelSetCache::Found::kParsed);

  std::string changed = json;
  changed.back() = '\n';
  absl::StatusOr<KernelSetCache::Entry> other =
      cache_.GetOrLoad(changed, "cpu", &found);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(found, KernelSetCache::Found::kParsed);
  EXPECT_NE(other->id, first->id);

  absl::StatusOr<KernelSetCache::Entry> cuda =
      cache_.GetOrLoad(json, "cuda:1", &found);
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  EXPECT_EQ(found, KernelSetCache::Found::kParsed);
  EXPECT_NE(cuda->id, first->id);

  absl::StatusOr<KernelSetCache::Entry> again =
      cache_.GetOrLoad(changed, "cpu", &found);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(found, KernelSetCache::Found::kSameBytes);
  EXPECT_EQ(again->id, other->id);
}

TEST_F(KernelSetCacheTest, ContentHashIsSha256OfDeviceNulJson) {
  // printf 'cpu\0{"nodes": []}' | sha256sum
  absl::StatusOr<KernelSetCache::Entry> entry =
      cache_.GetOrLoad(R"({"nodes": []})", "cpu");
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->content_hash,
            "669b476cc4240afad8654864bf701a2e8aa925039f4bfe14d82b798d58e6edeb");
  EXPECT_EQ(entry->kernels->size(), 0u);
}

TEST_F(KernelSetCacheTest, DifferentDeviceGetsItsOwnEntry) {
  const std::string json = ReadFixture("mlp.json");
  absl::StatusOr<KernelSetCache::Entry> cpu = cache_.GetOrLoad(json, "cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  absl::StatusOr<KernelSetCache::Entry> cuda = cache_.GetOrLoad(json, "cuda:1");
  ASSERT_TRUE(cuda.ok()) << cuda.status();

  EXPECT_NE(cuda->id, cpu->id);
  EXPECT_NE(cuda->content_hash, cpu->content_hash);
  EXPECT_NE(cuda->kernels.get(), cpu->kernels.get());
  EXPECT_EQ(cuda->image->device(), "cuda:1");
  EXPECT_NE(cuda->image.get(), cpu->image.get());
  EXPECT_EQ(cuda->kernels->device(), c10::Device(c10::kCUDA, 1));
  EXPECT_EQ(cache_.size(), 2u);

  // Each is still found again as itself.
  absl::StatusOr<KernelSetCache::Entry> cuda_again =
      cache_.GetOrLoad(json, "cuda:1");
  ASSERT_TRUE(cuda_again.ok()) << cuda_again.status();
  EXPECT_EQ(cuda_again->id, cuda->id);
  EXPECT_EQ(cuda_again->kernels.get(), cuda->kernels.get());
  EXPECT_EQ(cache_.size(), 2u);
}

TEST_F(KernelSetCacheTest, EmptyDeviceIsTheCpuButItsOwnEntry) {
  // The hash covers the device string as sent, not as parsed.
  const std::string json = ReadFixture("mlp.json");
  absl::StatusOr<KernelSetCache::Entry> cpu = cache_.GetOrLoad(json, "cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  absl::StatusOr<KernelSetCache::Entry> empty = cache_.GetOrLoad(json, "");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_NE(empty->id, cpu->id);
  EXPECT_EQ(empty->kernels->device(), c10::Device(c10::kCPU));
  EXPECT_EQ(cache_.size(), 2u);
}

TEST_F(KernelSetCacheTest, DifferentJsonGetsItsOwnEntryAndId) {
  absl::StatusOr<KernelSetCache::Entry> mlp =
      cache_.GetOrLoad(ReadFixture("mlp.json"), "cpu");
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  absl::StatusOr<KernelSetCache::Entry> dynamic =
      cache_.GetOrLoad(ReadFixture("dynamic.json"), "cpu");
  ASSERT_TRUE(dynamic.ok()) << dynamic.status();

  EXPECT_NE(dynamic->id, mlp->id);
  EXPECT_NE(dynamic->content_hash, mlp->content_hash);
  EXPECT_NE(dynamic->kernels.get(), mlp->kernels.get());
  EXPECT_EQ(cache_.size(), 2u);
}

TEST_F(KernelSetCacheTest, MalformedJsonIsRefusedEveryTimeAndNotCached) {
  // mlp.json cut short: valid up to the cut, then the text just ends.
  const std::string json = ReadFixture("mlp.json");
  const std::string truncated = json.substr(0, json.size() / 2);
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<KernelSetCache::Entry> entry =
        cache_.GetOrLoad(truncated, "cpu");
    ASSERT_FALSE(entry.ok());
    EXPECT_EQ(entry.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(entry.status().message(), HasSubstr("malformed"));
  }
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(KernelSetCacheTest, JsonWithoutNodesIsRefused) {
  absl::StatusOr<KernelSetCache::Entry> entry =
      cache_.GetOrLoad(R"({"nodez": []})", "cpu");
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(entry.status().message(), HasSubstr("nodes"));
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(KernelSetCacheTest, UnregisteredOpIsRefusedNamingIt) {
  // crashing.json needs libaoti_misbehaving_ops.so, which is not loaded.
  absl::StatusOr<KernelSetCache::Entry> entry =
      cache_.GetOrLoad(ReadFixture("crashing.json"), "cpu");
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(entry.status().message(),
              HasSubstr("misbehaving::plus_one_or_segfault"));
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(KernelSetCacheTest, BadDeviceIsRefusedQuotingItAndNotCached) {
  const std::string json = ReadFixture("mlp.json");
  for (const char* device : {"gpu", "cuda:x", "cpu:-2"}) {
    absl::StatusOr<KernelSetCache::Entry> entry =
        cache_.GetOrLoad(json, device);
    ASSERT_FALSE(entry.ok()) << device;
    EXPECT_EQ(entry.status().code(), absl::StatusCode::kInvalidArgument)
        << device;
    EXPECT_THAT(entry.status().message(),
                HasSubstr(absl::StrCat("'", device, "'")));
  }
  EXPECT_EQ(cache_.size(), 0u);
  // A good device for the same JSON is unaffected.
  EXPECT_TRUE(cache_.GetOrLoad(json, "cpu").ok());
  EXPECT_EQ(cache_.size(), 1u);
}

}  // namespace
}  // namespace aoti_executor
