#include "held_response.hpp"

#include <cstdint>
#include <cstring>

namespace opencode_cache::cache {

namespace {

// Two sizes ahead of the text: the model's, the prompt's (native byte order: the form never
// leaves the process).
constexpr std::size_t header_size = 2 * sizeof(std::uint64_t);

void put_size(std::string& out, std::size_t size) {
  const auto value = static_cast<std::uint64_t>(size);
  char bytes[sizeof value];
  std::memcpy(bytes, &value, sizeof value);
  out.append(bytes, sizeof value);
}

std::size_t size_at(std::string_view held, std::size_t at) {
  std::uint64_t value = 0;
  std::memcpy(&value, held.data() + at, sizeof value);
  return static_cast<std::size_t>(value);
}

}  // namespace

std::string encode_held_response(std::string_view prompt, std::string_view model,
                                 std::string_view response) {
  std::string out;
  out.reserve(header_size + model.size() + prompt.size() + response.size());
  put_size(out, model.size());
  put_size(out, prompt.size());
  out.append(model).append(prompt).append(response);
  return out;
}

std::optional<std::string> held_response_for(std::string_view held, std::string_view prompt,
                                             std::string_view model) {
  if (held.size() < header_size) return std::nullopt;
  const std::size_t model_size = size_at(held, 0);
  const std::size_t prompt_size = size_at(held, sizeof(std::uint64_t));
  held.remove_prefix(header_size);
  if (model_size != model.size() || prompt_size != prompt.size() ||
      held.size() < model_size + prompt_size) {
    return std::nullopt;
  }
  if (held.substr(0, model_size) != model || held.substr(model_size, prompt_size) != prompt) {
    return std::nullopt;
  }
  return std::string(held.substr(model_size + prompt_size));
}

}  // namespace opencode_cache::cache
