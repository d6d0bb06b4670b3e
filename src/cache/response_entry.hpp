// Internal: a fast reader for the seed's response entry,
//   {"prompt":"...","model":"...","response":"...","timestamp":1732400000000}
// the hottest read of the cache. Boost.JSON builds a whole value tree and unescapes
// slowly; this reads the three strings straight out of the text. Anything outside the
// plain shape (other keys, nesting, a key twice, an escape it does not know) returns
// nullopt, and the caller falls back to the general JSON parser, which decides.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace opencode_cache::cache {

struct ResponseEntry {
  std::string prompt;
  std::string model;
  std::string response;
};

std::optional<ResponseEntry> read_response_entry(std::string_view json);

// The verdict of read_response_entry() on an entry, for one request: whether its prompt and
// model are these, and then its response. The stored prompt and model are compared where they
// are (copied only when they hold escapes). nullopt where read_response_entry() gives nullopt.
struct EntryMatch {
  bool answers = false;
  std::string response;  // when `answers`
};
std::optional<EntryMatch> match_response_entry(std::string_view json, std::string_view prompt,
                                               std::string_view model);

// Appends the unescaped text of a JSON string body (between its quotes) to `out`; false
// when the body is not valid JSON string content.
bool unescape_json_string(std::string_view body, std::string& out);

}  // namespace opencode_cache::cache
