/* libaoti_remote: runs the extern-kernel calls of an AOTInductor model in
 * aoti-executord, a separate process, instead of in-process. How it behaves
 * over time (sessions, reconnecting, fallback, deadlines): docs/client.md.
 *
 * Conventions:
 * 1. Ownership. The caller owns an executor from create until delete. Other
 *    arguments are borrowed for the call. Output handles are assigned, never
 *    freed; their tensors keep their shared memory alive by themselves, also
 *    after delete or the daemon's death.
 * 2. Errors. Every function returns AOTI_TORCH_SUCCESS or AOTI_TORCH_FAILURE;
 *    nothing throws across this boundary, nothing aborts, and a NULL handle
 *    or required argument is a failure. After a failure,
 *    aoti_remote_last_error() says why, naming node, op and endpoint.
 * 3. Threads. Any number of threads may use one executor at once, but delete
 *    must not race another use of it. aoti_remote_last_error() is per thread.
 * 4. Deadlines. Nothing blocks forever: create waits at most the connect
 *    timeout ($AOTI_EXECUTOR_CONNECT_TIMEOUT_MS, 5000), each call at most the
 *    call timeout ($AOTI_EXECUTOR_CALL_TIMEOUT_MS, 30000); read at create.
 * 5. Endpoints: "unix:/abs/path", "unix:///abs/path", "/abs/path" or
 *    "tcp:HOST:PORT"; NULL or "" means $AOTI_EXECUTOR_ENDPOINT, then
 *    "unix:/tmp/aoti-executor/executor.sock".
 * 6. Calls. call_function means what aoti_torch_proxy_executor_call_function
 *    means. PyTorch's generated code before 2026 ignores its result: call
 *    aoti_remote_executor_take_failure before and after each model run.
 * 7. A lost daemon fails the calls in flight; the executor reconnects in the
 *    background and re-registers the model, with nothing for the host to do.
 *    Meanwhile a call waits for the next attempt if its deadline allows, or
 *    fails at once.
 * 8. Local fallback, off unless $AOTI_EXECUTOR_LOCAL_FALLBACK=1: calls that
 *    cannot reach the daemon run in this process, without its isolation;
 *    a call the daemon received is never rerun here.
 * 9. Shared allocator, off until aoti_remote_install_shared_allocator: from
 *    then on every CPU tensor of 1 MiB or more in this process lives in
 *    shared memory of its own (kept across fork()), so calls pass it without
 *    a copy.
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
