// The request headers that change what the model may do, and so enter the cache key
// (gateway/request_key.hpp): for the Anthropic Messages API `anthropic-beta` (the features a
// request enables, in canonical order: several headers and the order of the list do not
// matter) and `anthropic-version` (the API's behaviour). None for the other APIs: their
// per-call headers (session ids, user agents) are volatile (gateway-notes.md).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "server/gateway/llm_api.hpp"
#include "server/http/exchange.hpp"

namespace opencode_cache::server::flow {

// Sorted by name, lower-case names; empty values are left out.
std::vector<std::pair<std::string, std::string>> key_headers(gateway::LlmApi api,
                                                             const http::Headers& headers);

}  // namespace opencode_cache::server::flow
