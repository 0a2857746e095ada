// Makes Debian's absl::Mutex, absl::CondVar and absl::Notification visible to
// ThreadSanitizer without rebuilding abseil (tests/sanitizers/README.md).
//
// Debian's libabsl_synchronization.so is not built with -fsanitize=thread, so
// abseil's own TSan annotations are compiled out of it: TSan never sees a lock
// or an unlock, and reports every access that a Mutex guards (ours and gRPC's,
// whose grpc_core::Mutex is an absl::Mutex) as a race. Preloaded
// (LD_PRELOAD) into a TSan-built process, this library defines the same
// exported functions under the same mangled names, so that every call (from
// our code, and the PLT calls of gRPC and of abseil itself) lands here first;
// each one tells TSan what the real function, found with dlsym(RTLD_NEXT),
// does to the mutex, as abseil's own annotations would:
//   - Lock, ReaderLock, TryLock, ReaderTryLock, the LockWhen family: lock.
//   - Unlock, ReaderUnlock: unlock.
//   - Await*, CondVar::Wait*: the real function releases and re-acquires the
//     mutex inside; modelled as an unlock when it starts and a lock when it
//     returns, in the mode the caller holds it (read from the mutex word).
//   - ~Mutex: destroy, flagged not_static as abseil's ~Mutex does: checked
//     only for a mutex created in instrumented code (below).
//   - base_internal::SpinLockWait (absl::call_once's waiter): acquires the
//     word it waited on.
//   - Notification::Notify releases, its successful waits acquire (the inline
//     HasBeenNotified() is an acquire load in instrumented code: it acquires
//     the same address).
// Between a pre- and post- annotation TSan ignores the thread's accesses, as
// with abseil's annotations: a Condition that abseil evaluates inside Lock,
// Unlock, Await or LockWhen is not checked.
//
// The real functions call each other through the PLT too (LockWhenWithTimeout
// calls LockWhenWithDeadline, Notify calls Lock, ...): only the outermost call
// of a thread is annotated.
//
// The library is built without -fsanitize=thread, by the C compiler alone
// (BUILD.bazel), and needs only libc: TSan's interface is referenced weakly,
// so in a process without TSan (a shell that inherits LD_PRELOAD) it only
// forwards; abseil is not linked, the real functions are those of the
// process's own libabsl_synchronization.so; no exceptions, no libstdc++.
#include <absl/base/internal/spinlock_wait.h>
#include <absl/base/options.h>
#include <absl/synchronization/mutex.h>
#include <absl/synchronization/notification.h>
#include <absl/time/time.h>
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#pragma weak __tsan_mutex_destroy
#pragma weak __tsan_mutex_pre_lock
#pragma weak __tsan_mutex_post_lock
#pragma weak __tsan_mutex_pre_unlock
#pragma weak __tsan_mutex_post_unlock
#pragma weak __tsan_acquire
#pragma weak __tsan_release

// The mangled names and the mutex word's layout below are those of Debian's
// abseil 20220623 (inline namespace "debian3"): another abseil build needs
// them checked again.
#define ABSL_TSAN_STRINGIZE2(x) #x
#define ABSL_TSAN_STRINGIZE(x) ABSL_TSAN_STRINGIZE2(x)
static_assert(ABSL_LTS_RELEASE_VERSION == 20220623 &&
                  std::string_view(ABSL_TSAN_STRINGIZE(
                      ABSL_OPTION_INLINE_NAMESPACE_NAME)) == "debian3",
              "the mangled names below are Debian's abseil 20220623's");
static_assert(sizeof(absl::Mutex) == sizeof(intptr_t),
              "absl::Mutex is one word in this abseil");

namespace {

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;
using absl::Time;

// absl::Mutex's state word (mutex.cc): set while a writer holds it.
constexpr intptr_t kMuWriter = 0x0008;

bool Tsan() { return &__tsan_mutex_pre_lock != nullptr; }

// Depth of this thread's calls into the annotated functions: only depth 0
// annotates. Initial-exec TLS: the library is preloaded.
__attribute__((tls_model("initial-exec"))) thread_local int depth = 0;

class Outermost {
 public:
  Outermost() : annotate_(Tsan() && depth == 0) { ++depth; }
  ~Outermost() { --depth; }
  Outermost(const Outermost&) = delete;
  Outermost& operator=(const Outermost&) = delete;
  bool annotate() const { return annotate_; }

 private:
  const bool annotate_;
};

// The real function named `kName`, looked up once.
template <typename Fn, const char* kName>
Fn Real() {
  static std::atomic<Fn> cache{nullptr};
  Fn fn = cache.load(std::memory_order_acquire);
  if (fn == nullptr) {
    fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, kName));
    if (fn == nullptr) {
      std::fprintf(stderr, "absl_mutex_tsan: %s not found: %s\n", kName,
                   dlerror());
      std::abort();
    }
    cache.store(fn, std::memory_order_release);
  }
  return fn;
}

// The lock mode the calling thread holds `mu` in.
unsigned HeldMode(const Mutex* mu) {
  const auto* word = reinterpret_cast<const std::atomic<intptr_t>*>(mu);
  return (word->load(std::memory_order_relaxed) & kMuWriter) != 0
             ? 0
             : __tsan_mutex_read_lock;
}

// The real function takes `mu` (the lambda calls it); for TryLock flavours
// its result says whether it did.
template <typename F>
auto Locked(Mutex* mu, unsigned flags, F lock) -> decltype(lock()) {
  Outermost scope;
  if (!scope.annotate()) return lock();
  __tsan_mutex_pre_lock(mu, flags);
  if constexpr (std::is_void_v<decltype(lock())>) {
    lock();
    __tsan_mutex_post_lock(mu, flags, 0);
  } else {
    auto result = lock();
    const bool taken = (flags & __tsan_mutex_try_lock) == 0 || result;
    __tsan_mutex_post_lock(
        mu, taken ? flags : flags | __tsan_mutex_try_lock_failed, 0);
    return result;
  }
}

// The real function releases `mu`.
template <typename F>
void Unlocked(Mutex* mu, unsigned flags, F unlock) {
  Outermost scope;
  if (!scope.annotate()) return unlock();
  __tsan_mutex_pre_unlock(mu, flags);
  unlock();
  __tsan_mutex_post_unlock(mu, flags);
}

// The real function releases `mu`, which the caller holds, and holds it again
// when it returns.
template <typename F>
auto Released(Mutex* mu, F wait) -> decltype(wait()) {
  Outermost scope;
  if (!scope.annotate()) return wait();
  const unsigned mode = HeldMode(mu);
  // The real function may evaluate a Condition before it releases: inside
  // the pre/post pair, as Unlock's evaluations are.
  __tsan_mutex_pre_unlock(mu, mode);
  struct Relock {
    Mutex* mu;
    unsigned mode;
    ~Relock() {
      __tsan_mutex_post_unlock(mu, mode);
      __tsan_mutex_pre_lock(mu, mode);
      __tsan_mutex_post_lock(mu, mode, 0);
    }
  } relock{mu, mode};
  return wait();
}

// Notification's flag, which the inline HasBeenNotified() loads with acquire
// (the flag follows the Notification's Mutex).
void* NotifiedFlag(const Notification* n) {
  return const_cast<char*>(reinterpret_cast<const char*>(n)) + sizeof(Mutex);
}

template <typename F>
bool Waited(const Notification* n, F wait) {
  Outermost scope;
  const bool notified = wait();
  if (scope.annotate() && notified) __tsan_acquire(NotifiedFlag(n));
  return notified;
}

}  // namespace

// Declares `fn`, C linkage, under abseil's mangled name (`this` first), and
// kfn, that name; `real<fn>()` is the real function.
#define ABSL_TSAN_DECLARE(ret, fn, mangled, ...)    \
  extern "C" __attribute__((visibility("default"))) \
  ret fn(__VA_ARGS__) __asm__(mangled);             \
  namespace {                                       \
  constexpr char k##fn[] = mangled;                 \
  using fn##Type = ret (*)(__VA_ARGS__);            \
  }
#define ABSL_TSAN_REAL(fn) Real<fn##Type, k##fn>()

ABSL_TSAN_DECLARE(void, MutexLock, "_ZN4absl7debian35Mutex4LockEv", Mutex*)
ABSL_TSAN_DECLARE(void, MutexReaderLock, "_ZN4absl7debian35Mutex10ReaderLockEv",
                  Mutex*)
ABSL_TSAN_DECLARE(bool, MutexTryLock, "_ZN4absl7debian35Mutex7TryLockEv",
                  Mutex*)
ABSL_TSAN_DECLARE(bool, MutexReaderTryLock,
                  "_ZN4absl7debian35Mutex13ReaderTryLockEv", Mutex*)
ABSL_TSAN_DECLARE(void, MutexUnlock, "_ZN4absl7debian35Mutex6UnlockEv", Mutex*)
ABSL_TSAN_DECLARE(void, MutexReaderUnlock,
                  "_ZN4absl7debian35Mutex12ReaderUnlockEv", Mutex*)
ABSL_TSAN_DECLARE(void, MutexDtorD1, "_ZN4absl7debian35MutexD1Ev", Mutex*)
ABSL_TSAN_DECLARE(void, MutexDtorD2, "_ZN4absl7debian35MutexD2Ev", Mutex*)
ABSL_TSAN_DECLARE(void, MutexLockWhen,
                  "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE", Mutex*,
                  const Condition&)
ABSL_TSAN_DECLARE(void, MutexReaderLockWhen,
                  "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE",
                  Mutex*, const Condition&)
ABSL_TSAN_DECLARE(bool, MutexLockWhenWithTimeout,
                  "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_"
                  "9ConditionENS0_8DurationE",
                  Mutex*, const Condition&, Duration)
ABSL_TSAN_DECLARE(bool, MutexLockWhenWithDeadline,
                  "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_"
                  "9ConditionENS0_4TimeE",
                  Mutex*, const Condition&, Time)
ABSL_TSAN_DECLARE(bool, MutexReaderLockWhenWithTimeout,
                  "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_"
                  "9ConditionENS0_8DurationE",
                  Mutex*, const Condition&, Duration)
ABSL_TSAN_DECLARE(bool, MutexReaderLockWhenWithDeadline,
                  "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_"
                  "9ConditionENS0_4TimeE",
                  Mutex*, const Condition&, Time)
ABSL_TSAN_DECLARE(void, MutexAwait,
                  "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE", Mutex*,
                  const Condition&)
ABSL_TSAN_DECLARE(bool, MutexAwaitWithTimeout,
                  "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_"
                  "9ConditionENS0_8DurationE",
                  Mutex*, const Condition&, Duration)
ABSL_TSAN_DECLARE(bool, MutexAwaitWithDeadline,
                  "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_"
                  "9ConditionENS0_4TimeE",
                  Mutex*, const Condition&, Time)
ABSL_TSAN_DECLARE(void, CondVarWait,
                  "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE", CondVar*,
                  Mutex*)
ABSL_TSAN_DECLARE(bool, CondVarWaitWithTimeout,
                  "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_"
                  "8DurationE",
                  CondVar*, Mutex*, Duration)
ABSL_TSAN_DECLARE(bool, CondVarWaitWithDeadline,
                  "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_"
                  "4TimeE",
                  CondVar*, Mutex*, Time)
ABSL_TSAN_DECLARE(void, NotificationNotify,
                  "_ZN4absl7debian312Notification6NotifyEv", Notification*)
ABSL_TSAN_DECLARE(void, NotificationWait,
                  "_ZNK4absl7debian312Notification19WaitForNotificationEv",
                  const Notification*)
ABSL_TSAN_DECLARE(bool, NotificationWaitWithTimeout,
                  "_ZNK4absl7debian312Notification30WaitForNotificationWith"
                  "TimeoutENS0_8DurationE",
                  const Notification*, Duration)
ABSL_TSAN_DECLARE(bool, NotificationWaitWithDeadline,
                  "_ZNK4absl7debian312Notification31WaitForNotificationWith"
                  "DeadlineENS0_4TimeE",
                  const Notification*, Time)

ABSL_TSAN_DECLARE(uint32_t, SpinLockWait,
                  "_ZN4absl7debian313base_internal12SpinLockWaitEPSt6atomicIjEi"
                  "PKNS1_22SpinLockWaitTransitionENS1_14SchedulingModeE",
                  std::atomic<uint32_t>*, int,
                  const absl::base_internal::SpinLockWaitTransition*,
                  absl::base_internal::SchedulingMode)

constexpr unsigned kRead = __tsan_mutex_read_lock;
constexpr unsigned kTry = __tsan_mutex_try_lock;

void MutexLock(Mutex* mu) {
  Locked(mu, 0, [&] { ABSL_TSAN_REAL(MutexLock)(mu); });
}
void MutexReaderLock(Mutex* mu) {
  Locked(mu, kRead, [&] { ABSL_TSAN_REAL(MutexReaderLock)(mu); });
}
bool MutexTryLock(Mutex* mu) {
  return Locked(mu, kTry, [&] { return ABSL_TSAN_REAL(MutexTryLock)(mu); });
}
bool MutexReaderTryLock(Mutex* mu) {
  return Locked(mu, kRead | kTry,
                [&] { return ABSL_TSAN_REAL(MutexReaderTryLock)(mu); });
}
void MutexUnlock(Mutex* mu) {
  Unlocked(mu, 0, [&] { ABSL_TSAN_REAL(MutexUnlock)(mu); });
}
void MutexReaderUnlock(Mutex* mu) {
  Unlocked(mu, kRead, [&] { ABSL_TSAN_REAL(MutexReaderUnlock)(mu); });
}
// not_static, as abseil's own ~Mutex annotates: TSan checks the destruction
// (a write to the mutex) only of a mutex whose creation it saw with that flag,
// i.e. one constructed in instrumented code by the inline Mutex(). A mutex
// that uninstrumented gRPC constructed, used and destroys is gRPC's alone, and
// the ordering before its destruction is gRPC's, which TSan cannot see.
void MutexDtorD1(Mutex* mu) {
  if (Tsan() && depth == 0) __tsan_mutex_destroy(mu, __tsan_mutex_not_static);
  ABSL_TSAN_REAL(MutexDtorD1)(mu);
}
void MutexDtorD2(Mutex* mu) {
  if (Tsan() && depth == 0) __tsan_mutex_destroy(mu, __tsan_mutex_not_static);
  ABSL_TSAN_REAL(MutexDtorD2)(mu);
}
void MutexLockWhen(Mutex* mu, const Condition& cond) {
  Locked(mu, 0, [&] { ABSL_TSAN_REAL(MutexLockWhen)(mu, cond); });
}
void MutexReaderLockWhen(Mutex* mu, const Condition& cond) {
  Locked(mu, kRead, [&] { ABSL_TSAN_REAL(MutexReaderLockWhen)(mu, cond); });
}
bool MutexLockWhenWithTimeout(Mutex* mu, const Condition& cond, Duration t) {
  return Locked(mu, 0, [&] {
    return ABSL_TSAN_REAL(MutexLockWhenWithTimeout)(mu, cond, t);
  });
}
bool MutexLockWhenWithDeadline(Mutex* mu, const Condition& cond, Time t) {
  return Locked(mu, 0, [&] {
    return ABSL_TSAN_REAL(MutexLockWhenWithDeadline)(mu, cond, t);
  });
}
bool MutexReaderLockWhenWithTimeout(Mutex* mu, const Condition& cond,
                                    Duration t) {
  return Locked(mu, kRead, [&] {
    return ABSL_TSAN_REAL(MutexReaderLockWhenWithTimeout)(mu, cond, t);
  });
}
bool MutexReaderLockWhenWithDeadline(Mutex* mu, const Condition& cond, Time t) {
  return Locked(mu, kRead, [&] {
    return ABSL_TSAN_REAL(MutexReaderLockWhenWithDeadline)(mu, cond, t);
  });
}
void MutexAwait(Mutex* mu, const Condition& cond) {
  Released(mu, [&] { ABSL_TSAN_REAL(MutexAwait)(mu, cond); });
}
bool MutexAwaitWithTimeout(Mutex* mu, const Condition& cond, Duration t) {
  return Released(
      mu, [&] { return ABSL_TSAN_REAL(MutexAwaitWithTimeout)(mu, cond, t); });
}
bool MutexAwaitWithDeadline(Mutex* mu, const Condition& cond, Time t) {
  return Released(
      mu, [&] { return ABSL_TSAN_REAL(MutexAwaitWithDeadline)(mu, cond, t); });
}
void CondVarWait(CondVar* cv, Mutex* mu) {
  Released(mu, [&] { ABSL_TSAN_REAL(CondVarWait)(cv, mu); });
}
bool CondVarWaitWithTimeout(CondVar* cv, Mutex* mu, Duration t) {
  return Released(
      mu, [&] { return ABSL_TSAN_REAL(CondVarWaitWithTimeout)(cv, mu, t); });
}
bool CondVarWaitWithDeadline(CondVar* cv, Mutex* mu, Time t) {
  return Released(
      mu, [&] { return ABSL_TSAN_REAL(CondVarWaitWithDeadline)(cv, mu, t); });
}
// absl::call_once's waiter (inline in our code) and SpinLock's slow path:
// the real function returns after an acquire load of *w sees what another
// thread stored there with release (call_once's kOnceDone, an instrumented
// atomic in our code). TSan does not see that load: acquire *w.
uint32_t SpinLockWait(std::atomic<uint32_t>* w, int n,
                      const absl::base_internal::SpinLockWaitTransition* trans,
                      absl::base_internal::SchedulingMode mode) {
  Outermost scope;
  const uint32_t v = ABSL_TSAN_REAL(SpinLockWait)(w, n, trans, mode);
  if (scope.annotate()) __tsan_acquire(w);
  return v;
}
void NotificationNotify(Notification* n) {
  Outermost scope;
  if (scope.annotate()) __tsan_release(NotifiedFlag(n));
  ABSL_TSAN_REAL(NotificationNotify)(n);
}
void NotificationWait(const Notification* n) {
  Waited(n, [&] {
    ABSL_TSAN_REAL(NotificationWait)(n);
    return true;
  });
}
bool NotificationWaitWithTimeout(const Notification* n, Duration t) {
  return Waited(
      n, [&] { return ABSL_TSAN_REAL(NotificationWaitWithTimeout)(n, t); });
}
bool NotificationWaitWithDeadline(const Notification* n, Time t) {
  return Waited(
      n, [&] { return ABSL_TSAN_REAL(NotificationWaitWithDeadline)(n, t); });
}
