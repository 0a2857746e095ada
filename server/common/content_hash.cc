#include "server/common/content_hash.h"

#include <openssl/evp.h>

#include <initializer_list>
#include <string>

#include "absl/strings/escaping.h"

namespace aoti_executor {

namespace {

std::string Sha256HexOf(std::initializer_list<absl::string_view> parts) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  for (absl::string_view part : parts) {
    EVP_DigestUpdate(context, part.data(), part.size());
  }
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace

std::string KernelSetContentHash(absl::string_view json,
                                 absl::string_view device) {
  const std::string device_and_nul(device);  // c_str() adds the NUL
  return Sha256HexOf(
      {absl::string_view(device_and_nul.c_str(), device_and_nul.size() + 1),
       json});
}

std::string Sha256Hex(absl::string_view bytes) { return Sha256HexOf({bytes}); }

}  // namespace aoti_executor
