#include "key_name_hash.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <stdexcept>

namespace opencode_cache::cache {
namespace {

// One keyed HMAC context per thread. Re-keying is what costs (two SHA-256 blocks and a fetch);
// a CacheService always uses the same key, so a call then only restarts the keyed state.
struct HmacContext {
  HmacContext() : mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr)), context(EVP_MAC_CTX_new(mac)) {
    if (mac == nullptr || context == nullptr) throw std::runtime_error("OpenSSL has no HMAC");
  }
  ~HmacContext() {
    EVP_MAC_CTX_free(context);
    EVP_MAC_free(mac);
  }
  HmacContext(const HmacContext&) = delete;
  HmacContext& operator=(const HmacContext&) = delete;

  bool init(std::string_view key) {
    if (keyed && key == current_key) return EVP_MAC_init(context, nullptr, 0, nullptr) == 1;
    char digest[] = "SHA256";
    const std::array<OSSL_PARAM, 2> params = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    keyed = EVP_MAC_init(context, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                         params.data()) == 1;
    current_key = key;
    return keyed;
  }

  EVP_MAC* mac;
  EVP_MAC_CTX* context;
  std::string current_key;
  bool keyed = false;
};

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view text) {
  thread_local HmacContext hmac;
  std::array<unsigned char, 32> digest{};
  std::size_t length = 0;
  if (!hmac.init(key) ||
      EVP_MAC_update(hmac.context, reinterpret_cast<const unsigned char*>(text.data()),
                     text.size()) != 1 ||
      EVP_MAC_final(hmac.context, digest.data(), &length, digest.size()) != 1) {
    throw std::runtime_error("OpenSSL could not compute an HMAC");
  }
  constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (std::size_t i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0x0f];
  }
  return out;
}

std::string derive_key_name_key(std::string_view encryption_key) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* context = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  char digest[] = "SHA256";
  std::string key(encryption_key);
  std::string info = "opencode-cache response key names v1";
  const std::array<OSSL_PARAM, 4> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key.data(), key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_END};
  std::string out(32, '\0');
  const bool derived =
      context != nullptr && EVP_KDF_derive(context, reinterpret_cast<unsigned char*>(out.data()),
                                           out.size(), params.data()) == 1;
  EVP_KDF_CTX_free(context);
  EVP_KDF_free(kdf);
  if (!derived) throw std::runtime_error("OpenSSL could not derive the key name key (HKDF)");
  return out;
}

}  // namespace opencode_cache::cache
