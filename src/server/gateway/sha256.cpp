#include "server/gateway/sha256.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace opencode_cache::server::gateway {

namespace {

// OpenSSL 3's one-shot digests look the algorithm up by name on every call: fetch it once.
struct Sha256Context {
  Sha256Context() : digest(EVP_MD_fetch(nullptr, "SHA256", nullptr)), context(EVP_MD_CTX_new()) {
    if (digest == nullptr || context == nullptr) throw std::runtime_error("OpenSSL: no SHA-256");
  }
  ~Sha256Context() {
    EVP_MD_CTX_free(context);
    EVP_MD_free(digest);
  }
  Sha256Context(const Sha256Context&) = delete;
  Sha256Context& operator=(const Sha256Context&) = delete;

  EVP_MD* digest;
  EVP_MD_CTX* context;
};

}  // namespace

std::string sha256_hex(std::string_view text) {
  thread_local Sha256Context sha256;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestInit_ex(sha256.context, sha256.digest, nullptr);
  EVP_DigestUpdate(sha256.context, text.data(), text.size());
  EVP_DigestFinal_ex(sha256.context, digest.data(), &length);
  constexpr std::string_view hex = "0123456789abcdef";
  std::string out(std::size_t{length} * 2, '\0');
  for (unsigned int i = 0; i < length; ++i) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 0x0f];
  }
  return out;
}

}  // namespace opencode_cache::server::gateway
