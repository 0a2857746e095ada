#include "tests/client_shim/fake_daemon.h"

#include <ATen/ATen.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/executor.grpc.pb.h"
#include "server/kernels/serialized_enums.h"
#include "server/shm/fd_channel.h"
#include "server/shm/shared_region.h"
#include "server/shm/tensor_layout.h"

namespace aoti_executor {
namespace testing {

namespace v1 = ::aoti::executor::v1;

struct FakeDaemon::Session {
  int fd = -1;
  std::string secret;
  std::mutex mu;
  std::condition_variable frame_arrived;
  std::map<uint64_t, int> pending_fds;  // attach_id -> memfd
  std::map<uint64_t, std::shared_ptr<SharedRegion>> regions;
  std::set<uint64_t> output_region_ids;
  std::set<std::pair<uint64_t, uint64_t>> live_blocks;
  uint64_t next_region_id = 1;
  uint64_t output_region = 0;  // the one outputs are bump-allocated in
  uint64_t bump = 0;
};

namespace {

constexpr uint64_t kOutputRegionSize = 1 << 20;

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

v1::NodeInfo Node(const char* target, int in, int out, int in_ints,
                  int out_ints, std::vector<int> mutated = {}) {
  v1::NodeInfo node;
  node.set_target(target);
  node.set_schema(absl::StrCat(target, "(...)"));
  node.set_num_input_tensors(in);
  node.set_num_output_tensors(out);
  node.set_num_input_ints(in_ints);
  node.set_num_output_ints(out_ints);
  for (int m : mutated) node.add_mutated_input_tensors(m);
  return node;
}

std::vector<v1::NodeInfo> Nodes() {
  return {
      Node("test::add", 2, 1, 0, 0),   Node("test::add_", 2, 0, 1, 0, {0}),
      Node("test::tail", 1, 1, 0, 0),  Node("test::scale", 1, 1, 1, 1),
      Node("test::slow", 1, 1, 0, 0),  Node("test::fail", 0, 0, 0, 0),
      Node("test::split", 1, 2, 0, 0),
  };
}

}  // namespace

class FakeDaemon::Service final : public v1::Executor::Service {
 public:
  explicit Service(FakeDaemon* daemon) : daemon_(daemon) {}

  grpc::Status Hello(grpc::ServerContext*, const v1::HelloRequest*,
                     v1::HelloResponse* response) override {
    response->set_protocol_version(1);
    response->set_attach_socket_path(daemon_->attach_path_);
    response->set_daemon_version("fake");
    return grpc::Status::OK;
  }

  grpc::Status RegisterKernelSet(
      grpc::ServerContext*, const v1::RegisterKernelSetRequest* request,
      v1::RegisterKernelSetResponse* response) override {
    if (daemon_->FindSession(request->session()) == nullptr) return NoSession();
    if (request->extern_kernels_json().empty()) return Invalid("empty JSON");
    response->set_kernel_set_id(42);
    for (const v1::NodeInfo& node : Nodes()) *response->add_nodes() = node;
    return grpc::Status::OK;
  }

  grpc::Status RegisterRegion(grpc::ServerContext*,
                              const v1::RegisterRegionRequest* request,
                              v1::RegisterRegionResponse* response) override {
    auto session = daemon_->FindSession(request->session());
    if (session == nullptr) return NoSession();
    std::unique_lock<std::mutex> lock(session->mu);
    if (!session->frame_arrived.wait_for(lock, std::chrono::seconds(2), [&] {
          return session->pending_fds.count(request->attach_id()) > 0;
        })) {
      return Invalid("no kClientRegion frame with that attach_id");
    }
    const int fd = session->pending_fds[request->attach_id()];
    session->pending_fds.erase(request->attach_id());
    absl::StatusOr<SharedRegion> region = SharedRegion::Adopt(fd);
    if (!region.ok()) return Invalid(std::string(region.status().message()));
    const uint64_t id = session->next_region_id++;
    response->set_region_id(id);
    response->set_byte_size(region->size());
    session->regions[id] = std::make_shared<SharedRegion>(*std::move(region));
    std::lock_guard<std::mutex> stats(daemon_->mu_);
    ++daemon_->stats_.client_regions;
    return grpc::Status::OK;
  }

  grpc::Status ReleaseRegion(grpc::ServerContext*,
                             const v1::ReleaseRegionRequest* request,
                             v1::ReleaseRegionResponse*) override {
    auto session = daemon_->FindSession(request->session());
    if (session == nullptr) return NoSession();
    std::lock_guard<std::mutex> lock(session->mu);
    session->regions.erase(request->region_id());
    std::lock_guard<std::mutex> stats(daemon_->mu_);
    ++daemon_->stats_.released_regions;
    return grpc::Status::OK;
  }

  grpc::Status Call(grpc::ServerContext*, const v1::CallRequest* request,
                    v1::CallResponse* response) override {
    auto session = daemon_->FindSession(request->session());
    if (session == nullptr) return NoSession();
    std::unique_lock<std::mutex> lock(session->mu);
    {
      std::lock_guard<std::mutex> stats(daemon_->mu_);
      ++daemon_->stats_.calls;
      for (const v1::OutputRelease& release : request->releases()) {
        ++daemon_->stats_.releases;
        if (session->live_blocks.erase(
                {release.region_id(), release.offset()}) == 0) {
          ++daemon_->stats_.bad_releases;
        }
      }
    }
    if (request->kernel_set_id() != 42) return Invalid("unknown kernel set");
    const int64_t index = request->node_index();
    const std::vector<v1::NodeInfo> nodes = Nodes();
    if (index < 0 || index >= static_cast<int64_t>(nodes.size())) {
      return Invalid("bad node index");
    }
    const v1::NodeInfo& node = nodes[index];
    if (request->inputs_size() != node.num_input_tensors() ||
        request->ints_size() !=
            node.num_input_ints() + node.num_output_ints()) {
      return Invalid(absl::StrCat("extern node ", index, " (", node.target(),
                                  "): wrong counts"));
    }
    std::vector<at::Tensor> inputs;
    for (const v1::TensorRef& ref : request->inputs()) {
      absl::StatusOr<at::Tensor> tensor = Input(*session, ref);
      if (!tensor.ok()) return Invalid(std::string(tensor.status().message()));
      inputs.push_back(*tensor);
    }
    const auto& ints = request->ints();
    std::vector<at::Tensor> outputs;
    switch (index) {
      case kAdd:
        outputs = {inputs[0] + inputs[1]};
        break;
      case kAddInPlace:
        inputs[0].add_(inputs[1], ints[0]);
        break;
      case kTail: {
        at::Tensor tail = inputs[0].narrow(0, 1, inputs[0].size(0) - 1);
        return AliasOf(request->inputs(0), inputs[0], tail, response);
      }
      case kScale:
        if (ints[1] != ints[0]) return Invalid("int output mismatch");
        outputs = {inputs[0] * ints[0]};
        break;
      case kSlow:
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::seconds(2));
        lock.lock();
        outputs = {inputs[0].clone()};
        break;
      case kFail:
        return Invalid("extern node 5 'fail' (test::fail): always fails");
      case kSplit:
        outputs = {inputs[0] * 2, inputs[0] + 1};
        break;
    }
    for (const at::Tensor& output : outputs) {
      absl::Status status = Output(*session, output, response->add_outputs());
      if (!status.ok()) return Invalid(std::string(status.message()));
    }
    return grpc::Status::OK;
  }

 private:
  static grpc::Status NoSession() {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown session");
  }

  absl::StatusOr<at::Tensor> Input(Session& session, const v1::TensorRef& ref) {
    auto it = session.regions.find(ref.region_id());
    if (it == session.regions.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown region ", ref.region_id()));
    }
    absl::StatusOr<c10::ScalarType> dtype =
        ScalarTypeFromSerialized(ref.dtype());
    if (!dtype.ok()) return dtype.status();
    TensorLayout layout;
    layout.offset = ref.offset();
    layout.byte_size = ref.byte_size();
    layout.dtype = *dtype;
    layout.sizes.assign(ref.sizes().begin(), ref.sizes().end());
    layout.strides.assign(ref.strides().begin(), ref.strides().end());
    layout.storage_offset = ref.storage_offset();
    absl::Status valid = ValidateTensorLayout(layout, it->second->size());
    if (!valid.ok()) return valid;
    {
      std::lock_guard<std::mutex> stats(daemon_->mu_);
      if (session.output_region_ids.count(ref.region_id())) {
        ++daemon_->stats_.by_reference_inputs;
      } else {
        ++daemon_->stats_.staged_inputs;
      }
    }
    uint8_t* data = it->second->data() + ref.offset() +
                    ref.storage_offset() * c10::elementSize(*dtype);
    return at::from_blob(data, layout.sizes, layout.strides,
                         at::TensorOptions().dtype(*dtype));
  }

  grpc::Status AliasOf(const v1::TensorRef& input_ref, const at::Tensor& input,
                       const at::Tensor& alias, v1::CallResponse* response) {
    v1::TensorRef* ref = response->add_outputs();
    *ref = input_ref;
    ref->clear_sizes();
    ref->clear_strides();
    ref->mutable_sizes()->Add(alias.sizes().begin(), alias.sizes().end());
    ref->mutable_strides()->Add(alias.strides().begin(), alias.strides().end());
    const auto* base = static_cast<const uint8_t*>(input.data_ptr()) -
                       input_ref.storage_offset() * input.element_size();
    ref->set_storage_offset(
        (static_cast<const uint8_t*>(alias.data_ptr()) - base) /
        alias.element_size());
    ref->set_owned(false);
    return grpc::Status::OK;
  }

  absl::Status Output(Session& session, const at::Tensor& result,
                      v1::TensorRef* ref) {
    at::Tensor output = result.contiguous();
    const uint64_t bytes = output.nbytes();
    auto region = session.output_region ? session.regions[session.output_region]
                                        : nullptr;
    if (region == nullptr || session.bump + bytes > region->size()) {
      const uint64_t size =
          std::max<uint64_t>(kOutputRegionSize, (bytes + 4095) / 4096 * 4096);
      absl::StatusOr<SharedRegion> created =
          SharedRegion::Create("fake-output", size);
      if (!created.ok()) return created.status();
      region = std::make_shared<SharedRegion>(*std::move(created));
      const uint64_t id = session.next_region_id++;
      AttachFrame frame;
      frame.type = AttachFrameType::kOutputRegion;
      frame.id = id;
      frame.size = size;
      absl::Status sent = SendFrame(session.fd, frame, region->fd());
      if (!sent.ok()) return sent;
      session.regions[id] = region;
      session.output_region_ids.insert(id);
      session.output_region = id;
      session.bump = 0;
      std::lock_guard<std::mutex> stats(daemon_->mu_);
      ++daemon_->stats_.output_regions;
    }
    const uint64_t offset = session.bump;
    std::memcpy(region->data() + offset, output.data_ptr(), bytes);
    session.bump = (offset + std::max<uint64_t>(bytes, 1) + 63) / 64 * 64;
    session.live_blocks.insert({session.output_region, offset});
    ref->set_region_id(session.output_region);
    ref->set_offset(offset);
    ref->set_byte_size(bytes);
    ref->set_dtype(static_cast<int32_t>(
        SerializedFromScalarType(output.scalar_type()).value()));
    ref->mutable_sizes()->Add(output.sizes().begin(), output.sizes().end());
    ref->mutable_strides()->Add(output.strides().begin(),
                                output.strides().end());
    ref->set_device("cpu");
    ref->set_owned(true);
    return absl::OkStatus();
  }

  FakeDaemon* daemon_;
};

FakeDaemon::FakeDaemon(std::string dir)
    : dir_(std::move(dir)),
      grpc_path_(dir_ + "/executor.sock"),
      attach_path_(dir_ + "/attach.sock") {}

FakeDaemon::~FakeDaemon() { Stop(); }

absl::Status FakeDaemon::Start() {
  stopping_ = false;
  unlink(grpc_path_.c_str());
  unlink(attach_path_.c_str());
  listener_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s",
                attach_path_.c_str());
  if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
          0 ||
      listen(listener_, 16) != 0) {
    return absl::ErrnoToStatus(errno, "attach socket");
  }
  service_ = std::make_unique<Service>(this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(endpoint(), grpc::InsecureServerCredentials());
  builder.SetMaxReceiveMessageSize(-1);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) return absl::InternalError("gRPC server");
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void FakeDaemon::Stop() {
  if (server_ == nullptr) return;
  stopping_ = true;
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(100));
  server_->Wait();
  server_.reset();
  accept_thread_.join();
  close(listener_);
  listener_ = -1;
  std::map<std::string, std::shared_ptr<Session>> sessions;
  std::vector<std::thread> readers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sessions.swap(sessions_);
    readers.swap(readers_);
  }
  for (auto& entry : sessions) shutdown(entry.second->fd, SHUT_RDWR);
  for (std::thread& reader : readers) reader.join();
  for (auto& entry : sessions) {
    close(entry.second->fd);
    for (auto& pending : entry.second->pending_fds) close(pending.second);
  }
  unlink(grpc_path_.c_str());
  unlink(attach_path_.c_str());
}

FakeStats FakeDaemon::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  FakeStats stats = stats_;
  stats.live_blocks = 0;
  for (auto& entry : sessions_) {
    std::lock_guard<std::mutex> session_lock(entry.second->mu);
    stats.live_blocks += entry.second->live_blocks.size();
  }
  return stats;
}

std::shared_ptr<FakeDaemon::Session> FakeDaemon::FindSession(
    const std::string& secret) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(secret);
  return it == sessions_.end() ? nullptr : it->second;
}

void FakeDaemon::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listener_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto session = std::make_shared<Session>();
    session->fd = fd;
    char secret[AttachFrame::kSecretLength + 1];
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::snprintf(secret, sizeof(secret), "%032llx",
                    static_cast<unsigned long long>(next_secret_++));
    }
    session->secret = secret;
    // The session exists before its secret is out: the client's first RPC
    // follows the kWelcome frame at once.
    {
      std::lock_guard<std::mutex> lock(mu_);
      sessions_[session->secret] = session;
      readers_.emplace_back([this, session] { ReadLoop(session); });
    }
    AttachFrame welcome;
    welcome.type = AttachFrameType::kWelcome;
    std::memcpy(welcome.secret, secret, AttachFrame::kSecretLength);
    // A failed send ends the session: its reader sees the closed socket.
    if (!SendFrame(fd, welcome).ok()) shutdown(fd, SHUT_RDWR);
  }
}

void FakeDaemon::ReadLoop(std::shared_ptr<Session> session) {
  while (true) {
    absl::StatusOr<ReceivedFrame> received =
        ReceiveFrame(session->fd, absl::Now() + absl::Milliseconds(50));
    if (!received.ok()) {
      if (absl::IsDeadlineExceeded(received.status()) && !stopping_) continue;
      return;  // the client left, or the daemon stops
    }
    if (received->frame.type != AttachFrameType::kClientRegion ||
        received->fd < 0) {
      if (received->fd >= 0) close(received->fd);
      continue;
    }
    std::lock_guard<std::mutex> lock(session->mu);
    session->pending_fds[received->frame.id] = received->fd;
    session->frame_arrived.notify_all();
  }
}

}  // namespace testing
}  // namespace aoti_executor
