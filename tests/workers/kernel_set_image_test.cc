// The kernel set image between the daemon and its workers: what the daemon
// writes is what a worker maps, and a worker refuses an image that does not
// match its message instead of reading past it.
#include "server/workers/kernel_set_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aoti_executor {
namespace {

namespace wv1 = ::aoti::executor::worker::v1;
using ::testing::HasSubstr;

// Three "nodes" of a made-up text; the image does not parse them.
const std::string kJson = R"({"nodes": [{"a": 1}, {"b": 22}, {}]})";
const std::vector<NodeSpan> kSpans = {{11, 8}, {21, 9}, {32, 2}};

std::shared_ptr<const KernelSetImage> MakeImage() {
  auto image = KernelSetImage::Create(kJson, kSpans, "cuda:1");
  EXPECT_TRUE(image.ok()) << image.status();
  return image.ok() ? *image : nullptr;
}

TEST(KernelSetImageTest, AWorkerMapsWhatTheDaemonWrote) {
  auto image = MakeImage();
  ASSERT_NE(image, nullptr);
  const wv1::RegisterKernelSet message = image->Describe(5);
  EXPECT_EQ(message.kernel_set_id(), 5u);
  EXPECT_EQ(message.device(), "cuda:1");
  EXPECT_EQ(message.json_size(), kJson.size());
  EXPECT_EQ(message.node_count(), 3u);
  // The spans start at the first multiple of 8 after the JSON.
  EXPECT_EQ(message.spans_offset(), (kJson.size() + 7) / 8 * 8);

  auto mapped = MappedKernelSetImage::Map(UniqueFd(dup(image->fd())), message);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ((*mapped)->json(), kJson);
  ASSERT_EQ((*mapped)->spans().size(), 3u);
  for (size_t i = 0; i < kSpans.size(); ++i) {
    EXPECT_EQ((*mapped)->spans()[i].offset, kSpans[i].offset);
    EXPECT_EQ((*mapped)->spans()[i].size, kSpans[i].size);
  }
  EXPECT_EQ((*mapped)->json().substr(21, 9), R"({"b": 22})");
}

TEST(KernelSetImageTest, NoWorkerCanWriteIt) {
  auto image = MakeImage();
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(
      mmap(nullptr, 8, PROT_READ | PROT_WRITE, MAP_SHARED, image->fd(), 0),
      MAP_FAILED);
  EXPECT_LT(pwrite(image->fd(), "x", 1, 0), 0);
  EXPECT_LT(ftruncate(image->fd(), 1), 0);
}

TEST(KernelSetImageTest, AnImageThatDoesNotMatchItsMessageIsRefused) {
  auto image = MakeImage();
  ASSERT_NE(image, nullptr);
  const wv1::RegisterKernelSet good = image->Describe(1);
  struct Case {
    const char* what;
    void (*spoil)(wv1::RegisterKernelSet*);
    const char* error;
  };
  const Case cases[] = {
      {"one node more than the file holds",
       [](wv1::RegisterKernelSet* m) {
         m->set_node_count(m->node_count() + 1);
       },
       "not the"},
      {"spans inside the JSON",
       [](wv1::RegisterKernelSet* m) {
         m->set_spans_offset(m->json_size() - 8);
       },
       "do not fit"},
      {"an unaligned spans offset",
       [](wv1::RegisterKernelSet* m) {
         m->set_spans_offset(m->spans_offset() + 1);
       },
       "do not fit"},
      {"a node count whose bytes overflow",
       [](wv1::RegisterKernelSet* m) { m->set_node_count(uint64_t{1} << 61); },
       "do not fit"},
      {"a JSON shorter than node 2's span",
       [](wv1::RegisterKernelSet* m) { m->set_json_size(33); },
       "node 2 lies outside the JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    wv1::RegisterKernelSet spoiled = good;
    c.spoil(&spoiled);
    auto mapped =
        MappedKernelSetImage::Map(UniqueFd(dup(image->fd())), spoiled);
    ASSERT_FALSE(mapped.ok());
    EXPECT_THAT(mapped.status().message(), HasSubstr(c.error));
  }
}

TEST(KernelSetImageTest, AnUnsealedOrMissingFileIsRefused) {
  UniqueFd fd(memfd_create("unsealed", MFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  wv1::RegisterKernelSet message;
  message.set_json_size(8);
  message.set_spans_offset(8);
  ASSERT_EQ(ftruncate(fd.get(), 8), 0);
  auto mapped = MappedKernelSetImage::Map(std::move(fd), message);
  ASSERT_FALSE(mapped.ok());
  EXPECT_THAT(mapped.status().message(), HasSubstr("not sealed"));

  auto no_fd = MappedKernelSetImage::Map(UniqueFd(), message);
  ASSERT_FALSE(no_fd.ok());
  EXPECT_THAT(no_fd.status().message(), HasSubstr("no memfd"));
}

}  // namespace
}  // namespace aoti_executor
