#include "server/flow/stored_entry.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace opencode_cache::server::flow {
namespace {

constexpr std::string_view format_version = "opencode-cache-server/1";

std::uint64_t usage_total(const boost::json::value& value) {
  const auto* object = value.if_object();
  const auto* usage = object != nullptr ? object->if_contains("usage") : nullptr;
  const auto* fields = usage != nullptr ? usage->if_object() : nullptr;
  const auto* total = fields != nullptr ? fields->if_contains("total_tokens") : nullptr;
  if (total == nullptr) return 0;
  if (total->is_uint64()) return total->as_uint64();
  if (total->is_int64() && total->as_int64() > 0)
    return static_cast<std::uint64_t>(total->as_int64());
  return 0;
}

}  // namespace

std::string StoredEntry::encode() const {
  boost::json::object head;
  head["v"] = format_version;
  head["status"] = status;
  head["content_type"] = content_type;
  head["streamed"] = streamed;
  head["stored_at"] = stored_at_ms;
  head["total_tokens"] = total_tokens;
  std::string out = boost::json::serialize(head);
  out += '\n';
  out += body;
  return out;
}

std::optional<StoredEntry> StoredEntry::decode(std::string_view bytes) {
  const std::size_t newline = bytes.find('\n');
  if (newline == std::string_view::npos) return std::nullopt;
  boost::system::error_code ec;
  const auto head = boost::json::parse(bytes.substr(0, newline), ec);
  if (ec || !head.is_object()) return std::nullopt;
  const auto& object = head.as_object();
  const auto* version = object.if_contains("v");
  if (version == nullptr || !version->is_string() || version->as_string() != format_version) {
    return std::nullopt;
  }
  StoredEntry entry;
  try {
    entry.status = static_cast<int>(object.at("status").to_number<std::int64_t>());
    entry.content_type = std::string(object.at("content_type").as_string());
    entry.streamed = object.at("streamed").as_bool();
    entry.stored_at_ms = object.at("stored_at").to_number<std::int64_t>();
    entry.total_tokens = object.at("total_tokens").to_number<std::uint64_t>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
  entry.body = std::string(bytes.substr(newline + 1));
  return entry;
}

std::uint64_t total_tokens_of(std::string_view body, bool streamed) {
  boost::system::error_code ec;
  if (!streamed) {
    const auto value = boost::json::parse(body, ec);
    return ec ? 0 : usage_total(value);
  }
  // The usage chunk comes last, just before [DONE].
  const std::size_t at = body.rfind("\"usage\"");
  if (at == std::string_view::npos) return 0;
  const std::size_t start = body.rfind("data:", at);
  const std::size_t end = body.find('\n', at);
  if (start == std::string_view::npos) return 0;
  const auto value = boost::json::parse(
      body.substr(start + 5, end == std::string_view::npos ? end : end - start - 5), ec);
  return ec ? 0 : usage_total(value);
}

bool chat_stream_finished_cleanly(std::string_view body) {
  std::string_view tail = body;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.remove_suffix(1);
  const bool done = tail.ends_with("data: [DONE]") || tail.ends_with("data:[DONE]");
  const bool blank_line_after = body.size() >= tail.size() + 2;
  if (!done || !blank_line_after) return false;
  std::size_t at = 0;
  while ((at = body.find("\"finish_reason\":", at)) != std::string_view::npos) {
    at += 16;
    while (at < body.size() && body[at] == ' ') ++at;
    if (at < body.size() && body[at] == '"') return true;
  }
  return false;
}

}  // namespace opencode_cache::server::flow
