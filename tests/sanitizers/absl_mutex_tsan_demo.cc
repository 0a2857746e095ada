// The check of absl_mutex_tsan.cc (absl_mutex_tsan_test.sh runs it, built with
// -fsanitize=thread, with and without the interposer preloaded):
//   absl_mutex_tsan_demo guarded  two threads share data that absl::Mutex
//       guards, handed over by every kind of wait we and gRPC use (Lock,
//       ReaderLock, TryLock, CondVar::Wait and WaitWithTimeout, Await,
//       LockWhen, Notification, absl::call_once's waiter): no race;
//   absl_mutex_tsan_demo race     the same data, one thread takes the mutex and
//       the other does not: a race.
//   absl_mutex_tsan_demo tsan     exits 0 if the binary is built with TSan.
#include <absl/base/call_once.h>
#include <absl/synchronization/mutex.h>
#include <absl/synchronization/notification.h>
#include <absl/time/time.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

extern "C" void __tsan_acquire(void* addr) __attribute__((weak));

namespace {

struct Shared {
  absl::Mutex mu;
  absl::CondVar cv;
  int counter = 0;       // guarded by mu
  std::string handed;    // written before `ready`, read after it
  bool ready = false;    // guarded by mu
  int stage = 0;         // guarded by mu
  std::string notified;  // written before `note` is notified
  absl::Notification note;
  absl::once_flag once;
  std::string once_value;  // written inside call_once, read after it
};

// Both threads call call_once; the one that comes second, while the first
// runs the function, waits in abseil's SpinLockWait.
void CallOnce(Shared& s) {
  absl::call_once(s.once, [&s] {
    absl::SleepFor(absl::Milliseconds(100));
    s.once_value = "once";
  });
  if (s.once_value != "once") std::puts("wrong call_once");
}

void Guarded() {
  Shared s;
  std::thread once_caller([&s] { CallOnce(s); });
  absl::SleepFor(absl::Milliseconds(20));
  CallOnce(s);
  once_caller.join();
  std::thread other([&s] {
    for (int i = 0; i < 1000; ++i) {
      absl::MutexLock lock(&s.mu);
      ++s.counter;
    }
    // CondVar handoff: data written outside the lock, published under it.
    s.handed = "handed over";
    {
      absl::MutexLock lock(&s.mu);
      s.ready = true;
      s.cv.Signal();
    }
    // Await / LockWhen handoff.
    {
      absl::MutexLock lock(&s.mu);
      s.mu.Await(absl::Condition(
          +[](int* stage) { return *stage == 1; }, &s.stage));
      s.handed += " twice";
      s.stage = 2;
    }
    s.notified = "notified";
    s.note.Notify();
  });
  for (int i = 0; i < 1000; ++i) {
    if (i % 2 == 0) {
      absl::MutexLock lock(&s.mu);
      ++s.counter;
    } else {
      while (!s.mu.TryLock()) {
      }
      ++s.counter;
      s.mu.Unlock();
    }
    absl::ReaderMutexLock read(&s.mu);
    if (s.counter < 0) std::puts("impossible");
  }
  {
    absl::MutexLock lock(&s.mu);
    while (!s.ready) s.cv.WaitWithTimeout(&s.mu, absl::Milliseconds(10));
    if (s.handed != "handed over") std::puts("wrong handoff");
    s.stage = 1;
  }
  s.mu.LockWhen(absl::Condition(
      +[](int* stage) { return *stage == 2; }, &s.stage));
  if (s.handed != "handed over twice") std::puts("wrong handoff");
  s.mu.Unlock();
  s.note.WaitForNotification();
  if (s.notified != "notified") std::puts("wrong notification");
  other.join();
  std::printf("counter %d\n", s.counter);
}

void Race() {
  Shared s;
  std::thread other([&s] {
    for (int i = 0; i < 1000; ++i) {
      absl::MutexLock lock(&s.mu);
      ++s.counter;
    }
  });
  for (int i = 0; i < 1000; ++i) ++s.counter;  // without the mutex
  other.join();
  std::printf("counter %d\n", s.counter);
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (std::strcmp(mode, "tsan") == 0) return __tsan_acquire != nullptr ? 0 : 1;
  if (std::strcmp(mode, "guarded") == 0) {
    Guarded();
  } else if (std::strcmp(mode, "race") == 0) {
    Race();
  } else {
    std::fprintf(stderr, "usage: %s guarded|race|tsan\n", argv[0]);
    return 2;
  }
  return 0;
}
