#include "client_shim/session/daemon_channels.h"

#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "server/common/protocol.h"
#include "server/common/transport_security.h"

namespace aoti_executor {
namespace client {
namespace {

// Two endpoints share a channel only if everything that makes one does.
std::string KeyOf(const Endpoint& endpoint) {
  const ClientTls& tls = endpoint.tls;
  return absl::StrJoin(
      {endpoint.ToString(), std::string(tls.insecure ? "insecure" : "tls"),
       tls.root_certs, tls.cert_chain, tls.private_key, tls.server_name},
      absl::string_view("\0", 1));
}

// Connected, connecting, or idle (it connects at its first RPC, at once).
// A channel in TRANSIENT_FAILURE would first wait out its backoff.
bool Usable(grpc::Channel& channel) {
  const grpc_connectivity_state state =
      channel.GetState(/*try_to_connect=*/false);
  return state == GRPC_CHANNEL_READY || state == GRPC_CHANNEL_CONNECTING ||
         state == GRPC_CHANNEL_IDLE;
}

// No HTTP proxy, the protocol's message limits, TLS per the endpoint.
std::shared_ptr<grpc::Channel> NewDaemonChannel(const Endpoint& endpoint) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // An inference server's http_proxy must not reroute a local daemon.
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  // Its own subchannel: no reconnect backoff left from a dead channel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // TLS over TCP unless the endpoint says plain (transport_security.h).
  return CreateChannelTo(endpoint, args);
}

}  // namespace

DaemonChannels& DaemonChannels::Process() {
  static DaemonChannels* const channels = new DaemonChannels();
  return *channels;
}

DaemonChannels::Channel DaemonChannels::Get(const Endpoint& endpoint) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<grpc::Channel>& kept = Kept(endpoint);
  if (kept != nullptr && Usable(*kept)) return {kept, /*reused=*/true};
  kept = NewDaemonChannel(endpoint);
  return {kept, /*reused=*/false};
}

std::shared_ptr<grpc::Channel> DaemonChannels::Renew(
    const Endpoint& endpoint, const std::shared_ptr<grpc::Channel>& stale) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<grpc::Channel>& kept = Kept(endpoint);
  if (kept == nullptr || kept == stale) kept = NewDaemonChannel(endpoint);
  return kept;
}

std::shared_ptr<grpc::Channel>& DaemonChannels::Kept(const Endpoint& endpoint) {
  if (const pid_t pid = getpid(); owner_ != pid) {
    if (!channels_.empty()) {
      // Never destroyed: that would reach into gRPC state that belongs to
      // the parent. Kept where a leak checker sees them, so that a host
      // tested under LeakSanitizer is told of no leak of ours.
      static auto* const inherited = new std::vector<decltype(channels_)>();
      inherited->push_back(std::move(channels_));
    }
    channels_.clear();
    owner_ = pid;
  }
  return channels_[KeyOf(endpoint)];
}

}  // namespace client
}  // namespace aoti_executor
