#include "opencode_cache/valkey/script.hpp"

#include <openssl/sha.h>

#include <array>

namespace opencode_cache::valkey {
std::string sha1_hex(std::string_view text) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (unsigned char byte : digest) {
    out += hex[byte >> 4];
    out += hex[byte & 0x0f];
  }
  return out;
}

namespace {

Command script_call(std::string_view verb, std::string_view body,
                    const std::vector<std::string>& keys, const std::vector<std::string>& args) {
  Command command(verb, body, keys.size());
  command.args(keys).args(args);
  return command;
}

}  // namespace

Script::Script(std::string source)
    : source_(std::make_shared<const std::string>(std::move(source))), sha1_(sha1_hex(*source_)) {}

Command Script::evalsha(const std::vector<std::string>& keys,
                        const std::vector<std::string>& args) const {
  return script_call("EVALSHA", sha1_, keys, args);
}

Command Script::eval(const std::vector<std::string>& keys,
                     const std::vector<std::string>& args) const {
  return script_call("EVAL", *source_, keys, args);
}

}  // namespace opencode_cache::valkey
