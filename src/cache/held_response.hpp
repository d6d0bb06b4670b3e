// A response entry as the near cache keeps it beside the entry's stored text once a hit has
// decoded it: the model and prompt it answers, then the response. The next hit of the same key
// is a comparison and a copy instead of a scan, UTF-8 check and unescaping of the whole JSON.
// The model and prompt are kept whole, not hashed: a different question whose key collides
// must still miss, as it does on the stored text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace opencode_cache::cache {

std::string encode_held_response(std::string_view prompt, std::string_view model,
                                 std::string_view response);

// The response when `held` (a value of encode_held_response, or empty) answers this prompt and
// model; nullopt otherwise, and for anything malformed.
std::optional<std::string> held_response_for(std::string_view held, std::string_view prompt,
                                             std::string_view model);

}  // namespace opencode_cache::cache
