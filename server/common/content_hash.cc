#include "server/common/content_hash.h"

#include <openssl/evp.h>

#include <string>

#include "absl/strings/escaping.h"

namespace aoti_executor {

std::string KernelSetContentHash(absl::string_view json,
                                 absl::string_view device) {
  const std::string device_and_nul(device);  // c_str() adds the NUL
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  EVP_DigestUpdate(context, device_and_nul.c_str(), device_and_nul.size() + 1);
  EVP_DigestUpdate(context, json.data(), json.size());
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace aoti_executor
