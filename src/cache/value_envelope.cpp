#include "value_envelope.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <stdexcept>

namespace opencode_cache::cache {
namespace {

constexpr std::size_t fixed_header_size = 6;  // magic, version, key id length

bool is_id_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

const unsigned char* bytes(std::string_view text) noexcept {
  return reinterpret_cast<const unsigned char*>(text.data());
}

unsigned char* bytes(std::string& text) noexcept {
  return reinterpret_cast<unsigned char*>(text.data());
}

int checked_length(std::size_t size) {
  if (size > static_cast<std::size_t>(INT_MAX)) {
    throw std::length_error("a value to seal must be shorter than 2 GiB");
  }
  return static_cast<int>(size);
}

std::size_t header_size(std::size_t id_size) noexcept {
  return fixed_header_size + id_size + ValueEnvelope::nonce_size + ValueEnvelope::tag_size;
}

}  // namespace

// Contexts keyed once: each seal or open then only sets a nonce, not a key schedule.
struct ValueEnvelope::Key {
  explicit Key(const EncryptionKey& key) : id(key.id) {
    if (sealer == nullptr || opener == nullptr ||
        EVP_EncryptInit_ex2(sealer, EVP_aes_256_gcm(), bytes(key.bytes), nullptr, nullptr) != 1 ||
        EVP_DecryptInit_ex2(opener, EVP_aes_256_gcm(), bytes(key.bytes), nullptr, nullptr) != 1) {
      EVP_CIPHER_CTX_free(sealer);
      EVP_CIPHER_CTX_free(opener);
      throw std::runtime_error("OpenSSL could not set up AES-256-GCM");
    }
  }
  ~Key() {
    EVP_CIPHER_CTX_free(sealer);
    EVP_CIPHER_CTX_free(opener);
  }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  std::string id;
  EVP_CIPHER_CTX* sealer = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* opener = EVP_CIPHER_CTX_new();
};

std::string_view describe(OpenError error) noexcept {
  switch (error) {
    case OpenError::not_an_envelope: return "not sealed";
    case OpenError::unsupported_version: return "sealed in an unknown format version";
    case OpenError::truncated: return "cut short";
    case OpenError::unknown_key_id: return "sealed under a key that is not configured";
    case OpenError::authentication_failed:
      return "does not authenticate (tampered with, or stored under another key name)";
  }
  return "does not open";
}

void check_key_id(std::string_view id) {
  bool valid = !id.empty() && id.size() <= ValueEnvelope::max_key_id_size;
  for (char c : id) valid = valid && is_id_char(c);
  if (!valid) {
    throw std::invalid_argument("an encryption key id must be 1 to 32 of [A-Za-z0-9._-], got '" +
                                std::string(id) + "'");
  }
}

ValueEnvelope::ValueEnvelope(const std::vector<EncryptionKey>& keys) {
  if (keys.empty()) throw std::invalid_argument("encryption needs at least one key");
  for (const EncryptionKey& key : keys) {
    check_key_id(key.id);
    if (key.bytes.size() != key_size) {
      throw std::invalid_argument("encryption key '" + key.id + "' must be 32 bytes, it has " +
                                  std::to_string(key.bytes.size()));
    }
    for (const auto& known : keys_) {
      if (known->id == key.id) {
        throw std::invalid_argument("two encryption keys have the id '" + key.id + "'");
      }
    }
    keys_.push_back(std::make_unique<Key>(key));
  }
}

ValueEnvelope::~ValueEnvelope() = default;

std::string ValueEnvelope::seal(std::string_view plaintext, std::string_view key_name) {
  Key& key = *keys_.front();
  const std::size_t header = header_size(key.id.size());
  const int plaintext_length = checked_length(plaintext.size());
  std::string out(header + plaintext.size(), '\0');
  out.replace(0, magic.size(), magic);
  out[4] = static_cast<char>(version);
  out[5] = static_cast<char>(key.id.size());
  out.replace(fixed_header_size, key.id.size(), key.id);
  unsigned char* nonce = bytes(out) + fixed_header_size + key.id.size();
  unsigned char* tag = nonce + nonce_size;
  const int aad_length = static_cast<int>(fixed_header_size + key.id.size());
  int written = 0;
  const bool sealed =
      RAND_bytes(nonce, static_cast<int>(nonce_size)) == 1 &&
      EVP_EncryptInit_ex2(key.sealer, nullptr, nullptr, nonce, nullptr) == 1 &&
      EVP_EncryptUpdate(key.sealer, nullptr, &written, bytes(out), aad_length) == 1 &&
      EVP_EncryptUpdate(key.sealer, nullptr, &written, bytes(key_name),
                        checked_length(key_name.size())) == 1 &&
      (plaintext.empty() || EVP_EncryptUpdate(key.sealer, bytes(out) + header, &written,
                                              bytes(plaintext), plaintext_length) == 1) &&
      EVP_EncryptFinal_ex(key.sealer, bytes(out) + header, &written) == 1 &&
      EVP_CIPHER_CTX_ctrl(key.sealer, EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size), tag) == 1;
  if (!sealed) throw std::runtime_error("OpenSSL could not seal a value");
  return out;
}

std::optional<std::string_view> ValueEnvelope::key_id_of(std::string_view envelope) noexcept {
  if (envelope.size() < fixed_header_size || !envelope.starts_with(magic)) return std::nullopt;
  const auto id_size = static_cast<unsigned char>(envelope[5]);
  if (envelope.size() < header_size(id_size)) return std::nullopt;
  return envelope.substr(fixed_header_size, id_size);
}

Opened ValueEnvelope::open(std::string_view envelope, std::string_view key_name) {
  Opened result;
  if (envelope.size() < magic.size() || !envelope.starts_with(magic)) {
    result.error =
        envelope.size() < magic.size() && magic.starts_with(envelope) && !envelope.empty()
            ? OpenError::truncated
            : OpenError::not_an_envelope;
    return result;
  }
  if (envelope.size() < fixed_header_size) {
    result.error = OpenError::truncated;
    return result;
  }
  if (static_cast<unsigned char>(envelope[4]) != version) {
    result.error = OpenError::unsupported_version;
    return result;
  }
  const auto id = key_id_of(envelope);
  if (!id) {
    result.error = OpenError::truncated;
    return result;
  }
  Key* key = nullptr;
  for (const auto& candidate : keys_) {
    if (candidate->id == *id) key = candidate.get();
  }
  if (key == nullptr) {
    result.error = OpenError::unknown_key_id;
    return result;
  }
  const std::size_t header = header_size(id->size());
  const unsigned char* nonce = bytes(envelope) + fixed_header_size + id->size();
  std::string tag(envelope.substr(fixed_header_size + id->size() + nonce_size, tag_size));
  const std::string_view ciphertext = envelope.substr(header);
  std::string plaintext(ciphertext.size(), '\0');
  int written = 0;
  const bool opened =
      EVP_DecryptInit_ex2(key->opener, nullptr, nullptr, nonce, nullptr) == 1 &&
      EVP_DecryptUpdate(key->opener, nullptr, &written, bytes(envelope),
                        static_cast<int>(fixed_header_size + id->size())) == 1 &&
      EVP_DecryptUpdate(key->opener, nullptr, &written, bytes(key_name),
                        checked_length(key_name.size())) == 1 &&
      (ciphertext.empty() ||
       EVP_DecryptUpdate(key->opener, bytes(plaintext), &written, bytes(ciphertext),
                         checked_length(ciphertext.size())) == 1) &&
      EVP_CIPHER_CTX_ctrl(key->opener, EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_size),
                          tag.data()) == 1 &&
      EVP_DecryptFinal_ex(key->opener, bytes(plaintext) + plaintext.size(), &written) == 1;
  if (!opened) {
    result.error = OpenError::authentication_failed;
    return result;
  }
  result.plaintext = std::move(plaintext);
  return result;
}

}  // namespace opencode_cache::cache
