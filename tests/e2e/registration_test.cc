// RegisterKernelSet against the real daemon: a set it has is found by its
// content hash without its JSON, one it lacks is NOT_FOUND (the shim then
// sends the JSON), and each op's schema comes with its first node only.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/common/content_hash.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/raw_session.h"

namespace aoti_executor {
namespace e2e {
namespace {

using ::testing::HasSubstr;

std::string AtenJsonPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  const std::string relative = "tests/fixtures/aten_ops.json";
  if (srcdir == nullptr || workspace == nullptr) return relative;
  return absl::StrCat(srcdir, "/", workspace, "/", relative);
}

std::string ReadAll(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

grpc::Status RegisterByHash(RawSession& session, const std::string& hash,
                            const std::string& device,
                            v1::RegisterKernelSetResponse* response) {
  v1::RegisterKernelSetRequest request;
  request.set_session(session.secret());
  request.set_device(device);
  request.set_content_hash(hash);
  auto context = RawSession::Context();
  return session.stub()->RegisterKernelSet(context.get(), request, response);
}

class RegistrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto daemon = DaemonProcess::Start();
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
  }

  std::unique_ptr<RawSession> Open() {
    auto session = RawSession::Open(daemon_->endpoint());
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? *std::move(session) : nullptr;
  }

  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(RegistrationTest, ASetTheDaemonHasIsFoundByItsHashAlone) {
  const std::string json = ReadAll(AtenJsonPath());
  ASSERT_FALSE(json.empty());
  const std::string hash = KernelSetContentHash(json, "cpu");
  auto first = Open();
  ASSERT_NE(first, nullptr);

  v1::RegisterKernelSetResponse unknown;
  grpc::Status status = RegisterByHash(*first, hash, "cpu", &unknown);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(),
              HasSubstr(absl::StrCat("no kernel set with content hash ", hash,
                                     ": send its JSON")));

  auto registered = first->RegisterKernelSet(AtenJsonPath());
  ASSERT_TRUE(registered.ok()) << registered.status();

  auto second = Open();
  ASSERT_NE(second, nullptr);
  v1::RegisterKernelSetResponse found;
  status = RegisterByHash(*second, hash, "cpu", &found);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(found.kernel_set_id(), *registered);
  EXPECT_EQ(found.content_hash(), hash);
  EXPECT_EQ(found.nodes_size(), 14);  // aten_ops.json's nodes

  // The hash covers the device: the same hash asked for another device is
  // refused, not served with the CPU's kernels.
  v1::RegisterKernelSetResponse other_device;
  status = RegisterByHash(*second, hash, "cuda:0", &other_device);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("is for device 'cpu'"));
}

TEST_F(RegistrationTest, EachOpsSchemaComesWithItsFirstNodeOnly) {
  auto session = Open();
  ASSERT_NE(session, nullptr);
  v1::RegisterKernelSetRequest request;
  request.set_session(session->secret());
  request.set_device("cpu");
  request.set_extern_kernels_json(ReadAll(AtenJsonPath()));
  v1::RegisterKernelSetResponse response;
  auto context = RawSession::Context();
  ASSERT_TRUE(session->stub()
                  ->RegisterKernelSet(context.get(), request, &response)
                  .ok());
  ASSERT_EQ(response.nodes_size(), 14);
  std::set<std::string> seen;
  for (const v1::NodeInfo& node : response.nodes()) {
    const bool first = seen.insert(node.target()).second;
    SCOPED_TRACE(node.target());
    if (first) {
      // "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1)..."
      EXPECT_THAT(node.schema(), HasSubstr(node.target() + "("));
    } else {
      EXPECT_EQ(node.schema(), "");
    }
  }
  EXPECT_LT(seen.size(), 14u) << "the fixture repeats targets";
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
