// Fuzzes the daemon's request handling below gRPC: each Executor RPC's
// handler (ExecutorService) is called directly with a request parsed from
// the input, on a live SessionRegistry whose attach socket this target
// connects to as a client, so requests can name a real session. The
// session's side of the attach socket (SessionRegistry's reader,
// Session::AddPendingFd, RegisterRegion adopting what was sent) is driven
// too. Workers are the one thing missing: the pool's launcher refuses to
// start any, so a request that needs one fails there, after everything
// before it (session lookup, the kernel-set JSON, the cache, node lookup,
// quarantine) has run.
//
// Input: records, each a kind byte, a flags byte and a 16-bit-length chunk.
// Kind % 10 names the RPC (kRpcs) whose request the chunk is; bit 0 of the
// flags puts the session's real secret in it. Kind 9 sends an attach frame
// instead: the chunk's first 18 bytes are its type, id and size, and flags
// % 5 picks its fd (none, a sealed 4 KiB memfd, the same unsealed, a sealed
// memfd of the size the frame claims, or one sealed against writing that
// holds the rest of the chunk: a kernel set's JSON for a RegisterKernelSet
// that names it by json_attach_id).
#include <sys/socket.h>
#include <sys/un.h>

#include <map>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "grpc/grpc.h"
#include "grpcpp/server_context.h"
#include "proto/executor.pb.h"
#include "server/common/daemon_stats.h"
#include "server/framing/attach_frame.h"
#include "server/framing/fd_channel.h"
#include "server/service/executor_service.h"
#include "server/service/peer_policy.h"
#include "server/service/session_registry.h"
#include "server/workers/process_launcher.h"
#include "server/workers/worker.h"
#include "server/workers/worker_pool.h"
#include "tests/fuzz/fuzz_runfiles.h"
#include "tests/fuzz/fuzz_util.h"

namespace aoti_executor {
namespace fuzz {
namespace {

namespace v1 = aoti::executor::v1;

constexpr size_t kMaxRecords = 12;
constexpr uint8_t kAttachFrameKind = 9;

// Refuses every worker: the target runs no process.
class NoWorkers final : public ProcessLauncher {
 public:
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>&, int) override {
    return absl::UnavailableError("the fuzzer starts no worker");
  }
  absl::Status Kill(pid_t, int) override { return absl::OkStatus(); }
  absl::StatusOr<std::optional<int>> TryWait(pid_t) override { return 0; }
  absl::StatusOr<int> Wait(pid_t) override { return 0; }
};

// The daemon's objects, as server/main.cc wires them, made once.
struct Daemon {
  Daemon() {
    options.stats = &stats;
    options.launcher = &launcher;
    pool = std::make_unique<WorkerPool>(&options, /*spares=*/0);
    pool->StopStarting();  // no spare, and Take() fails at once
    registry = std::make_unique<SessionRegistry>(pool.get());
    char dir[] = "/tmp/aoti-service-fuzz-XXXXXX";
    FUZZ_CHECK(mkdtemp(dir) != nullptr);
    FUZZ_CHECK(
        registry->Start(std::string(dir) + "/attach.sock", &policy, &stats)
            .ok());
    service = std::make_unique<ExecutorService>(registry.get(), &stats,
                                                ExecutorService::Options());
  }

  DaemonStats stats;
  // The default: this process's uid, which the target connects as.
  PeerPolicy policy{{}, {}, geteuid()};
  NoWorkers launcher;
  WorkerOptions options;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<SessionRegistry> registry;
  std::unique_ptr<ExecutorService> service;
};

Daemon& TheDaemon() {
  static Daemon* daemon = new Daemon();
  return *daemon;
}

// A client's connection to the attach socket: a session while it is open.
struct Client {
  int fd = -1;
  std::string secret;
  // kClientRegion frames sent with an fd and not taken yet, by id: a
  // RegisterRegion (or a RegisterKernelSet by json_attach_id) with the real
  // secret names one of these, or it would wait seconds for a memfd that
  // never comes.
  std::map<uint64_t, int> pending;
  // Once a frame the daemon refuses is sent, the session may be closing: a
  // request could still find it, and wait.
  bool refused_frame = false;
};

Client Connect(const std::string& path) {
  Client client;
  client.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  FUZZ_CHECK(connect(client.fd, reinterpret_cast<sockaddr*>(&address),
                     sizeof(address)) == 0);
  auto welcome = ReceiveFrame(client.fd, absl::Now() + absl::Seconds(10));
  FUZZ_CHECK(welcome.ok());
  client.secret.assign(welcome->frame.secret, AttachFrame::kSecretLength);
  return client;
}

void SendAttachFrame(Client& client, uint8_t flags, absl::string_view chunk) {
  FuzzReader in(reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size());
  AttachFrame frame;
  frame.type = static_cast<AttachFrameType>(in.Int<uint16_t>());
  frame.id = in.Int<uint64_t>();
  frame.size = in.Int<uint64_t>();
  int fd = -1;
  switch (flags % 5) {
    case 1:
      fd = MakeMemfd(4096, true);
      break;
    case 2:
      fd = MakeMemfd(4096, false);
      break;
    case 3:
      fd = MakeMemfd(
          frame.size > 0 && frame.size <= (1u << 20) ? frame.size : 4096, true);
      break;
    case 4:
      fd = MakeSealedMemfdWith(in.Rest());
      break;
  }
  const absl::string_view bytes(reinterpret_cast<const char*>(&frame),
                                sizeof(frame));
  SendRaw(client.fd, bytes.data(), bytes.size(), &fd, fd >= 0 ? 1 : 0);
  if (fd >= 0) close(fd);
  if (frame.type == AttachFrameType::kClientRegion && fd >= 0) {
    ++client.pending[frame.id];
  } else {
    client.refused_frame = true;
  }
}

template <typename Request>
bool ParseRequest(absl::string_view chunk, uint8_t flags, const Client& client,
                  Request* request) {
  if (!request->ParseFromArray(chunk.data(), static_cast<int>(chunk.size()))) {
    return false;
  }
  if (flags & 1) request->set_session(client.secret);
  return true;
}

// Whether a request of `session` that takes the memfd sent as `attach_id`
// may be made: it names no real session, or a memfd this client sent (and
// takes it), or else it would wait seconds for one that never comes.
bool MayTake(Client& client, const std::string& session, uint64_t attach_id) {
  if (session != client.secret) return true;
  auto it = client.pending.find(attach_id);
  if (client.refused_frame || it == client.pending.end()) return false;
  if (--it->second == 0) client.pending.erase(it);
  return true;
}

template <typename Request, typename Response, typename Method>
void Call(ExecutorService& service, Method method, const Request& request) {
  grpc::ServerContext context;
  Response response;
  (void)(service.*method)(&context, &request, &response);
}

void Handle(Client& client, uint8_t kind, uint8_t flags,
            absl::string_view chunk) {
  ExecutorService& s = *TheDaemon().service;
  switch (kind % 10) {
    case 0: {
      v1::HelloRequest r;
      if (r.ParseFromArray(chunk.data(), static_cast<int>(chunk.size()))) {
        Call<v1::HelloRequest, v1::HelloResponse>(s, &ExecutorService::Hello,
                                                  r);
      }
      break;
    }
    case 1: {
      v1::RegisterKernelSetRequest r;
      if (ParseRequest(chunk, flags, client, &r) &&
          (r.json_attach_id() == 0 ||
           MayTake(client, r.session(), r.json_attach_id()))) {
        Call<v1::RegisterKernelSetRequest, v1::RegisterKernelSetResponse>(
            s, &ExecutorService::RegisterKernelSet, r);
      }
      break;
    }
    case 2: {
      v1::RegisterRegionRequest r;
      if (ParseRequest(chunk, flags, client, &r) &&
          MayTake(client, r.session(), r.attach_id())) {
        Call<v1::RegisterRegionRequest, v1::RegisterRegionResponse>(
            s, &ExecutorService::RegisterRegion, r);
      }
      break;
    }
    case 3: {
      v1::ReleaseRegionRequest r;
      if (ParseRequest(chunk, flags, client, &r)) {
        Call<v1::ReleaseRegionRequest, v1::ReleaseRegionResponse>(
            s, &ExecutorService::ReleaseRegion, r);
      }
      break;
    }
    case 4: {
      v1::CallRequest r;
      if (ParseRequest(chunk, flags, client, &r)) {
        Call<v1::CallRequest, v1::CallResponse>(s, &ExecutorService::Call, r);
      }
      break;
    }
    case 5: {
      v1::ReleaseOutputsRequest r;
      if (ParseRequest(chunk, flags, client, &r)) {
        Call<v1::ReleaseOutputsRequest, v1::ReleaseOutputsResponse>(
            s, &ExecutorService::ReleaseOutputs, r);
      }
      break;
    }
    case 6: {
      v1::GetStatusRequest r;
      if (r.ParseFromArray(chunk.data(), static_cast<int>(chunk.size()))) {
        Call<v1::GetStatusRequest, v1::GetStatusResponse>(
            s, &ExecutorService::GetStatus, r);
      }
      break;
    }
    case 7: {
      v1::ClearQuarantineRequest r;
      if (r.ParseFromArray(chunk.data(), static_cast<int>(chunk.size()))) {
        Call<v1::ClearQuarantineRequest, v1::ClearQuarantineResponse>(
            s, &ExecutorService::ClearQuarantine, r);
      }
      break;
    }
    case 8: {
      v1::OpenCallLaneRequest r;
      if (ParseRequest(chunk, flags, client, &r)) {
        Call<v1::OpenCallLaneRequest, v1::OpenCallLaneResponse>(
            s, &ExecutorService::OpenCallLane, r);
      }
      break;
    }
    case kAttachFrameKind:
      SendAttachFrame(client, flags, chunk);
      break;
  }
}

}  // namespace
}  // namespace fuzz
}  // namespace aoti_executor

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** argv) {
  // Held for good, as a running server holds it: otherwise each handler's
  // ServerContext would start gRPC and its threads, and shut them down.
  grpc_init();
  aoti_executor::fuzz::SetUpKernels((*argv)[0]);
  aoti_executor::fuzz::TheDaemon();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aoti_executor::fuzz;
  const int threads_before = CountOwnThreads();
  Client client = Connect(TheDaemon().registry->path());
  FuzzReader in(data, size);
  for (size_t i = 0; i < kMaxRecords && !in.empty(); ++i) {
    const uint8_t kind = in.Byte();
    const uint8_t flags = in.Byte();
    Handle(client, kind, flags, in.Chunk());
  }
  close(client.fd);  // ends the session, on its reader thread
  aoti_executor::SessionRegistry& registry = *TheDaemon().registry;
  for (int i = 0; i < 20000 && registry.size() > 0; ++i) usleep(1000);
  FUZZ_CHECK(registry.size() == 0);  // a session outlived its connection
  // Then its thread: none of this input's threads may still be exiting when
  // the leak check runs, which cannot see an exiting thread's thread_locals.
  AwaitOwnThreads(threads_before, 1000);
  return 0;
}
