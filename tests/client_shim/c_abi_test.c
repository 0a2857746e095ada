/* Proves include/aoti_remote/executor.h is valid C (built with -std=c11 -Wall
 * -Werror) and that libaoti_remote.so exports every function it declares,
 * and checks the failures that need no daemon. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "aoti_remote/executor.h"

static int failures = 0;

#define CHECK(condition)                                                 \
  do {                                                                   \
    if (!(condition)) {                                                  \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: \"%s\")\n",  \
              __FILE__, __LINE__, #condition, aoti_remote_last_error()); \
      ++failures;                                                        \
    }                                                                    \
  } while (0)

int main(void) {
  /* Every symbol of the header, by address. */
  AOTITorchError (*create_fn)(const char*, const char*, const char*,
                              AOTIProxyExecutorHandle*) =
      aoti_remote_executor_create;
  AOTITorchError (*delete_fn)(AOTIProxyExecutorHandle) =
      aoti_remote_executor_delete;
  AOTITorchError (*call_fn)(AOTIProxyExecutorHandle, int, int, int64_t*, int,
                            AtenTensorHandle*) =
      aoti_remote_executor_call_function;
  AOTITorchError (*take_failure_fn)(AOTIProxyExecutorHandle) =
      aoti_remote_executor_take_failure;
  const char* (*last_error_fn)(void) = aoti_remote_last_error;
  AOTITorchError (*install_fn)(void) = aoti_remote_install_shared_allocator;
  CHECK(create_fn != NULL && delete_fn != NULL && call_fn != NULL &&
        take_failure_fn != NULL && last_error_fn != NULL && install_fn != NULL);

  CHECK(AOTI_TORCH_SUCCESS == 0);
  CHECK(AOTI_TORCH_FAILURE == 1);
  CHECK(sizeof(AOTITorchError) == sizeof(int32_t));
  CHECK(strcmp(aoti_remote_last_error(), "") == 0);

  CHECK(aoti_remote_executor_delete(NULL) == AOTI_TORCH_FAILURE);
  CHECK(strstr(aoti_remote_last_error(), "NULL") != NULL);

  int64_t ints[2] = {1, 2};
  AtenTensorHandle tensors[1] = {NULL};
  CHECK(aoti_remote_executor_call_function(NULL, 0, 2, ints, 1, tensors) ==
        AOTI_TORCH_FAILURE);
  CHECK(strstr(aoti_remote_last_error(), "executor is NULL") != NULL);
  CHECK(aoti_remote_executor_take_failure(NULL) == AOTI_TORCH_FAILURE);
  CHECK(strstr(aoti_remote_last_error(), "executor is NULL") != NULL);

  CHECK(aoti_remote_executor_create(NULL, "/x.json", NULL, NULL) ==
        AOTI_TORCH_FAILURE);
  CHECK(strstr(aoti_remote_last_error(), "out is NULL") != NULL);

  AOTIProxyExecutorHandle executor = (AOTIProxyExecutorHandle)&failures;
  const char* missing = "/nonexistent-aoti-remote/model.wrapper.json";
  CHECK(aoti_remote_executor_create("unix:/nonexistent-aoti-remote/x.sock",
                                    missing, "cpu",
                                    &executor) == AOTI_TORCH_FAILURE);
  CHECK(executor == NULL);
  CHECK(strstr(aoti_remote_last_error(), missing) != NULL);

  CHECK(aoti_remote_executor_create("ftp://nowhere", missing, "cpu",
                                    &executor) == AOTI_TORCH_FAILURE);
  CHECK(strstr(aoti_remote_last_error(), "ftp://nowhere") != NULL);

  /* Needs no daemon; idempotent. */
  CHECK(aoti_remote_install_shared_allocator() == AOTI_TORCH_SUCCESS);
  CHECK(aoti_remote_install_shared_allocator() == AOTI_TORCH_SUCCESS);

  if (failures == 0) printf("c_abi_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
