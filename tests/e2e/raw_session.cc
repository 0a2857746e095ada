#include "tests/e2e/raw_session.h"

#include <ATen/ATen.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/framing/attach_frame.h"
#include "server/framing/fd_channel.h"
#include "server/kernels/serialized_enums.h"

namespace aoti_executor {
namespace e2e {

std::unique_ptr<v1::Executor::Stub> NewStub(const std::string& endpoint) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  // Each stub its own connection, so that dropping it closes the daemon's fd.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return v1::Executor::NewStub(grpc::CreateCustomChannel(
      endpoint, grpc::InsecureChannelCredentials(), args));
}

absl::StatusOr<v1::GetStatusResponse> DaemonStatus(
    const std::string& endpoint) {
  return DaemonStatus(*NewStub(endpoint));
}

absl::StatusOr<v1::GetStatusResponse> DaemonStatus(v1::Executor::Stub& stub) {
  auto context = RawSession::Context(absl::Seconds(5));
  v1::GetStatusResponse response;
  grpc::Status status =
      stub.GetStatus(context.get(), v1::GetStatusRequest(), &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return response;
}

int OpenFdCount(pid_t pid) {
  std::error_code error;
  std::filesystem::directory_iterator it(absl::StrCat("/proc/", pid, "/fd"),
                                         error);
  if (error) return -1;
  int count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return -1;
    ++count;
  }
  return count;
}

int SettledFdCount(pid_t pid) {
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  int count = OpenFdCount(pid);
  int unchanged = 0;
  while (unchanged < 4 && absl::Now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int now = OpenFdCount(pid);
    unchanged = now == count ? unchanged + 1 : 0;
    count = now;
  }
  return count;
}

std::set<std::string> DevShmNames() {
  std::set<std::string> names;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator("/dev/shm", error)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > give_up) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::unique_ptr<grpc::ClientContext> RawSession::Context(
    absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

absl::StatusOr<std::unique_ptr<RawSession>> RawSession::Open(
    const std::string& endpoint) {
  std::unique_ptr<RawSession> session(new RawSession());
  session->stub_ = NewStub(endpoint);
  {
    auto context = Context();
    context->set_wait_for_ready(true);
    v1::HelloRequest request;
    request.set_protocol_version(1);
    v1::HelloResponse response;
    grpc::Status status =
        session->stub_->Hello(context.get(), request, &response);
    if (!status.ok()) {
      return absl::UnavailableError(
          absl::StrCat("Hello: ", status.error_message()));
    }
    session->attach_path_ = response.attach_socket_path();
  }
  session->attach_fd_.reset(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!session->attach_fd_.valid()) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, session->attach_path_.c_str(),
               sizeof(address.sun_path) - 1);
  if (connect(session->attach_fd_.get(), reinterpret_cast<sockaddr*>(&address),
              sizeof(address)) != 0) {
    return absl::ErrnoToStatus(errno, "connect " + session->attach_path_);
  }
  absl::StatusOr<ReceivedFrame> welcome =
      ReceiveFrame(session->attach_fd_.get(), absl::Now() + absl::Seconds(10));
  if (!welcome.ok()) return welcome.status();
  if (welcome->frame.type != AttachFrameType::kWelcome) {
    return absl::InternalError("the first attach frame is not kWelcome");
  }
  session->secret_.assign(welcome->frame.secret, AttachFrame::kSecretLength);
  return session;
}

absl::Status RawSession::SendRegionFd(uint64_t attach_id, int fd,
                                      uint64_t size) {
  AttachFrame frame;
  frame.type = AttachFrameType::kClientRegion;
  frame.id = attach_id;
  frame.size = size;
  return SendFrame(attach_fd_.get(), frame, fd);
}

grpc::Status RawSession::RegisterRegion(uint64_t attach_id,
                                        v1::RegisterRegionResponse* response,
                                        absl::Duration timeout) {
  auto context = Context(timeout);
  v1::RegisterRegionRequest request;
  request.set_session(secret_);
  request.set_attach_id(attach_id);
  return stub_->RegisterRegion(context.get(), request, response);
}

absl::StatusOr<uint64_t> RawSession::AddRegion(uint64_t size) {
  absl::StatusOr<SharedRegion> region =
      SharedRegion::Create("raw-session", size);
  if (!region.ok()) return region.status();
  const uint64_t attach_id = NextAttachId();
  if (absl::Status sent = SendRegionFd(attach_id, region->fd(), size);
      !sent.ok()) {
    return sent;
  }
  v1::RegisterRegionResponse response;
  grpc::Status status = RegisterRegion(attach_id, &response);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("RegisterRegion: ", status.error_message()));
  }
  regions_[response.region_id()] =
      std::make_unique<SharedRegion>(*std::move(region));
  return response.region_id();
}

absl::StatusOr<uint64_t> RawSession::RegisterKernelSet(
    const std::string& json_path) {
  absl::StatusOr<v1::RegisterKernelSetResponse> response =
      Register(json_path, /*open_call_lane=*/false);
  if (!response.ok()) return response.status();
  return response->kernel_set_id();
}

absl::StatusOr<v1::RegisterKernelSetResponse> RawSession::Register(
    const std::string& json_path, bool open_call_lane) {
  std::ifstream file(json_path);
  if (!file) return absl::NotFoundError("cannot open " + json_path);
  std::stringstream json;
  json << file.rdbuf();
  auto context = Context();
  v1::RegisterKernelSetRequest request;
  request.set_session(secret_);
  request.set_extern_kernels_json(json.str());
  request.set_device("cpu");
  request.set_open_call_lane(open_call_lane);
  v1::RegisterKernelSetResponse response;
  grpc::Status status =
      stub_->RegisterKernelSet(context.get(), request, &response);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("RegisterKernelSet: ", status.error_message()));
  }
  return response;
}

grpc::Status RawSession::Call(v1::CallRequest request,
                              v1::CallResponse* response, bool keep_session) {
  if (!keep_session) request.set_session(secret_);
  auto context = Context();
  return stub_->Call(context.get(), request, response);
}

absl::StatusOr<at::Tensor> RawSession::ReadOutput(const v1::TensorRef& ref) {
  while (output_regions_.count(ref.region_id()) == 0) {
    absl::StatusOr<ReceivedFrame> received =
        ReceiveFrame(attach_fd_.get(), absl::Now() + absl::Seconds(10));
    if (!received.ok()) return received.status();
    if (received->frame.type != AttachFrameType::kOutputRegion) {
      return absl::InternalError("expected a kOutputRegion frame");
    }
    absl::StatusOr<SharedRegion> region =
        SharedRegion::Adopt(std::move(received->fd), received->frame.size);
    if (!region.ok()) return region.status();
    output_regions_[received->frame.id] =
        std::make_shared<SharedRegion>(*std::move(region));
  }
  absl::StatusOr<c10::ScalarType> dtype = ScalarTypeFromSerialized(ref.dtype());
  if (!dtype.ok()) return dtype.status();
  const SharedRegion& region = *output_regions_.at(ref.region_id());
  if (ref.offset() > region.size() ||
      ref.byte_size() > region.size() - ref.offset()) {
    return absl::OutOfRangeError("output outside its region");
  }
  std::vector<int64_t> sizes(ref.sizes().begin(), ref.sizes().end());
  std::vector<int64_t> strides(ref.strides().begin(), ref.strides().end());
  return at::from_blob(region.data() + ref.offset(), sizes, strides,
                       at::TensorOptions().dtype(*dtype))
      .clone();
}

absl::StatusOr<CallLane> RawSession::OpenLane() {
  v1::OpenCallLaneRequest request;
  request.set_session(secret_);
  v1::OpenCallLaneResponse response;
  const grpc::Status status =
      stub_->OpenCallLane(Context().get(), request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return TakeLane(response.lane_id());
}

absl::StatusOr<CallLane> RawSession::TakeLane(uint64_t lane_id) {
  while (true) {
    absl::StatusOr<ReceivedFrame> received =
        ReceiveFrame(attach_fd_.get(), absl::Now() + absl::Seconds(10));
    if (!received.ok()) return received.status();
    if (!received->fd.valid()) {
      return absl::InternalError("a frame without an fd");
    }
    absl::StatusOr<SharedRegion> region =
        SharedRegion::Adopt(std::move(received->fd), received->frame.size);
    if (!region.ok()) return region.status();
    auto mapped = std::make_shared<SharedRegion>(*std::move(region));
    if (received->frame.type == AttachFrameType::kOutputRegion) {
      output_regions_[received->frame.id] = std::move(mapped);
      continue;
    }
    if (received->frame.type != AttachFrameType::kCallLane ||
        received->frame.id != lane_id) {
      return absl::InternalError("expected the kCallLane frame");
    }
    return CallLane::Over(std::move(mapped));
  }
}

v1::TensorRef PlaceTensor(const at::Tensor& tensor, SharedRegion& region,
                          uint64_t region_id, uint64_t offset) {
  const at::Tensor contiguous = tensor.contiguous();
  const uint64_t bytes = contiguous.numel() * contiguous.element_size();
  std::memcpy(region.data() + offset, contiguous.data_ptr(), bytes);
  v1::TensorRef ref;
  ref.set_region_id(region_id);
  ref.set_offset(offset);
  ref.set_byte_size(bytes);
  ref.set_dtype(
      static_cast<int32_t>(*SerializedFromScalarType(tensor.scalar_type())));
  for (int64_t size : contiguous.sizes()) ref.add_sizes(size);
  for (int64_t stride : contiguous.strides()) ref.add_strides(stride);
  ref.set_device("cpu");
  return ref;
}

}  // namespace e2e
}  // namespace aoti_executor
