// libFuzzer target: the fast reader of the seed's response entry must never crash, and must
// agree with a full JSON parser (Boost.JSON) on every input it accepts.
#include <boost/json/src.hpp>  // header-only Boost.JSON for the fuzz build
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cache/response_entry.hpp"

namespace {

bool same_as_boost_json(std::string_view text, const opencode_cache::cache::ResponseEntry& entry) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return false;
  const auto& object = value.as_object();
  const auto equals = [&](const char* name, const std::string& expected) {
    const auto* field = object.if_contains(name);
    return field != nullptr && field->is_string() && field->as_string() == expected;
  };
  return equals("prompt", entry.prompt) && equals("model", entry.model) &&
         equals("response", entry.response);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto entry = opencode_cache::cache::read_response_entry(text);
  if (entry && !same_as_boost_json(text, *entry)) std::abort();
  return 0;
}
