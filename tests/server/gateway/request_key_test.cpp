// The request key: significant fields change it, volatile fields, key order and spelling
// do not, and callers of different scopes never meet.

#include "server/gateway/request_key.hpp"

#include <gtest/gtest.h>

#include "server/gateway/canonical_json.hpp"

namespace opencode_cache::server::gateway {
namespace {

constexpr std::string_view base_request = R"({
  "model": "gpt-4o-mini",
  "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
  "tools": [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}],
  "temperature": 0.2
})";

const KeyInput chat{.api = api::chat_completions, .provider = "default", .scope = "s"};

std::string key_of(std::string_view body, const KeyInput& input = chat) {
  const auto parsed = parse_request_json(body);
  EXPECT_TRUE(parsed.ok()) << parsed.error;
  return request_key(input, parsed.value, VolatileFields::defaults_for(input.api));
}

// The base request with one top-level member set to `json`.
std::string with_member(std::string_view name, std::string_view json) {
  auto value = parse_request_json(base_request).value;
  value.as_object()[name] = parse_request_json(json).value;
  return canonical_json(value);
}

TEST(RequestKey, IsSha256Hex) {
  const auto key = key_of(base_request);
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(RequestKey, IgnoresKeyOrderWhitespaceAndNumberSpelling) {
  const auto reordered = R"({"temperature":2e-1,"tools":[{"function":{"parameters":{"type":
    "object"},"name":"read"},"type":"function"}],"messages":[{"content":"be brief","role":
    "system"},{"content":"h\u0069","role":"user"}],"model":"gpt-4o-mini"})";
  EXPECT_EQ(key_of(reordered), key_of(base_request));
}

TEST(RequestKey, IgnoresEveryDefaultVolatileField) {
  const auto base = key_of(base_request);
  for (const auto& [name, value] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"user", R"("u-1")"},
           {"prompt_cache_key", R"("ses_123")"},
           {"promptCacheKey", R"("ses_123")"},
           {"metadata", R"({"trace":"abc"})"},
           {"stream", "true"},
           {"stream_options", R"({"include_usage":true})"},
           {"store", "false"},
           {"service_tier", R"("flex")"}}) {
    EXPECT_EQ(key_of(with_member(name, value)), base) << name;
  }
}

TEST(RequestKey, ChangesWithEverySignificantField) {
  const auto base = key_of(base_request);
  for (const auto& [name, value] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"model", R"("gpt-4o")"},
           {"messages", R"([{"role":"user","content":"hi"}])"},
           {"tools", "[]"},
           {"temperature", "0.3"},
           {"top_p", "0.9"},
           {"max_tokens", "10"},
           {"tool_choice", R"("none")"},
           {"response_format", R"({"type":"json_object"})"},
           {"seed", "1"}}) {
    EXPECT_NE(key_of(with_member(name, value)), base) << name;
  }
}

TEST(RequestKey, VolatileNamesOnlyCountAtTheTopLevel) {
  const auto a = key_of(R"({"messages":[{"role":"user","content":"hi","user":"a"}]})");
  const auto b = key_of(R"({"messages":[{"role":"user","content":"hi","user":"b"}]})");
  EXPECT_NE(a, b);
}

TEST(RequestKey, SeparatesRoutesProvidersAndScopes) {
  const auto base = key_of(base_request);
  EXPECT_NE(key_of(base_request, {.api = api::responses, .provider = "default", .scope = "s"}),
            base);
  EXPECT_NE(
      key_of(base_request, {.api = api::chat_completions, .provider = "openai", .scope = "s"}),
      base);
  EXPECT_NE(
      key_of(base_request, {.api = api::chat_completions, .provider = "default", .scope = "t"}),
      base);
}

TEST(RequestKey, FieldsCannotBleedAcrossParts) {
  // Provider "a" with scope "bc" must differ from provider "ab" with scope "c".
  const boost::json::value body;
  const VolatileFields none;
  EXPECT_NE(request_key({.api = "x", .provider = "a", .scope = "bc"}, body, none),
            request_key({.api = "x", .provider = "ab", .scope = "c"}, body, none));
}

TEST(RequestKey, CanonicalRequestShowsWhatIsHashed) {
  const auto parsed = parse_request_json(R"({"stream":true,"model":"m","user":"u"})");
  EXPECT_EQ(
      canonical_request(chat, parsed.value, VolatileFields::defaults_for(api::chat_completions)),
      R"({"api":"chat.completions","body":{"model":"m"},"provider":"default","scope":"s"})");
  EXPECT_EQ(canonical_request({.api = api::models, .provider = "p", .scope = "shared"},
                              boost::json::value(), VolatileFields::defaults_for(api::models)),
            R"({"api":"models","body":null,"provider":"p","scope":"shared"})");
}

TEST(RequestKey, ConfiguredVolatileListReplacesTheDefault) {
  const auto fields = VolatileFields::from_list(" temperature , ,user");
  EXPECT_EQ(fields.names(), (std::vector<std::string>{"temperature", "user"}));
  const auto a = parse_request_json(R"({"model":"m","temperature":1,"stream":true})").value;
  const auto b = parse_request_json(R"({"model":"m","temperature":0})").value;
  const auto c = parse_request_json(R"({"model":"m","temperature":0,"stream":true})").value;
  EXPECT_NE(request_key(chat, a, fields), request_key(chat, b, fields));  // stream counts now
  EXPECT_EQ(request_key(chat, a, fields), request_key(chat, c, fields));
}

TEST(RequestKey, PerApiDefaults) {
  EXPECT_TRUE(VolatileFields::defaults_for(api::responses).contains("prompt_cache_key"));
  EXPECT_TRUE(VolatileFields::defaults_for(api::messages).contains("metadata"));
  EXPECT_FALSE(VolatileFields::defaults_for(api::messages).contains("user"));
  EXPECT_TRUE(VolatileFields::defaults_for(api::embeddings).contains("user"));
  EXPECT_TRUE(VolatileFields::defaults_for(api::models).names().empty());
}

TEST(RequestKey, ResponsesAddItsOwnVolatileFieldsToTheConfiguredOnes) {
  const std::vector<std::string> configured = {"user", "metadata"};
  const auto responses = VolatileFields::for_api(api::responses, configured);
  EXPECT_EQ(responses.names(), (std::vector<std::string>{"metadata", "prompt_cache_retention",
                                                         "safety_identifier", "user"}));
  EXPECT_EQ(VolatileFields::for_api(api::messages, configured).names(),
            (std::vector<std::string>{"metadata", "user"}));
  EXPECT_TRUE(VolatileFields::defaults_for(api::responses).contains("safety_identifier"));
}

TEST(RequestKey, SignificantHeadersEnterTheKeyOnlyWhenPresent) {
  const auto body = parse_request_json(R"({"model":"m"})").value;
  const auto none = VolatileFields::defaults_for(api::messages);
  KeyInput messages{.api = api::messages, .provider = "default", .scope = "s"};
  EXPECT_EQ(canonical_request(messages, body, none),
            R"({"api":"messages","body":{"model":"m"},"provider":"default","scope":"s"})");
  const std::string plain = request_key(messages, body, none);
  messages.headers = {{"anthropic-beta", "a,b"}, {"anthropic-version", "2023-06-01"}};
  EXPECT_EQ(
      canonical_request(messages, body, none),
      R"({"api":"messages","body":{"model":"m"},"headers":{"anthropic-beta":"a,b","anthropic-version":"2023-06-01"},"provider":"default","scope":"s"})");
  const std::string with_beta = request_key(messages, body, none);
  messages.headers = {{"anthropic-beta", "a"}, {"anthropic-version", "2023-06-01"}};
  EXPECT_NE(request_key(messages, body, none), with_beta);
  EXPECT_NE(with_beta, plain);
}

TEST(RequestKey, TokenListsHaveOneSpelling) {
  EXPECT_EQ(canonical_token_list(" b, a,,a ,c"), "a,b,c");
  EXPECT_EQ(canonical_token_list(""), "");
  EXPECT_EQ(canonical_token_list(" , "), "");
}

TEST(Scope, CredentialScopeIsAHashPrefix) {
  const auto scope = scope_for_credential("sk-test-123");
  EXPECT_EQ(scope.size(), 32u);
  EXPECT_EQ(scope.find("sk-"), std::string::npos);
  EXPECT_EQ(scope, scope_for_credential("sk-test-123"));
  EXPECT_NE(scope, scope_for_credential("sk-test-124"));
  // SHA-256("abc") starts with ba7816bf8f01cfea414140de5dae2223.
  EXPECT_EQ(scope_for_credential("abc"), "ba7816bf8f01cfea414140de5dae2223");
}

TEST(Scope, TwoCredentialsNeverShareAKey) {
  const std::string scope_one = scope_for_credential("Bearer sk-one");
  const std::string scope_two = scope_for_credential("Bearer sk-two");
  EXPECT_NE(
      key_of(base_request, {.api = api::chat_completions, .provider = "p", .scope = scope_one}),
      key_of(base_request, {.api = api::chat_completions, .provider = "p", .scope = scope_two}));
}

TEST(Scope, Modes) {
  EXPECT_EQ(scope_for(ScopeMode::shared, "sk-a", "alice"), "shared");
  EXPECT_EQ(scope_for(ScopeMode::user, "sk-a", "alice"), "user:alice");
  EXPECT_EQ(scope_for(ScopeMode::credential, "sk-a", "alice"), scope_for_credential("sk-a"));
  EXPECT_EQ(parse_scope_mode("user"), ScopeMode::user);
  EXPECT_EQ(parse_scope_mode("shared"), ScopeMode::shared);
  EXPECT_EQ(parse_scope_mode("credential"), ScopeMode::credential);
  EXPECT_EQ(parse_scope_mode("Shared"), std::nullopt);
}

TEST(WantsStream, OnlyForStreamTrue) {
  EXPECT_TRUE(wants_stream(parse_request_json(R"({"stream":true})").value));
  EXPECT_FALSE(wants_stream(parse_request_json(R"({"stream":false})").value));
  EXPECT_FALSE(wants_stream(parse_request_json(R"({"stream":"true"})").value));
  EXPECT_FALSE(wants_stream(parse_request_json(R"({"model":"m"})").value));
  EXPECT_FALSE(wants_stream(parse_request_json(R"([true])").value));
}

}  // namespace
}  // namespace opencode_cache::server::gateway
