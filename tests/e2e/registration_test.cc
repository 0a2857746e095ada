// RegisterKernelSet against the real daemon: a set it has is found by its
// content hash without its JSON, one it lacks is NOT_FOUND; JSON comes as
// the client's own file, which the daemon compares or reads in place, or in
// a sealed memfd, which it hashes itself, so the shim sends new content at
// once; each op's schema comes with its first node only.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "aoti_remote/executor.h"
#include "server/common/content_hash.h"
#include "server/common/status_macros.h"
#include "server/common/unique_fd.h"
#include "server/framing/fd_channel.h"
#include "server/shm/sealed_bytes.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/raw_session.h"
#include "tests/e2e/shim_calls.h"
#include "tests/e2e/stderr_to_file.h"

namespace aoti_executor {
namespace e2e {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

std::string AtenJsonPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  std::string relative = "tests/fixtures/aten_ops.json";
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

// RegisterKernelSet with the JSON in the memfd that went with `attach_id`.
grpc::Status RegisterFromMemfd(RawSession& session, uint64_t attach_id,
                               const std::string& hash,
                               v1::RegisterKernelSetResponse* response,
                               absl::Duration timeout = absl::Seconds(10)) {
  v1::RegisterKernelSetRequest request;
  request.set_session(session.secret());
  request.set_device("cpu");
  request.set_content_hash(hash);
  request.set_json_attach_id(attach_id);
  auto context = RawSession::Context(timeout);
  return session.stub()->RegisterKernelSet(context.get(), request, response);
}

// RegisterKernelSet of the client's own file, sent with `attach_id`.
grpc::Status RegisterFromFile(RawSession& session, uint64_t attach_id,
                              v1::RegisterKernelSetResponse* response) {
  v1::RegisterKernelSetRequest request;
  request.set_session(session.secret());
  request.set_device("cpu");
  request.set_json_file_attach_id(attach_id);
  auto context = RawSession::Context();
  return session.stub()->RegisterKernelSet(context.get(), request, response);
}

// Sends `json` in a sealed memfd on the attach socket; its attach id.
absl::StatusOr<uint64_t> SendSealedJson(RawSession& session,
                                        const std::string& json) {
  const SealedPart part{0, json};
  absl::StatusOr<UniqueFd> fd = CreateSealedMemfd(
      "test-json", json.size(), absl::MakeConstSpan(&part, 1));
  if (!fd.ok()) return fd.status();
  const uint64_t attach_id = session.NextAttachId();
  AOTI_RETURN_IF_ERROR(session.SendRegionFd(attach_id, fd->get(), json.size()));
  return attach_id;
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

// A client that reads packed tables gets the table as NodeInfo messages say
// it, packed; and its fingerprint is of the packed table, whichever form
// was asked for.
TEST_F(RegistrationTest, APackedTableSaysWhatTheNodeInfosSay) {
  const std::string json = ReadAll(AtenJsonPath());
  auto session = Open();
  ASSERT_NE(session, nullptr);
  auto register_json = [&](bool packed) {
    v1::RegisterKernelSetRequest request;
    request.set_session(session->secret());
    request.set_device("cpu");
    request.set_extern_kernels_json(json);
    request.set_accepts_packed_nodes(packed);
    v1::RegisterKernelSetResponse response;
    auto context = RawSession::Context();
    EXPECT_TRUE(session->stub()
                    ->RegisterKernelSet(context.get(), request, &response)
                    .ok());
    return response;
  };
  const v1::RegisterKernelSetResponse infos = register_json(false);
  const v1::RegisterKernelSetResponse packed = register_json(true);
  ASSERT_EQ(infos.nodes_size(), 14);
  EXPECT_FALSE(infos.has_packed_nodes());
  EXPECT_EQ(packed.nodes_size(), 0);
  const v1::PackedNodeTable& table = packed.packed_nodes();
  ASSERT_EQ(table.node_shapes_size(), 14);
  EXPECT_LT(table.targets_size(), 14) << "each op once";
  EXPECT_LT(table.shapes_size(), 14) << "each shape once";
  EXPECT_EQ(table.schemas_size(), table.targets_size());
  for (int i = 0; i < 14; ++i) {
    const v1::NodeInfo& node = infos.nodes(i);
    SCOPED_TRACE(absl::StrCat("node ", i, " ", node.target()));
    const int index = table.node_shapes(i);
    ASSERT_GE(index, 0);
    ASSERT_LT(index, table.shapes_size());
    const v1::PackedNodeTable::Shape& shape = table.shapes(index);
    ASSERT_GE(shape.target(), 0);
    ASSERT_LT(shape.target(), table.targets_size());
    EXPECT_EQ(table.targets(shape.target()), node.target());
    if (!node.schema().empty()) {
      EXPECT_EQ(table.schemas(shape.target()), node.schema());
    }
    EXPECT_EQ(shape.num_input_tensors(), node.num_input_tensors());
    EXPECT_EQ(shape.num_output_tensors(), node.num_output_tensors());
    EXPECT_EQ(shape.num_input_ints(), node.num_input_ints());
    EXPECT_EQ(shape.num_output_ints(), node.num_output_ints());
    EXPECT_EQ(shape.num_omitted_default_ints(),
              node.num_omitted_default_ints());
    EXPECT_EQ(std::vector<int32_t>(shape.mutated_input_tensors().begin(),
                                   shape.mutated_input_tensors().end()),
              std::vector<int32_t>(node.mutated_input_tensors().begin(),
                                   node.mutated_input_tensors().end()));
  }

  // The fingerprint is of the table itself: SHA-256 of its serialization.
  std::string serialized;
  ASSERT_TRUE(table.SerializeToString(&serialized));
  EXPECT_EQ(packed.nodes_fingerprint(), Sha256Hex(serialized));
  EXPECT_EQ(infos.nodes_fingerprint(), packed.nodes_fingerprint());
}

TEST_F(RegistrationTest, JsonInASealedMemfdIsParsedAndCachedByItsContent) {
  const std::string json = ReadAll(AtenJsonPath());
  ASSERT_FALSE(json.empty());
  auto session = Open();
  ASSERT_NE(session, nullptr);
  absl::StatusOr<uint64_t> attach_id = SendSealedJson(*session, json);
  ASSERT_TRUE(attach_id.ok()) << attach_id.status();

  // The hash the client sends is not what the set is cached under: the
  // daemon hashes the bytes itself.
  v1::RegisterKernelSetResponse response;
  grpc::Status status =
      RegisterFromMemfd(*session, *attach_id, "not-a-hash", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.nodes_size(), 14);  // aten_ops.json's nodes
  EXPECT_EQ(response.content_hash(), KernelSetContentHash(json, "cpu"));

  auto other = Open();
  ASSERT_NE(other, nullptr);
  v1::RegisterKernelSetResponse found;
  status = RegisterByHash(*other, response.content_hash(), "cpu", &found);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(found.kernel_set_id(), response.kernel_set_id());
}

TEST_F(RegistrationTest, AJsonMemfdTheClientCanStillChangeIsRefused) {
  // Writable after it was sent: the client could change the bytes between
  // the daemon's hash and its parse, and poison the set other clients get.
  const std::string json = ReadAll(AtenJsonPath());
  auto session = Open();
  ASSERT_NE(session, nullptr);
  const int fd = memfd_create("test-json", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, json.data(), json.size()),
            static_cast<ssize_t>(json.size()));
  ASSERT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  const uint64_t attach_id = session->NextAttachId();
  ASSERT_TRUE(session->SendRegionFd(attach_id, fd, json.size()).ok());
  close(fd);

  v1::RegisterKernelSetResponse response;
  const grpc::Status status = RegisterFromMemfd(
      *session, attach_id, KernelSetContentHash(json, "cpu"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("the kernel set JSON memfd: the memfd is not sealed "
                        "against writing and shrinking"));

  // Nothing was cached, and the session and daemon go on.
  v1::RegisterKernelSetResponse unknown;
  EXPECT_EQ(RegisterByHash(*session, KernelSetContentHash(json, "cpu"), "cpu",
                           &unknown)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(session->RegisterKernelSet(AtenJsonPath()).ok());
}

TEST_F(RegistrationTest, AClientThatHasTheNodeTableIsNotSentItAgain) {
  const std::string json = ReadAll(AtenJsonPath());
  const std::string hash = KernelSetContentHash(json, "cpu");
  auto first = Open();
  ASSERT_NE(first, nullptr);
  v1::RegisterKernelSetRequest request;
  request.set_session(first->secret());
  request.set_device("cpu");
  request.set_extern_kernels_json(json);
  v1::RegisterKernelSetResponse full;
  auto context = RawSession::Context();
  ASSERT_TRUE(
      first->stub()->RegisterKernelSet(context.get(), request, &full).ok());
  ASSERT_EQ(full.nodes_size(), 14);

  auto second = Open();
  ASSERT_NE(second, nullptr);
  auto register_knowing = [&](const std::string& fingerprint) {
    v1::RegisterKernelSetRequest by_hash;
    by_hash.set_session(second->secret());
    by_hash.set_device("cpu");
    by_hash.set_content_hash(hash);
    by_hash.set_known_nodes_fingerprint(fingerprint);
    v1::RegisterKernelSetResponse response;
    auto by_hash_context = RawSession::Context();
    EXPECT_TRUE(
        second->stub()
            ->RegisterKernelSet(by_hash_context.get(), by_hash, &response)
            .ok());
    return response;
  };
  const v1::RegisterKernelSetResponse known =
      register_knowing(full.nodes_fingerprint());
  EXPECT_EQ(known.nodes_size(), 0);
  EXPECT_FALSE(known.has_packed_nodes());
  EXPECT_EQ(known.nodes_fingerprint(), full.nodes_fingerprint());
  EXPECT_EQ(known.kernel_set_id(), full.kernel_set_id());

  // A client whose table is another (an older daemon's, other op
  // libraries) gets this one.
  const v1::RegisterKernelSetResponse stale =
      register_knowing(std::string(64, '0'));
  EXPECT_EQ(stale.nodes_size(), 14);
  EXPECT_EQ(stale.nodes_fingerprint(), full.nodes_fingerprint());
}

TEST_F(RegistrationTest, AJsonMemfdThatNeverArrivedIsNamed) {
  auto session = Open();
  ASSERT_NE(session, nullptr);
  v1::RegisterKernelSetResponse response;
  // The daemon waits 5 s for the memfd; the client longer, so that the
  // daemon's reason comes back however loaded the machine is.
  const grpc::Status status =
      RegisterFromMemfd(*session, 77, "", &response, absl::Seconds(120));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(),
              HasSubstr("no memfd with attach id 77 arrived"));
}

// What a client without the hash sends: the daemon hashes the memfd's bytes,
// and a set it has is the one it answers, however many clients send it.
// json_file_attach_id: the daemon reads a regular file in place (parsing it
// the first time, comparing it after) and sends its own sealed copy before
// the answer. A file it does not read in place (a pipe, which could block
// it) is NOT_FOUND, the client's cue to send the bytes.
TEST_F(RegistrationTest, AClientsFileIsReadInPlaceAndAnsweredWithACopy) {
  auto session = RawSession::Open(daemon_->endpoint());
  ASSERT_TRUE(session.ok()) << session.status();
  int ends[2];
  ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
  const UniqueFd read_end(ends[0]);
  const UniqueFd write_end(ends[1]);
  uint64_t attach_id = (*session)->NextAttachId();
  ASSERT_TRUE((*session)->SendRegionFd(attach_id, read_end.get(), 0).ok());
  v1::RegisterKernelSetResponse refused;
  const grpc::Status not_read =
      RegisterFromFile(**session, attach_id, &refused);
  EXPECT_EQ(not_read.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(not_read.error_message(), HasSubstr("not a regular file"));

  const std::string json = ReadAll(AtenJsonPath());
  const UniqueFd file(open(AtenJsonPath().c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file.valid());
  std::vector<uint64_t> ids;
  for (int i = 0; i < 2; ++i) {  // new content, then content the daemon has
    attach_id = (*session)->NextAttachId();
    ASSERT_TRUE((*session)->SendRegionFd(attach_id, file.get(), 0).ok());
    v1::RegisterKernelSetResponse response;
    const grpc::Status status =
        RegisterFromFile(**session, attach_id, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.content_hash(), KernelSetContentHash(json, "cpu"));
    ASSERT_TRUE(response.sent_kernel_set_json());
    ids.push_back(response.kernel_set_id());

    auto frame =
        ReceiveFrame((*session)->attach_fd(), absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ(frame->frame.type, AttachFrameType::kKernelSetJson);
    EXPECT_EQ(frame->frame.id, response.kernel_set_id());
    ASSERT_EQ(frame->frame.size, json.size());
    // Sealed: the client may keep it as the JSON it registered.
    auto copy = SealedBytes::Map(std::move(frame->fd), "the copy", 0,
                                 uint64_t{1} << 30);
    ASSERT_TRUE(copy.ok()) << copy.status();
    EXPECT_EQ(copy->bytes().substr(0, json.size()), json);
  }
  EXPECT_EQ(ids[1], ids[0]);
}

TEST_F(RegistrationTest, AMemfdWithNoHashFindsTheSetTheDaemonHas) {
  const std::string json = ReadAll(AtenJsonPath());
  ASSERT_FALSE(json.empty());
  std::vector<v1::RegisterKernelSetResponse> responses(3);
  for (v1::RegisterKernelSetResponse& response : responses) {
    auto session = Open();
    ASSERT_NE(session, nullptr);
    v1::HelloResponse hello;
    auto context = RawSession::Context();
    ASSERT_TRUE(
        session->stub()->Hello(context.get(), v1::HelloRequest(), &hello).ok());
    EXPECT_TRUE(hello.hashes_attached_json());

    absl::StatusOr<uint64_t> attach_id = SendSealedJson(*session, json);
    ASSERT_TRUE(attach_id.ok()) << attach_id.status();
    const grpc::Status status =
        RegisterFromMemfd(*session, *attach_id, "", &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  for (const v1::RegisterKernelSetResponse& response : responses) {
    EXPECT_EQ(response.content_hash(), KernelSetContentHash(json, "cpu"));
    EXPECT_EQ(response.kernel_set_id(), responses[0].kernel_set_id());
    EXPECT_EQ(response.nodes_size(), 14);  // aten_ops.json's nodes
  }
}

// A daemon logging at debug level to `log`, with `flags` besides.
absl::StatusOr<std::unique_ptr<DaemonProcess>> DebugDaemon(
    const std::string& log, std::vector<std::string> flags) {
  flags.push_back("--log-level=debug");
  StderrToFile redirect(log);
  return DaemonProcess::Start(flags);
}

// The shim, through the C ABI: content new to the daemon and to this process
// goes in one RegisterKernelSet, as its file, which the daemon reads (no
// copy and no SHA-256 in the client, no miss first); the hash the daemon
// answers is remembered, so the same content is asked for by its hash alone
// afterwards.
TEST(ShimRegistrationTest, NewContentGoesOnceAsItsFileAndThenByItsHash) {
  const std::string tmp = std::getenv("TEST_TMPDIR");
  const std::string log = tmp + "/shim_registration.stderr";
  auto daemon = DebugDaemon(log, {});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  // Bytes no other test of this process registers.
  const std::string json = ReadAll(AtenJsonPath()) + "\n\n";
  const std::string path = tmp + "/fresh.wrapper.json";
  std::ofstream(path, std::ios::binary) << json;
  for (int create = 0; create < 2; ++create) {
    AOTIProxyExecutorHandle executor = nullptr;
    ASSERT_EQ(aoti_remote_executor_create((*daemon)->endpoint().c_str(),
                                          path.c_str(), "cpu", &executor),
              AOTI_TORCH_SUCCESS)
        << aoti_remote_last_error();
    aoti_remote_executor_delete(executor);
  }

  const std::string registered = absl::StrCat("registered for pid ", getpid());
  std::vector<std::string> registrations;
  for (const std::string& line : ReadLines(log)) {
    EXPECT_THAT(line, Not(HasSubstr("RegisterKernelSet failed")));
    if (absl::StrContains(line, registered)) registrations.push_back(line);
  }
  ASSERT_EQ(registrations.size(), 2u);
  const std::string hash = KernelSetContentHash(json, "cpu").substr(0, 12);
  EXPECT_THAT(registrations[0], HasSubstr(hash));
  EXPECT_THAT(registrations[0],
              EndsWith(" from the client's file: new content, parsed"));
  EXPECT_THAT(registrations[1], HasSubstr(hash));
  EXPECT_THAT(registrations[1],
              EndsWith(" by content hash: cached, the same hash"));
}

// A client new to a model the daemon has (a second server process) sends its
// bytes: the daemon finds the set by comparing them, with no hash and no
// parse, and bytes that differ in one place are parsed as new content.
TEST(RegistrationLogTest, BytesTheDaemonHasAreFoundByComparingThem) {
  const std::string tmp = std::getenv("TEST_TMPDIR");
  const std::string log = tmp + "/same_bytes.stderr";
  auto daemon = DebugDaemon(log, {});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const std::string json = ReadAll(AtenJsonPath());
  const std::string same_size = tmp + "/same_size.wrapper.json";
  std::ofstream(same_size, std::ios::binary)
      << json.substr(0, json.size() - 1) << (json.back() == '\n' ? ' ' : '\n');
  std::vector<uint64_t> ids;
  for (const std::string& path : {AtenJsonPath(), AtenJsonPath(), same_size}) {
    auto session = RawSession::Open((*daemon)->endpoint());
    ASSERT_TRUE(session.ok()) << session.status();
    auto id = (*session)->RegisterKernelSet(path);
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_NE(ids[2], ids[0]);
  std::vector<std::string> registrations;
  for (const std::string& line : ReadLines(log)) {
    if (absl::StrContains(line, "registered for pid")) {
      registrations.push_back(line);
    }
  }
  ASSERT_EQ(registrations.size(), 3u);
  EXPECT_THAT(registrations[0], EndsWith(": new content, parsed"));
  EXPECT_THAT(registrations[1], EndsWith(": cached, the same bytes"));
  EXPECT_THAT(registrations[2], EndsWith(": new content, parsed"));
}

// A process new to content the daemon has (a second server process of a
// model) sends only its file, which the daemon compares in place; the shim
// keeps the daemon's sealed copy, not the file: a file changed afterwards
// neither reaches a reconnect nor passes for the content registered.
TEST(ShimRegistrationTest, AProcessNewToContentTheDaemonHasSendsOnlyItsFile) {
  const std::string tmp = std::getenv("TEST_TMPDIR");
  const std::string log = tmp + "/file_compared.stderr";
  auto daemon = DebugDaemon(log, {});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  // Bytes no other test of this process registers through the shim.
  const std::string json = ReadAll(AtenJsonPath()) + "\n\n\n";
  const std::string path = tmp + "/compared.wrapper.json";
  std::ofstream(path, std::ios::binary) << json;
  {
    // Another process of the model: the shim's memo never hears of it.
    auto other = RawSession::Open((*daemon)->endpoint());
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_TRUE((*other)->RegisterKernelSet(path).ok());
  }
  AOTIProxyExecutorHandle executor = nullptr;
  ASSERT_EQ(aoti_remote_executor_create((*daemon)->endpoint().c_str(),
                                        path.c_str(), "cpu", &executor),
            AOTI_TORCH_SUCCESS)
      << aoti_remote_last_error();
  EXPECT_TRUE(AddsRight(executor)) << aoti_remote_last_error();

  std::vector<std::string> registrations;
  for (const std::string& line : ReadLines(log)) {
    if (absl::StrContains(line, "registered for pid")) {
      registrations.push_back(line);
    }
  }
  ASSERT_EQ(registrations.size(), 2u);
  EXPECT_THAT(registrations[1],
              EndsWith(" from the client's file: cached, the same bytes as "
                       "the file"));

  // Same size, other bytes, and no JSON at all: a shim that read the file
  // again would fail to register it.
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      << std::string(json.size(), '#');
  ASSERT_TRUE((*daemon)->Restart().ok());
  bool reconnected = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (!reconnected && absl::Now() < give_up) {
    reconnected = AddsRight(executor);
    if (!reconnected) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(reconnected) << aoti_remote_last_error();
  aoti_remote_executor_delete(executor);

  AOTIProxyExecutorHandle changed = nullptr;
  EXPECT_NE(aoti_remote_executor_create((*daemon)->endpoint().c_str(),
                                        path.c_str(), "cpu", &changed),
            AOTI_TORCH_SUCCESS);
  EXPECT_THAT(aoti_remote_last_error(), HasSubstr("registering " + path));
}

// A file the daemon does not read in place (here a pipe; on a host, a file
// on FUSE or NFS) is NOT_FOUND, and the shim sends its bytes in a memfd.
TEST(ShimRegistrationTest, AFileTheDaemonDoesNotReadGoesInAMemfd) {
  const std::string tmp = std::getenv("TEST_TMPDIR");
  const std::string log = tmp + "/not_in_place.stderr";
  auto daemon = DebugDaemon(log, {});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const std::string path = tmp + "/model.fifo";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  // Bytes no other test of this process registers through the shim.
  const std::string json = ReadAll(AtenJsonPath()) + "\n\n\n\n";
  std::thread writer([&] { std::ofstream(path, std::ios::binary) << json; });
  AOTIProxyExecutorHandle executor = nullptr;
  const AOTITorchError created = aoti_remote_executor_create(
      (*daemon)->endpoint().c_str(), path.c_str(), "cpu", &executor);
  writer.join();
  ASSERT_EQ(created, AOTI_TORCH_SUCCESS) << aoti_remote_last_error();
  EXPECT_TRUE(AddsRight(executor)) << aoti_remote_last_error();
  aoti_remote_executor_delete(executor);

  std::vector<std::string> registrations;
  int refusals = 0;
  for (const std::string& line : ReadLines(log)) {
    if (absl::StrContains(line, "registered for pid")) {
      registrations.push_back(line);
    }
    if (absl::StrContains(line,
                          "NOT_FOUND: the JSON file sent is not a "
                          "regular file")) {
      ++refusals;
    }
  }
  EXPECT_EQ(refusals, 1);
  ASSERT_EQ(registrations.size(), 1u);
  EXPECT_THAT(registrations[0],
              HasSubstr(KernelSetContentHash(json, "cpu").substr(0, 12)));
  EXPECT_THAT(registrations[0], EndsWith(" from a memfd: new content, parsed"));
}

// Creates in quick succession (a server loading its models, executors
// reconnecting after a restart) must not wait for a worker to start: with
// --spare-workers=N, N creates in a row each take a spare. The issue's own
// method: each executor deleted before the next (its worker with it).
constexpr char kNoSpare[] = "no spare worker is ready";

void CreateAndDelete(const std::string& endpoint) {
  AOTIProxyExecutorHandle executor = nullptr;
  ASSERT_EQ(aoti_remote_executor_create(
                endpoint.c_str(), AtenJsonPath().c_str(), "cpu", &executor),
            AOTI_TORCH_SUCCESS)
      << aoti_remote_last_error();
  aoti_remote_executor_delete(executor);
}

TEST(ShimRegistrationTest, CreatesInARowEachTakeASpareWorker) {
  constexpr int kSpares = 3;
  const std::string log =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/spares.stderr");
  auto daemon = DebugDaemon(log, {absl::StrCat("--spare-workers=", kSpares)});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  // The daemon's gauge of spares ready, as an operator reads it.
  auto spares_ready = [&] {
    auto status = DaemonStatus((*daemon)->endpoint());
    return status.ok() ? status->spare_workers() : -1;
  };
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (spares_ready() != kSpares && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(spares_ready(), kSpares) << "the spares never came up";
  for (int create = 0; create < kSpares; ++create) {
    CreateAndDelete((*daemon)->endpoint());
  }
  const std::string registered = absl::StrCat("registered for pid ", getpid());
  int registrations = 0;
  int aten_set_up = 0;
  for (const std::string& line : ReadLines(log)) {
    EXPECT_THAT(line, Not(HasSubstr(kNoSpare)));
    if (absl::StrContains(line, registered)) ++registrations;
    // Once, in the zygote, for every worker it forks.
    if (absl::StrContains(line, "zygote: ATen set up")) ++aten_set_up;
  }
  EXPECT_EQ(registrations, kSpares);
  EXPECT_EQ(aten_set_up, 1);
}

// The other side of the test above, which shows its log line is real: with
// no spares, a create starts its session's worker itself.
TEST(ShimRegistrationTest, WithNoSparesACreateStartsItsOwnWorker) {
  const std::string log =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/no_spares.stderr");
  auto daemon = DebugDaemon(log, {"--spare-workers=0"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  CreateAndDelete((*daemon)->endpoint());
  auto status = DaemonStatus((*daemon)->endpoint());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->spare_workers(), 0);
  int own_starts = 0;
  for (const std::string& line : ReadLines(log)) {
    if (absl::StrContains(line, kNoSpare)) ++own_starts;
  }
  EXPECT_EQ(own_starts, 1);
}

// A create asks for its call lane with its registration (one round trip
// less), and its first call takes that lane.
TEST(ShimRegistrationTest, ACreateGetsItsCallLaneWithItsRegistration) {
  const std::string log =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/lane.stderr");
  auto daemon = DebugDaemon(log, {});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  AOTIProxyExecutorHandle executor = nullptr;
  ASSERT_EQ(
      aoti_remote_executor_create((*daemon)->endpoint().c_str(),
                                  AtenJsonPath().c_str(), "cpu", &executor),
      AOTI_TORCH_SUCCESS)
      << aoti_remote_last_error();
  EXPECT_TRUE(AddsRight(executor)) << aoti_remote_last_error();
  auto status = DaemonStatus((*daemon)->endpoint());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->call_lanes(), 1);
  EXPECT_EQ(status->lane_calls(), 1);
  aoti_remote_executor_delete(executor);
  const std::string with_registration =
      absl::StrCat("opened for pid ", getpid(), " with its registration");
  int lanes_with_registration = 0;
  for (const std::string& line : ReadLines(log)) {
    EXPECT_THAT(line, Not(HasSubstr("by OpenCallLane")));
    if (absl::StrContains(line, with_registration)) ++lanes_with_registration;
  }
  EXPECT_EQ(lanes_with_registration, 1);
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
