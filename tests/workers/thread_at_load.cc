// A library that starts a thread when it is loaded, as some op libraries do
// (a logger, a device poller): forking a process that has loaded it is
// unsafe, and the worker zygote must refuse to.
#include <chrono>
#include <thread>

namespace {

const bool started = [] {
  std::thread([] {
    while (true) std::this_thread::sleep_for(std::chrono::hours(1));
  }).detach();
  return true;
}();

}  // namespace
