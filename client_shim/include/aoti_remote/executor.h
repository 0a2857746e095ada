/* libaoti_remote: runs the extern-kernel calls of an AOTInductor model in
 * aoti-executord, a separate process, instead of in-process.
 *
 * Conventions:
 * 1. Ownership. aoti_remote_executor_create makes an executor that the caller
 *    owns and frees with aoti_remote_executor_delete. Every other argument is
 *    borrowed for the duration of the call. Tensor handles are at::Tensor*,
 *    exactly as in PyTorch's AOTI C shim: output handles are assigned, never
 *    freed, and the tensors they then hold keep their shared memory alive by
 *    themselves, also after the executor is deleted or the daemon dies.
 * 2. Errors. Every function returns AOTI_TORCH_SUCCESS or AOTI_TORCH_FAILURE;
 *    nothing crosses this boundary as an exception, and nothing aborts. After
 *    a failure, aoti_remote_last_error() says why. A NULL handle or a NULL
 *    required argument is a failure, never a crash.
 * 3. Threads. One executor may be used by many threads at once, except that
 *    delete must not race any other use of the same executor. The last error
 *    is per thread: a failure in one thread never changes another's message.
 * 4. Deadlines. Nothing blocks forever. create waits at most the connect
 *    timeout (5000 ms; $AOTI_EXECUTOR_CONNECT_TIMEOUT_MS) for the daemon;
 *    each call_function at most the call timeout (30000 ms;
 *    $AOTI_EXECUTOR_CALL_TIMEOUT_MS). Both are read once, at create.
 * 5. Endpoints: "unix:/abs/path", "unix:///abs/path", "/abs/path" (a Unix
 *    socket) or "tcp:HOST:PORT". NULL or "" means $AOTI_EXECUTOR_ENDPOINT, or
 *    if that is unset or empty, "unix:/tmp/aoti-executor/executor.sock".
 * 6. A lost daemon fails the calls in flight within their deadline; once it
 *    is back, the executor opens a new session, registers the model's
 *    kernels again (7) and its shared memory as calls need it, with nothing
 *    for the host to do.
 * 7. Reconnecting. When the session ends, a thread of the executor opens a
 *    new one in the background: at once, then, while calls keep wanting
 *    one, once per backoff window: 50 ms after the first failure, doubling
 *    after each further failure up to 2 s, each window shortened at random
 *    by up to half (jitter); a success resets it. Calls never connect
 *    themselves: one that finds no session waits for the attempt under
 *    way, or for the one due when the window ends, bounded by its deadline;
 *    if the window ends after its deadline, it fails at once, naming the
 *    endpoint, the last attempt's error and when the next is due. So an
 *    outage costs at most one attempt per window however many calls
 *    arrive, a daemon that is back is reached at most 2 s after it is
 *    wanted, and a registration slower than a call's deadline still
 *    completes, for the next call. delete stops the thread.
 * 8. Local fallback, off by default: with $AOTI_EXECUTOR_LOCAL_FALLBACK=1
 *    (read at create), a call that finds no session because the daemon
 *    cannot be reached (an attempt to reach it failed: nothing listens, or
 *    it does not answer in the connect timeout) runs in this process
 *    instead, at once, with the same semantics; and create, after
 *    waiting the connect timeout for the daemon, succeeds without it if the
 *    model's kernels load here. Calls go to the daemon again as soon as a
 *    session is open. The first call run here in an outage logs one line
 *    to stderr, and the first remote call after it another. A call the
 *    daemon received and failed (an op error, a missed deadline, a crashed
 *    worker, a connection lost mid-call) is never rerun here. The
 *    trade-off: calls survive an outage, but ops run here without the
 *    daemon's isolation (a crashing op takes the host down, a hanging one
 *    has no deadline), custom ops need their library loaded in the host
 *    first, and the model's kernels are parsed again, in the host, when
 *    first needed.
 * 9. Shared allocator, off until aoti_remote_install_shared_allocator is
 *    called: from then on, every CPU tensor of at least 1 MiB that libtorch
 *    allocates in this process, the model's or not, lives in shared memory
 *    of its own (a sealed memfd, rounded up to whole pages), so that calls
 *    can later pass it to the daemon without a copy; smaller ones stay with
 *    the allocator installed before. Call it before the model is loaded and
 *    allocates its buffers, while no other thread allocates tensors: buffers
 *    allocated earlier stay private. It is idempotent. Freed regions are
 *    kept for reuse (up to 64 regions and 256 MiB in all), and each live
 *    large tensor holds one file descriptor; when none can be had, the
 *    tensor is allocated privately (one line to stderr). Tensors it made
 *    stay valid after every executor is deleted, and this library stays
 *    loaded from then on. Shared memory stays shared across fork(): a
 *    child's writes to such tensors are seen by the parent.
 */
#ifndef AOTI_REMOTE_EXECUTOR_H_
#define AOTI_REMOTE_EXECUTOR_H_

#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define AOTI_REMOTE_EXPORT __attribute__((visibility("default")))
#else
#define AOTI_REMOTE_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The types of PyTorch's AOTI C shim (torch/csrc/inductor/aoti_torch/c/
 * macros.h), declared here only if its headers have not been included, so
 * both may be used in one translation unit. An AtenTensorHandle is an
 * at::Tensor*. */
#ifndef AOTI_TORCH_SUCCESS
struct AtenTensorOpaque;
typedef struct AtenTensorOpaque* AtenTensorHandle;
struct AOTIProxyExecutorOpaque;
typedef struct AOTIProxyExecutorOpaque* AOTIProxyExecutorHandle;
typedef int32_t AOTITorchError;
#define AOTI_TORCH_SUCCESS 0
#define AOTI_TORCH_FAILURE 1
#endif /* AOTI_TORCH_SUCCESS */

/* An executor handle is a torch::aot_inductor::ProxyExecutor of the libtorch
 * this library was built against: pass it to AOTInductorModelContainerRun (and
 * AOTInductorModelContainerRunConstantFolding) as the proxy executor, and the
 * model's generated code reaches it through libtorch's own
 * aoti_torch_proxy_executor_call_function. */

/* Connects to the daemon at `endpoint` (see convention 5), reads
 * `extern_kernels_json_path` (the model's <key>.wrapper.json) and registers
 * its kernels for `device` ("cpu", "cuda", "cuda:1"; NULL means "cpu"). Fails,
 * naming the path, the endpoint or the node, if the file cannot be read, the
 * daemon cannot be reached within the connect timeout, or a node cannot be
 * resolved. With the local fallback on (convention 8), a daemon that cannot be
 * reached is no failure if the kernels load in-process. On success, *out is
 * the new executor; on failure it is set to NULL. */
AOTI_REMOTE_EXPORT AOTITorchError aoti_remote_executor_create(
    const char* endpoint, const char* extern_kernels_json_path,
    const char* device, AOTIProxyExecutorHandle* out);

/* Closes the executor's session and frees it. Output tensors it returned stay
 * valid. Fails for NULL. */
AOTI_REMOTE_EXPORT AOTITorchError
aoti_remote_executor_delete(AOTIProxyExecutorHandle executor);

/* Runs extern node `extern_node_index`, with exactly the meaning of PyTorch's
 * aoti_torch_proxy_executor_call_function: `flatten_tensor_args` holds the
 * input tensors in schema order, then one handle per output tensor, which
 * arrives undefined and leaves holding the result; `flatten_int_args` holds
 * the ints in schema order, then the specialized value of each int return.
 * Inputs the op mutates are mutated in place. On failure no output handle is
 * assigned. */
AOTI_REMOTE_EXPORT AOTITorchError aoti_remote_executor_call_function(
    AOTIProxyExecutorHandle executor, int extern_node_index, int num_ints,
    int64_t* flatten_int_args, int num_tensors,
    AtenTensorHandle* flatten_tensor_args);

/* Whether a call through `executor` made on this thread failed since this
 * thread last asked, and forgets it: AOTI_TORCH_SUCCESS if none did;
 * otherwise AOTI_TORCH_FAILURE, with the first such failure's message (node,
 * op, reason) in aoti_remote_last_error(). Code generated by PyTorch releases
 * before 2026 ignores the return value of the proxy call, so a model whose
 * extern call failed runs on and returns outputs computed without it (an
 * in-place op that failed leaves its input unchanged): a host that calls
 * AOTInductorModelContainerRun with this executor calls this before the run
 * (to forget older failures) and after it, and discards the outputs of a run
 * that had a failure. A model runs its extern calls on the thread that runs
 * it, so the answer is that run's. aoti_remote::ModelPackageLoader does this
 * itself. Fails for NULL too. */
AOTI_REMOTE_EXPORT AOTITorchError
aoti_remote_executor_take_failure(AOTIProxyExecutorHandle executor);

/* Makes this process's CPU tensors of 1 MiB or more live in shared memory
 * (convention 9). Call once, before loading the model; later calls do nothing.
 * Fails if libtorch has no CPU allocator or another allocator took its place
 * after an earlier call. */
AOTI_REMOTE_EXPORT AOTITorchError aoti_remote_install_shared_allocator(void);

/* Why this thread's last failing aoti_remote call failed ("" if none did).
 * Valid until this thread's next failing call. */
AOTI_REMOTE_EXPORT const char* aoti_remote_last_error(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* AOTI_REMOTE_EXECUTOR_H_ */
