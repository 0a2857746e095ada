// Hostile clients against the real aoti-executord: a hand-written protocol
// client (gRPC stub + attach socket, tests/e2e/raw_session.h) sends what the
// shim never would. Each request must be refused with the right gRPC code
// and a message naming what was wrong, touch no byte outside the client's
// own regions, and leave the daemon serving, with no file descriptor of the
// refused request left open in it (checked after every test) and nothing in
// /dev/shm. The lessons are Triton's shared-memory API's: bounds
// with overflow-safe arithmetic, regions private to their session, sealed
// memfds, nothing left behind by a client that dies.
#include <ATen/ATen.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/framing/attach_frame.h"
#include "server/health_check.h"
#include "server/shm/shared_region.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/peer_process.h"
#include "tests/e2e/raw_session.h"

namespace aoti_executor {
namespace e2e {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kRegionSize = 1 << 20;
constexpr int kAddNode = 0;       // aten_ops.json: add.Tensor(self, other)
constexpr int kAddAlphaNode = 1;  // add.Tensor(self, other, alpha=<int>)

std::string AtenJson() { return RunfilePath("tests/fixtures/aten_ops.json"); }

std::string Describe(const grpc::Status& status) {
  return absl::StrCat("code ", status.error_code(), ": ",
                      status.error_message());
}

// A session with a 1 MiB region holding `a` at offset 0 and `b` at 4096,
// and the aten_ops.json kernel set.
struct Client {
  std::unique_ptr<RawSession> session;
  uint64_t region_id = 0;
  uint64_t kernel_set_id = 0;
  at::Tensor a = at::arange(64, at::kFloat);
  at::Tensor b = at::full({64}, 0.5, at::kFloat);

  static std::unique_ptr<Client> Open(const std::string& endpoint) {
    auto client = std::make_unique<Client>();
    auto session = RawSession::Open(endpoint);
    EXPECT_TRUE(session.ok()) << session.status();
    if (!session.ok()) return nullptr;
    client->session = *std::move(session);
    auto region = client->session->AddRegion(kRegionSize);
    auto kernels = client->session->RegisterKernelSet(AtenJson());
    EXPECT_TRUE(region.ok()) << region.status();
    EXPECT_TRUE(kernels.ok()) << kernels.status();
    if (!region.ok() || !kernels.ok()) return nullptr;
    client->region_id = *region;
    client->kernel_set_id = *kernels;
    return client;
  }

  SharedRegion& region() { return session->region(region_id); }

  // add.Tensor(a, b), both by reference into the region.
  v1::CallRequest AddRequest() {
    v1::CallRequest request;
    request.set_kernel_set_id(kernel_set_id);
    request.set_node_index(kAddNode);
    *request.add_inputs() = PlaceTensor(a, region(), region_id, 0);
    *request.add_inputs() = PlaceTensor(b, region(), region_id, 4096);
    return request;
  }

  // The call succeeds and its output is a + b.
  void ExpectAddWorks() {
    v1::CallResponse response;
    grpc::Status status = session->Call(AddRequest(), &response);
    ASSERT_TRUE(status.ok()) << Describe(status);
    ASSERT_EQ(response.outputs_size(), 1);
    auto out = session->ReadOutput(response.outputs(0));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(at::equal(*out, a + b));
  }
};

class ProtocolSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto daemon = DaemonProcess::Start();
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = daemon->release();
    // Warm the daemon up (threads, lazily opened fds) before any baseline.
    auto warm = Client::Open(daemon_->endpoint());
    ASSERT_NE(warm, nullptr);
    warm->ExpectAddWorks();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(daemon_, nullptr);
    probe_ = NewStub(endpoint());
    ASSERT_TRUE(DaemonStatus(*probe_).ok());
    WaitForQuiet();
    baseline_fds_ = SettledFdCount(daemon_->pid());
    baseline_shm_ = DevShmNames();
    ASSERT_GT(baseline_fds_, 0);
    client_ = Client::Open(endpoint());
    ASSERT_NE(client_, nullptr);
  }

  // After every test: the daemon still serves a new client, the test's
  // sessions go away with their connections, and every fd a refused request
  // brought into the daemon is closed again.
  void TearDown() override {
    if (daemon_ == nullptr) return;
    EXPECT_TRUE(CheckHealth(endpoint(), absl::Seconds(5)).ok());
    {
      auto fresh = Client::Open(endpoint());
      ASSERT_NE(fresh, nullptr);
      fresh->ExpectAddWorks();
    }
    client_.reset();
    extra_.clear();
    EXPECT_TRUE(WaitFor(
        [&] {
          auto status = DaemonStatus(*probe_);
          return status.ok() && status->sessions() == 0 &&
                 status->regions() == 0 &&
                 OpenFdCount(daemon_->pid()) == baseline_fds_;
        },
        absl::Seconds(60)))
        << "daemon fds " << OpenFdCount(daemon_->pid()) << ", baseline "
        << baseline_fds_;
    EXPECT_EQ(DevShmNames(), baseline_shm_);
  }

  static const std::string& endpoint() { return daemon_->endpoint(); }

  // No session left over from an earlier test.
  void WaitForQuiet() {
    EXPECT_TRUE(WaitFor(
        [&] {
          auto status = DaemonStatus(*probe_);
          return status.ok() && status->sessions() == 0;
        },
        absl::Seconds(60)));
  }

  Client* NewClient() {
    extra_.push_back(Client::Open(endpoint()));
    return extra_.back().get();
  }

  // `request` is refused with `code`, and the message has `parts`.
  void ExpectCallRefused(const v1::CallRequest& request, grpc::StatusCode code,
                         const std::vector<std::string>& parts,
                         RawSession* session = nullptr) {
    if (session == nullptr) session = client_->session.get();
    v1::CallResponse response;
    grpc::Status status = session->Call(request, &response);
    EXPECT_EQ(status.error_code(), code) << Describe(status);
    for (const std::string& part : parts) {
      EXPECT_THAT(status.error_message(), HasSubstr(part));
    }
    EXPECT_EQ(response.outputs_size(), 0);
  }

  static DaemonProcess* daemon_;
  std::unique_ptr<v1::Executor::Stub> probe_;
  int baseline_fds_ = -1;
  std::set<std::string> baseline_shm_;
  std::unique_ptr<Client> client_;
  std::vector<std::unique_ptr<Client>> extra_;
};

DaemonProcess* ProtocolSecurityTest::daemon_ = nullptr;

TEST_F(ProtocolSecurityTest, TensorRefOutsideItsRegionOrLayoutIsRefused) {
  const std::string input =
      "extern node 0 'buf0' (aten::add.Tensor), input tensor 1";
  struct Case {
    const char* what;
    std::function<void(v1::TensorRef*)> mutate;
    std::string message;
  };
  const uint64_t kMax = std::numeric_limits<uint64_t>::max();
  const int64_t kHuge = int64_t{1} << 62;
  const std::vector<Case> cases = {
      {"offset past the end",
       [](v1::TensorRef* r) { r->set_offset(kRegionSize + 64); },
       "offset 1048640 + byte_size 256 = 1048896 exceeds the region size "
       "1048576"},
      {"offset + byte_size past the end",
       [](v1::TensorRef* r) { r->set_offset(kRegionSize - 128); },
       "offset 1048448 + byte_size 256 = 1048704 exceeds the region size "
       "1048576"},
      {"byte_size past the end",
       [](v1::TensorRef* r) { r->set_byte_size(kRegionSize); },
       "offset 4096 + byte_size 1048576 = 1052672 exceeds the region size"},
      {"offset + byte_size overflows uint64",
       [&](v1::TensorRef* r) {
         r->set_offset(kMax - 63);
         r->set_byte_size(128);
       },
       absl::StrCat("offset ", kMax - 63, " + byte_size 128 overflows uint64")},
      {"byte_size overflows uint64 from a valid offset",
       [&](v1::TensorRef* r) { r->set_byte_size(kMax); },
       absl::StrCat("offset 4096 + byte_size ", kMax, " overflows uint64")},
      {"more elements than byte_size",
       [](v1::TensorRef* r) { r->set_sizes(0, 65); },
       "needs 260 bytes but byte_size is 256"},
      {"strides reach past byte_size",
       [](v1::TensorRef* r) {
         r->clear_sizes();
         r->clear_strides();
         r->add_sizes(8);
         r->add_sizes(8);
         r->add_strides(16);
         r->add_strides(1);
       },
       "sizes [8, 8], strides [16, 1], storage_offset 0 and dtype Float "
       "needs 480 bytes but byte_size is 256"},
      {"storage_offset reaches past byte_size",
       [](v1::TensorRef* r) { r->set_storage_offset(1); },
       "needs 260 bytes but byte_size is 256"},
      {"sizes * strides overflows int64",
       [&](v1::TensorRef* r) {
         r->clear_sizes();
         r->clear_strides();
         r->add_sizes(kHuge);
         r->add_sizes(4);
         r->add_strides(4);
         r->add_strides(1);
       },
       "overflows int64"},
      {"element count overflows uint64 bytes",
       [&](v1::TensorRef* r) {
         r->set_sizes(0, std::numeric_limits<int64_t>::max());
       },
       "overflows uint64"},
      {"negative size", [](v1::TensorRef* r) { r->set_sizes(0, -1); },
       "sizes[0] = -1 is negative"},
      {"negative stride", [](v1::TensorRef* r) { r->set_strides(0, -4); },
       "strides[0] = -4 is negative"},
      {"negative storage_offset",
       [](v1::TensorRef* r) { r->set_storage_offset(-64); },
       "storage_offset -64 is negative"},
      {"sizes and strides of different lengths",
       [](v1::TensorRef* r) { r->add_strides(1); },
       "strides has 2 dims but sizes has 1"},
      {"too many dims",
       [](v1::TensorRef* r) {
         r->clear_sizes();
         r->clear_strides();
         for (int i = 0; i < 65; ++i) {
           r->add_sizes(1);
           r->add_strides(1);
         }
       },
       "sizes has 65 dims, at most 64 are allowed"},
      {"misaligned offset", [](v1::TensorRef* r) { r->set_offset(4098); },
       "offset 4098 is not aligned to the 4-byte element size of dtype Float"},
      {"unknown dtype", [](v1::TensorRef* r) { r->set_dtype(99); },
       "serialized ScalarType 99 is not defined"},
      {"dtype 0 (unknown)", [](v1::TensorRef* r) { r->set_dtype(0); },
       "serialized ScalarType 0 is not defined"},
      {"negative dtype", [](v1::TensorRef* r) { r->set_dtype(-7); },
       "serialized ScalarType -7 is not defined"},
  };
  auto before = DaemonStatus(*probe_);
  ASSERT_TRUE(before.ok());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    v1::CallRequest request = client_->AddRequest();
    c.mutate(request.mutable_inputs(1));
    ExpectCallRefused(request, grpc::StatusCode::INVALID_ARGUMENT,
                      {input, c.message});
  }
  {
    SCOPED_TRACE("a device the daemon has no tensors on");
    v1::CallRequest request = client_->AddRequest();
    request.mutable_inputs(0)->set_device("cuda:0");
    ExpectCallRefused(request, grpc::StatusCode::UNIMPLEMENTED,
                      {"input tensor 0", "device 'cuda:0'"});
  }
  auto after = DaemonStatus(*probe_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->calls_failed() - before->calls_failed(),
            static_cast<int64_t>(cases.size()) + 1);
  // The same session's next call works.
  client_->ExpectAddWorks();
}

TEST_F(ProtocolSecurityTest, RegionsAndKernelSetsArePrivateToTheirSession) {
  // A holds regions 1..3 and, after a call, an output region; B holds one
  // region (its own id 1) and nothing else.
  ASSERT_TRUE(client_->session->AddRegion(kRegionSize).ok());
  ASSERT_TRUE(client_->session->AddRegion(kRegionSize).ok());
  v1::CallResponse a_response;
  ASSERT_TRUE(client_->session->Call(client_->AddRequest(), &a_response).ok());
  ASSERT_EQ(a_response.outputs_size(), 1);
  const v1::TensorRef a_output = a_response.outputs(0);
  ASSERT_TRUE(a_output.owned());
  auto a_out = client_->session->ReadOutput(a_output);
  ASSERT_TRUE(a_out.ok());

  auto b_session = RawSession::Open(endpoint());
  ASSERT_TRUE(b_session.ok()) << b_session.status();
  RawSession& b = **b_session;
  auto b_region = b.AddRegion(kRegionSize);
  ASSERT_TRUE(b_region.ok());
  ASSERT_EQ(*b_region, 1u);  // ids are per session: A's 1 is not B's 1

  v1::CallRequest request = client_->AddRequest();
  request.mutable_inputs(0)->set_region_id(*b_region);
  *request.mutable_inputs(1) =
      PlaceTensor(client_->b, b.region(*b_region), *b_region, 0);
  // B has no kernel set of its own yet: A's id means nothing in B's session.
  ExpectCallRefused(request, grpc::StatusCode::NOT_FOUND,
                    {absl::StrCat("kernel set ", client_->kernel_set_id,
                                  " is not registered in this session")},
                    &b);
  auto b_kernels = b.RegisterKernelSet(AtenJson());
  ASSERT_TRUE(b_kernels.ok());
  // Kernel sets are shared by content: B gets the same id, now its own.
  EXPECT_EQ(*b_kernels, client_->kernel_set_id);

  for (uint64_t a_region : {uint64_t{2}, uint64_t{3}, a_output.region_id()}) {
    SCOPED_TRACE(absl::StrCat("A's region ", a_region));
    v1::CallRequest stolen = request;
    stolen.mutable_inputs(1)->set_region_id(a_region);
    stolen.mutable_inputs(1)->set_offset(
        a_region == a_output.region_id() ? a_output.offset() : 0);
    ExpectCallRefused(stolen, grpc::StatusCode::NOT_FOUND,
                      {"input tensor 1", absl::StrCat("no region ", a_region,
                                                      " in this session")},
                      &b);
  }
  // B cannot release A's region or A's output block either.
  {
    auto context = RawSession::Context();
    v1::ReleaseRegionRequest release;
    release.set_session(b.secret());
    release.set_region_id(2);
    v1::ReleaseRegionResponse response;
    grpc::Status status =
        b.stub()->ReleaseRegion(context.get(), release, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
        << Describe(status);
    EXPECT_THAT(status.error_message(), HasSubstr("no client region 2"));
  }
  {
    auto context = RawSession::Context();
    v1::ReleaseOutputsRequest release;
    release.set_session(b.secret());
    v1::OutputRelease* block = release.add_releases();
    block->set_region_id(a_output.region_id());
    block->set_offset(a_output.offset());
    v1::ReleaseOutputsResponse response;
    grpc::Status status =
        b.stub()->ReleaseOutputs(context.get(), release, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << Describe(status);
    EXPECT_THAT(status.error_message(),
                HasSubstr(absl::StrCat("no output block at region ",
                                       a_output.region_id())));
  }
  // A's block is still A's: its bytes are intact and A can release it.
  auto again = client_->session->ReadOutput(a_output);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(at::equal(*again, client_->a + client_->b));
  {
    auto context = RawSession::Context();
    v1::ReleaseOutputsRequest release;
    release.set_session(client_->session->secret());
    v1::OutputRelease* block = release.add_releases();
    block->set_region_id(a_output.region_id());
    block->set_offset(a_output.offset());
    v1::ReleaseOutputsResponse response;
    grpc::Status status = client_->session->stub()->ReleaseOutputs(
        context.get(), release, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
  }
  // B's own call, on its own region, works.
  v1::CallRequest own = request;
  *own.mutable_inputs(0) = PlaceTensor(client_->a, b.region(1), 1, 4096);
  v1::CallResponse response;
  grpc::Status status = b.Call(own, &response);
  ASSERT_TRUE(status.ok()) << Describe(status);
  auto out = b.ReadOutput(response.outputs(0));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(at::equal(*out, client_->a + client_->b));
}

TEST_F(ProtocolSecurityTest, UnknownOrForgedSecretIsPermissionDenied) {
  std::string flipped = client_->session->secret();
  flipped[0] = flipped[0] == '0' ? '1' : '0';
  // The secret of a session that has ended.
  std::string ended;
  {
    auto gone = RawSession::Open(endpoint());
    ASSERT_TRUE(gone.ok());
    ended = (*gone)->secret();
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        auto status = DaemonStatus(*probe_);
        return status.ok() && status->sessions() == 1;
      },
      absl::Seconds(60)));
  for (const std::string& secret :
       {std::string(), std::string(32, '0'), flipped, ended,
        client_->session->secret() + "0", std::string(4096, 'a')}) {
    SCOPED_TRACE(absl::StrCat("secret '", secret.substr(0, 40), "'"));
    auto expect_denied = [&](const grpc::Status& status) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << Describe(status);
      EXPECT_THAT(status.error_message(), HasSubstr("unknown session"));
    };
    v1::CallRequest call = client_->AddRequest();
    call.set_session(secret);
    v1::CallResponse call_response;
    expect_denied(client_->session->Call(call, &call_response,
                                         /*keep_session=*/true));
    EXPECT_EQ(call_response.outputs_size(), 0);
    {
      auto context = RawSession::Context();
      v1::RegisterKernelSetRequest request;
      request.set_session(secret);
      request.set_extern_kernels_json(R"({"nodes": []})");
      v1::RegisterKernelSetResponse response;
      expect_denied(client_->session->stub()->RegisterKernelSet(
          context.get(), request, &response));
    }
    {
      auto context = RawSession::Context();
      v1::RegisterRegionRequest request;
      request.set_session(secret);
      request.set_attach_id(1);
      v1::RegisterRegionResponse response;
      expect_denied(client_->session->stub()->RegisterRegion(
          context.get(), request, &response));
    }
    {
      auto context = RawSession::Context();
      v1::ReleaseRegionRequest request;
      request.set_session(secret);
      request.set_region_id(client_->region_id);
      v1::ReleaseRegionResponse response;
      expect_denied(client_->session->stub()->ReleaseRegion(
          context.get(), request, &response));
    }
    {
      auto context = RawSession::Context();
      v1::ReleaseOutputsRequest request;
      request.set_session(secret);
      request.add_releases()->set_region_id(client_->region_id);
      v1::ReleaseOutputsResponse response;
      expect_denied(client_->session->stub()->ReleaseOutputs(
          context.get(), request, &response));
    }
  }
  // The real session was not disturbed: its region is still registered.
  client_->ExpectAddWorks();
}

TEST_F(ProtocolSecurityTest, UnsealedOrForeignFdIsRefusedAtRegisterRegion) {
  RawSession& session = *client_->session;
  struct Case {
    const char* what;
    std::function<int()> make_fd;  // the fd to send (this test closes it)
    uint64_t claimed_size;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"memfd that may be sealed but is not",
       [] {
         const int fd =
             memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
         (void)!ftruncate(fd, kRegionSize);
         return fd;
       },
       kRegionSize, "not sealed against shrinking (F_SEAL_SHRINK)"},
      {"memfd sealed against growing only",
       [] {
         const int fd =
             memfd_create("grow-only", MFD_CLOEXEC | MFD_ALLOW_SEALING);
         (void)!ftruncate(fd, kRegionSize);
         fcntl(fd, F_ADD_SEALS, F_SEAL_GROW);
         return fd;
       },
       kRegionSize, "not sealed against shrinking (F_SEAL_SHRINK)"},
      {"memfd that cannot be sealed",
       [] {
         const int fd = memfd_create("no-sealing", MFD_CLOEXEC);
         (void)!ftruncate(fd, kRegionSize);
         return fd;
       },
       kRegionSize, "not sealed against shrinking (F_SEAL_SHRINK)"},
      {"a pipe",
       [] {
         int fds[2];
         (void)!pipe2(fds, O_CLOEXEC);
         close(fds[1]);
         return fds[0];
       },
       kRegionSize, "not a regular file"},
      {"a regular file",
       [] {
         char path[] = "/tmp/aoti-e2e-file.XXXXXX";
         const int fd = mkostemp(path, O_CLOEXEC);
         unlink(path);
         (void)!ftruncate(fd, kRegionSize);
         return fd;
       },
       kRegionSize, "does not support seals"},
      {"sealed memfd smaller than the frame claims",
       [] {
         auto region = SharedRegion::Create("small", 4096);
         return region.ok() ? dup(region->fd()) : -1;
       },
       kRegionSize, "shared region size is 4096 bytes, expected 1048576"},
      {"sealed empty memfd",
       [] {
         const int fd = memfd_create("empty", MFD_CLOEXEC | MFD_ALLOW_SEALING);
         fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
         return fd;
       },
       0, "shared region memfd is empty"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const int fd = c.make_fd();
    ASSERT_GE(fd, 0);
    const uint64_t attach_id = session.NextAttachId();
    ASSERT_TRUE(session.SendRegionFd(attach_id, fd, c.claimed_size).ok());
    close(fd);
    v1::RegisterRegionResponse response;
    grpc::Status status = session.RegisterRegion(attach_id, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << Describe(status);
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
  // The session is fine, and can still share a proper region.
  EXPECT_TRUE(session.AddRegion(kRegionSize).ok());
  client_->ExpectAddWorks();
  // 2 client regions + 1 output region (which the worker may map after the
  // answer on a loaded machine).
  EXPECT_TRUE(WaitFor(
      [&] {
        auto status = DaemonStatus(*probe_);
        return status.ok() && status->regions() == 3;
      },
      absl::Seconds(60)));
}

TEST_F(ProtocolSecurityTest,
       RegisterRegionForAnAttachIdNeverSentEndsAtTheDeadline) {
  const auto start = std::chrono::steady_clock::now();
  v1::RegisterRegionResponse response;
  grpc::Status status =
      client_->session->RegisterRegion(client_->session->NextAttachId() + 1000,
                                       &response, absl::Milliseconds(500));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << Describe(status);
  EXPECT_GE(elapsed, std::chrono::milliseconds(450));
  client_->ExpectAddWorks();
}

// Each kind of garbage on the attach socket ends the session that sent it,
// and only that one.
TEST_F(ProtocolSecurityTest, GarbageOnTheAttachSocketClosesOnlyThatSession) {
  using Sender = std::function<void(int socket)>;
  auto frame_with = [](std::function<void(AttachFrame*)> edit) -> Sender {
    return [edit](int socket) {
      AttachFrame frame;
      frame.type = AttachFrameType::kClientRegion;
      edit(&frame);
      ASSERT_EQ(send(socket, &frame, sizeof(frame), MSG_NOSIGNAL),
                static_cast<ssize_t>(sizeof(frame)));
    };
  };
  auto memfd = SharedRegion::Create("garbage", 4096);
  ASSERT_TRUE(memfd.ok());
  const int region_fd = memfd->fd();
  const std::vector<std::pair<const char*, Sender>> garbage = {
      {"wrong magic",
       frame_with([](AttachFrame* f) { f->magic = 0xdeadbeef; })},
      {"wrong version", frame_with([](AttachFrame* f) { f->version = 7; })},
      {"a kWelcome from the client",
       frame_with([](AttachFrame* f) { f->type = AttachFrameType::kWelcome; })},
      {"an unknown type",
       frame_with([](AttachFrame* f) { f->type = AttachFrameType(99); })},
      {"kClientRegion without an fd", frame_with([](AttachFrame*) {})},
      {"a short frame",
       [](int socket) {
         const char bytes[10] = "ATCHshort";
         ASSERT_EQ(send(socket, bytes, sizeof(bytes), MSG_NOSIGNAL), 10);
       }},
      {"a long frame",
       [](int socket) {
         std::vector<char> bytes(4096, 'x');
         AttachFrame frame;
         std::memcpy(bytes.data(), &frame, sizeof(frame));
         ASSERT_EQ(send(socket, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                   4096);
       }},
      {"two fds in one frame",
       [region_fd](int socket) {
         AttachFrame frame;
         frame.type = AttachFrameType::kClientRegion;
         frame.size = 4096;
         iovec iov = {&frame, sizeof(frame)};
         union {
           char buf[CMSG_SPACE(2 * sizeof(int))];
           cmsghdr align;
         } control;
         std::memset(&control, 0, sizeof(control));
         msghdr msg = {};
         msg.msg_iov = &iov;
         msg.msg_iovlen = 1;
         msg.msg_control = control.buf;
         msg.msg_controllen = sizeof(control.buf);
         cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
         cmsg->cmsg_level = SOL_SOCKET;
         cmsg->cmsg_type = SCM_RIGHTS;
         cmsg->cmsg_len = CMSG_LEN(2 * sizeof(int));
         const int fds[2] = {region_fd, region_fd};
         std::memcpy(CMSG_DATA(cmsg), fds, sizeof(fds));
         ASSERT_EQ(sendmsg(socket, &msg, MSG_NOSIGNAL),
                   static_cast<ssize_t>(sizeof(frame)));
       }},
  };
  for (const auto& [what, send_garbage] : garbage) {
    SCOPED_TRACE(what);
    auto bad = RawSession::Open(endpoint());
    ASSERT_TRUE(bad.ok()) << bad.status();
    send_garbage((*bad)->attach_fd());
    // The daemon hangs up on it...
    pollfd p{(*bad)->attach_fd(), POLLIN | POLLRDHUP, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    char byte;
    EXPECT_EQ(recv((*bad)->attach_fd(), &byte, 1, MSG_DONTWAIT), 0);
    // ...and its secret names no session any more.
    EXPECT_TRUE(WaitFor(
        [&] {
          v1::CallRequest request = client_->AddRequest();
          request.set_session((*bad)->secret());
          v1::CallResponse response;
          return (*bad)
                     ->Call(request, &response, /*keep_session=*/true)
                     .error_code() == grpc::StatusCode::PERMISSION_DENIED;
        },
        absl::Seconds(60)));
    // The other session never noticed.
    client_->ExpectAddWorks();
  }
}

// Memfds sent on the attach socket but never registered would each hold an
// fd in the daemon: a client flooding them could use up the daemon's
// RLIMIT_NOFILE for everyone. Past the limit of pending memfds the daemon
// ends that session, and every fd goes with it.
TEST_F(ProtocolSecurityTest, FloodOfUnregisteredMemfdsEndsOnlyThatSession) {
  auto memfd = SharedRegion::Create("flood", 4096);
  ASSERT_TRUE(memfd.ok());
  auto flood = RawSession::Open(endpoint());
  ASSERT_TRUE(flood.ok()) << flood.status();
  // Settled: opening the sessions makes the daemon start spare workers,
  // whose pipes come and go.
  const int fds_before = SettledFdCount(daemon_->pid());
  // Within the limit, they wait for their RegisterRegion.
  constexpr int kWithinLimit = 200;
  // Fds the daemon may open or close meanwhile for reasons of its own.
  constexpr int kSlack = 20;
  for (int i = 0; i < kWithinLimit; ++i) {
    ASSERT_TRUE(
        (*flood)
            ->SendRegionFd((*flood)->NextAttachId(), memfd->fd(), memfd->size())
            .ok());
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        return OpenFdCount(daemon_->pid()) >=
               fds_before + kWithinLimit - kSlack;
      },
      absl::Seconds(60)));
  v1::RegisterRegionResponse registered;
  grpc::Status status = (*flood)->RegisterRegion(1, &registered);
  EXPECT_TRUE(status.ok()) << Describe(status);
  // Past it, the session ends (sends may fail once the daemon hangs up).
  for (int i = 0; i < 1000; ++i) {
    if (!(*flood)
             ->SendRegionFd((*flood)->NextAttachId(), memfd->fd(),
                            memfd->size())
             .ok()) {
      break;
    }
  }
  pollfd p{(*flood)->attach_fd(), POLLIN | POLLRDHUP, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  char byte;
  EXPECT_EQ(recv((*flood)->attach_fd(), &byte, 1, MSG_DONTWAIT), 0);
  EXPECT_TRUE(WaitFor([&] { return OpenFdCount(daemon_->pid()) < fds_before; },
                      absl::Seconds(60)))
      << OpenFdCount(daemon_->pid()) << " fds, " << fds_before << " before";
  client_->ExpectAddWorks();
}

TEST_F(ProtocolSecurityTest, OutputBlockReleasedTwiceIsRefused) {
  v1::CallResponse response;
  ASSERT_TRUE(client_->session->Call(client_->AddRequest(), &response).ok());
  ASSERT_EQ(response.outputs_size(), 1);
  const v1::TensorRef output = response.outputs(0);
  ASSERT_TRUE(output.owned());
  auto release = [&](uint64_t region_id, uint64_t offset) {
    auto context = RawSession::Context();
    v1::ReleaseOutputsRequest request;
    request.set_session(client_->session->secret());
    v1::OutputRelease* block = request.add_releases();
    block->set_region_id(region_id);
    block->set_offset(offset);
    v1::ReleaseOutputsResponse ignored;
    return client_->session->stub()->ReleaseOutputs(context.get(), request,
                                                    &ignored);
  };
  auto in_use = [&] {
    auto status = DaemonStatus(*probe_);
    return status.ok() ? status->output_bytes_in_use() : -1;
  };
  EXPECT_EQ(in_use(), 256);
  grpc::Status first = release(output.region_id(), output.offset());
  EXPECT_TRUE(first.ok()) << Describe(first);
  EXPECT_EQ(in_use(), 0);
  grpc::Status second = release(output.region_id(), output.offset());
  EXPECT_EQ(second.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << Describe(second);
  EXPECT_THAT(second.error_message(),
              AllOf(HasSubstr(absl::StrCat("no output block at region ",
                                           output.region_id(), " offset ",
                                           output.offset())),
                    HasSubstr("released twice?")));
  grpc::Status never = release(output.region_id(), output.offset() + 64);
  EXPECT_EQ(never.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status unknown = release(client_->region_id, 0);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unknown.error_message(), HasSubstr("unknown region"));
  // The accounting did not go below zero.
  EXPECT_EQ(in_use(), 0);

  // The same double release riding on a call is ignored; the call works and
  // the block it hands out is counted once.
  v1::CallRequest request = client_->AddRequest();
  v1::OutputRelease* stale = request.add_releases();
  stale->set_region_id(output.region_id());
  stale->set_offset(output.offset());
  ASSERT_TRUE(client_->session->Call(request, &response).ok());
  auto out = client_->session->ReadOutput(response.outputs(0));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(at::equal(*out, client_->a + client_->b));
  EXPECT_EQ(in_use(), 256);
}

TEST_F(ProtocolSecurityTest, UnknownKernelSetNodeOrCountsAreRefused) {
  v1::CallRequest request = client_->AddRequest();
  request.set_kernel_set_id(987654321);
  ExpectCallRefused(request, grpc::StatusCode::NOT_FOUND,
                    {"kernel set 987654321 is not registered in this session"});
  for (int64_t node : {int64_t{-1}, int64_t{14}, int64_t{1} << 40}) {
    request = client_->AddRequest();
    request.set_node_index(node);
    ExpectCallRefused(request, grpc::StatusCode::INVALID_ARGUMENT,
                      {absl::StrCat("extern node index ", node,
                                    " is out of range: the kernel set has 14 "
                                    "nodes")});
  }
  request = client_->AddRequest();
  request.set_node_index(kAddAlphaNode);
  ExpectCallRefused(request, grpc::StatusCode::INVALID_ARGUMENT,
                    {"extern node 1 'buf1' (aten::add.Tensor): expected 1 ints "
                     "(1 inputs + 0 int outputs), got 0"});
  request = client_->AddRequest();
  request.mutable_inputs()->RemoveLast();
  ExpectCallRefused(request, grpc::StatusCode::INVALID_ARGUMENT,
                    {"extern node 0 'buf0' (aten::add.Tensor): expected 2 "
                     "input tensors, got 1"});
  request = client_->AddRequest();
  *request.add_inputs() = request.inputs(0);
  ExpectCallRefused(request, grpc::StatusCode::INVALID_ARGUMENT,
                    {"expected 2 input tensors, got 3"});
  client_->ExpectAddWorks();
}

// A raw client process SIGKILLed with a session, a registered region, an
// output region and a memfd it never registered: the daemon drops the
// session and closes every fd it held for it; nothing appears in /dev/shm.
TEST_F(ProtocolSecurityTest, KilledRawClientLeavesNothingBehind) {
  client_.reset();
  WaitForQuiet();
  const int baseline_fds = SettledFdCount(daemon_->pid());
  auto peer = PeerProcess::Spawn(RunfilePath("tests/e2e/raw_peer"),
                                 {endpoint(), AtenJson()});
  ASSERT_TRUE(peer.ok()) << peer.status();
  auto line = (*peer)->ReadLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status();
  ASSERT_EQ(*line, "ready");

  auto status = DaemonStatus(*probe_);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->sessions(), 1);
  // Its region and its output region (mapped as its worker started).
  EXPECT_TRUE(WaitFor(
      [&] {
        auto now = DaemonStatus(*probe_);
        return now.ok() && now->regions() == 2;
      },
      absl::Seconds(60)));
  // Attach socket, gRPC connection, its region, one pending memfd, and the
  // channel of the spare worker started when its session took the last one.
  // The pending memfd reaches the daemon's session reader a moment after
  // the peer sent it.
  EXPECT_TRUE(
      WaitFor([&] { return OpenFdCount(daemon_->pid()) >= baseline_fds + 5; },
              absl::Seconds(60)))
      << OpenFdCount(daemon_->pid()) << " fds, " << baseline_fds
      << " before the peer";

  const int killed = (*peer)->KillAndWait(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(killed) && WTERMSIG(killed) == SIGKILL);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto s = DaemonStatus(*probe_);
        return s.ok() && s->sessions() == 0 && s->regions() == 0 &&
               s->mapped_bytes() == 0 && s->output_bytes_in_use() == 0 &&
               OpenFdCount(daemon_->pid()) == baseline_fds;
      },
      absl::Seconds(60)))
      << "daemon fds " << OpenFdCount(daemon_->pid()) << ", baseline "
      << baseline_fds;
  EXPECT_EQ(DevShmNames(), baseline_shm_);
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
