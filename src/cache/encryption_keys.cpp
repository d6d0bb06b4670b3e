#include "encryption_keys.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "value_envelope.hpp"

namespace opencode_cache::cache {
namespace {

constexpr std::string_view keys_variable = "CACHE_ENCRYPTION_KEYS";

[[noreturn]] void invalid(std::string_view variable, std::string_view why) {
  throw std::invalid_argument(std::string(variable) + ": " + std::string(why));
}

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// `where` says which entry, for the error: "entry 2" or "line 3 of /etc/keys".
EncryptionKey parse_entry(std::string_view entry, const std::string& where) {
  const auto colon = entry.find(':');
  if (colon == std::string_view::npos) {
    invalid(keys_variable, where + " is not id:base64key");
  }
  EncryptionKey key;
  key.id = std::string(trimmed(entry.substr(0, colon)));
  try {
    check_key_id(key.id);
  } catch (const std::invalid_argument& e) {
    invalid(keys_variable, where + ": " + e.what());
  }
  key.bytes = decode_key(std::string(keys_variable) + " (" + where + ", key '" + key.id + "')",
                         trimmed(entry.substr(colon + 1)));
  return key;
}

void add(std::vector<EncryptionKey>& keys, EncryptionKey key) {
  for (const EncryptionKey& known : keys) {
    if (known.id == key.id) invalid(keys_variable, "the key id '" + key.id + "' appears twice");
  }
  keys.push_back(std::move(key));
}

std::vector<EncryptionKey> keys_from_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) invalid(keys_variable, "cannot read the key file '" + path + "'");
  std::vector<EncryptionKey> keys;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    const std::string_view entry = trimmed(line);
    if (entry.empty() || entry.front() == '#') continue;
    add(keys, parse_entry(entry, "line " + std::to_string(number) + " of '" + path + "'"));
  }
  if (keys.empty()) invalid(keys_variable, "the key file '" + path + "' holds no key");
  return keys;
}

}  // namespace

std::string decode_key(std::string_view variable, std::string_view base64) {
  const std::size_t padding = base64.ends_with("==")  ? 2
                              : base64.ends_with("=") ? std::size_t{1}
                                                      : std::size_t{0};
  // EVP_DecodeBlock skips surrounding whitespace; a key has none, so that bytes are exact.
  const bool shaped = !base64.empty() && base64.size() % 4 == 0 &&
                      base64.find_first_of(" \t\r\n") == std::string_view::npos;
  std::string out(base64.size() / 4 * 3, '\0');
  const int decoded = shaped
                          ? EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                            reinterpret_cast<const unsigned char*>(base64.data()),
                                            static_cast<int>(base64.size()))
                          : -1;
  if (decoded < 0) invalid(variable, "the key is not standard base64");
  out.resize(static_cast<std::size_t>(decoded) - padding);
  if (out.size() != ValueEnvelope::key_size) {
    invalid(variable, "the key must be 32 bytes (44 characters of base64), it has " +
                          std::to_string(out.size()) + " bytes");
  }
  return out;
}

std::vector<EncryptionKey> parse_encryption_keys(std::string_view text) {
  text = trimmed(text);
  if (text.starts_with('@')) return keys_from_file(std::string(trimmed(text.substr(1))));
  std::vector<EncryptionKey> keys;
  std::size_t start = 0;
  for (int number = 1; start <= text.size(); ++number) {
    const auto comma = std::min(text.find(',', start), text.size());
    const std::string_view entry = trimmed(text.substr(start, comma - start));
    if (entry.empty()) invalid(keys_variable, "entry " + std::to_string(number) + " is empty");
    add(keys, parse_entry(entry, "entry " + std::to_string(number)));
    start = comma + 1;
  }
  return keys;
}

void parse_encrypted_namespaces(std::string_view text, Encryption& encryption) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = std::min(text.find(',', start), text.size());
    const std::string_view name = trimmed(text.substr(start, comma - start));
    if (name == "response") {
      encryption.response = true;
    } else if (name == "context") {
      encryption.context = true;
    } else if (name == "session") {
      encryption.session = true;
    } else {
      invalid("CACHE_ENCRYPT", "'" + std::string(name) +
                                   "' is not a namespace that can be encrypted (response, "
                                   "context, session)");
    }
    start = comma + 1;
  }
}

}  // namespace opencode_cache::cache
