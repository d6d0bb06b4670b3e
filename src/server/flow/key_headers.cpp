#include "server/flow/key_headers.hpp"

#include "server/gateway/request_key.hpp"

namespace opencode_cache::server::flow {

std::vector<std::pair<std::string, std::string>> key_headers(gateway::LlmApi api,
                                                             const http::Headers& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  if (api != gateway::LlmApi::messages) return out;
  std::string betas;
  for (const auto& [name, value] : headers) {
    if (name != "anthropic-beta") continue;
    betas += betas.empty() ? "" : ",";
    betas += value;
  }
  if (auto beta = gateway::canonical_token_list(betas); !beta.empty()) {
    out.emplace_back("anthropic-beta", std::move(beta));
  }
  if (const std::string* version = http::find_header(headers, "anthropic-version");
      version != nullptr && !version->empty()) {
    out.emplace_back("anthropic-version", *version);
  }
  return out;
}

}  // namespace opencode_cache::server::flow
