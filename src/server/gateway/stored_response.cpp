#include "server/gateway/stored_response.hpp"

#include <algorithm>
#include <array>

#include "server/gateway/ascii_case.hpp"

namespace opencode_cache::server::gateway {

namespace {

constexpr std::string_view magic = "OCGW";
constexpr char version = 1;
// Bounds far above any real entry, so that damaged counts cannot make the decoder allocate
// without limit before it notices the value is too short.
constexpr std::uint64_t max_headers = 256;

void put_varint(std::uint64_t number, std::string& out) {
  while (number >= 0x80) {
    out += static_cast<char>((number & 0x7f) | 0x80);
    number >>= 7;
  }
  out += static_cast<char>(number);
}

void put_string(std::string_view text, std::string& out) {
  put_varint(text.size(), out);
  out.append(text);
}

// Reads the encoded fields front to back; the first failure sticks.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  bool at_end() const { return rest_.empty(); }

  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }

  std::string_view bytes(std::size_t size, const char* what) {
    if (failed()) return {};
    if (size > rest_.size()) {
      fail(std::string("damaged gateway entry: truncated ") + what);
      return {};
    }
    const auto taken = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return taken;
  }

  char byte(const char* what) {
    const auto taken = bytes(1, what);
    return taken.empty() ? '\0' : taken.front();
  }

  std::uint64_t varint(const char* what) {
    std::uint64_t number = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const auto taken = bytes(1, what);
      if (taken.empty()) return 0;
      const auto digit = static_cast<unsigned char>(taken.front());
      if (shift == 63 && digit > 1) break;
      number |= std::uint64_t{digit & 0x7fu} << shift;
      if ((digit & 0x80) != 0) continue;
      // A zero last digit is a padded number: each value has one encoding only.
      if (digit == 0 && shift != 0) break;
      return number;
    }
    fail(std::string("damaged gateway entry: overlong number in ") + what);
    return 0;
  }

  std::string_view string(const char* what) {
    const auto size = varint(what);
    if (size > rest_.size()) {
      fail(std::string("damaged gateway entry: truncated ") + what);
      return {};
    }
    return bytes(static_cast<std::size_t>(size), what);
  }

  std::size_t remaining() const { return rest_.size(); }

 private:
  std::string_view rest_;
  std::string error_;
};

bool known_kind(char kind) {
  return kind == 'J' || kind == 'S';
}

}  // namespace

void StoredResponse::append_event(std::string_view event) {
  body.append(event);
  event_sizes.push_back(static_cast<std::uint32_t>(event.size()));
}

std::vector<std::string_view> StoredResponseView::events() const {
  std::vector<std::string_view> out;
  out.reserve(event_sizes.size());
  std::size_t offset = 0;
  for (const auto size : event_sizes) {
    out.push_back(body.substr(offset, size));
    offset += size;
  }
  return out;
}

StoredResponse StoredResponseView::to_owned() const {
  StoredResponse owned;
  owned.kind = kind;
  owned.status = status;
  owned.created_at_ms = created_at_ms;
  owned.content_type = content_type;
  owned.headers.reserve(headers.size());
  for (const auto& [name, value] : headers) owned.headers.emplace_back(name, value);
  owned.usage = usage;
  owned.body = body;
  owned.event_sizes = event_sizes;
  return owned;
}

std::string encode_stored_response(const StoredResponse& response) {
  std::string out;
  out.reserve(64 + response.content_type.size() + response.body.size() +
              response.event_sizes.size() * 2 + response.headers.size() * 48);
  out.append(magic);
  out += version;
  out += static_cast<char>(response.kind);
  put_varint(response.status, out);
  put_varint(response.created_at_ms, out);
  put_string(response.content_type, out);
  put_varint(response.headers.size(), out);
  for (const auto& [name, value] : response.headers) {
    put_string(name, out);
    put_string(value, out);
  }
  out += response.usage ? '\1' : '\0';
  if (response.usage) {
    for (const auto count : {response.usage->prompt_tokens, response.usage->completion_tokens,
                             response.usage->total_tokens, response.usage->cached_tokens,
                             response.usage->reasoning_tokens}) {
      put_varint(count, out);
    }
  }
  put_string(response.body, out);
  if (response.kind == StoredKind::sse) {
    put_varint(response.event_sizes.size(), out);
    for (const auto size : response.event_sizes) put_varint(size, out);
  }
  return out;
}

StoredResponseDecode decode_stored_response(std::string_view bytes) {
  StoredResponseDecode result;
  if (!bytes.starts_with(magic)) {
    result.error = "not a gateway entry (foreign value)";
    return result;
  }
  Reader reader(bytes.substr(magic.size()));
  const char entry_version = reader.byte("version");
  if (!reader.failed() && entry_version != version) {
    result.error = "gateway entry version " +
                   std::to_string(static_cast<unsigned char>(entry_version)) +
                   " is not supported (this build reads version 1)";
    return result;
  }
  auto& entry = result.entry;
  const char kind = reader.byte("kind");
  if (!reader.failed() && !known_kind(kind)) reader.fail("damaged gateway entry: unknown kind");
  entry.kind = static_cast<StoredKind>(kind);
  const auto status = reader.varint("status");
  if (!reader.failed() && (status < 100 || status > 599)) {
    reader.fail("damaged gateway entry: status " + std::to_string(status));
  }
  entry.status = static_cast<std::uint16_t>(status);
  entry.created_at_ms = reader.varint("created_at");
  entry.content_type = reader.string("content type");
  const auto header_count = reader.varint("header count");
  if (header_count > max_headers) reader.fail("damaged gateway entry: too many headers");
  for (std::uint64_t i = 0; i < header_count && !reader.failed(); ++i) {
    const auto name = reader.string("header name");
    const auto value = reader.string("header value");
    entry.headers.emplace_back(name, value);
  }
  const char has_usage = reader.byte("usage flag");
  if (!reader.failed() && has_usage != '\0' && has_usage != '\1') {
    reader.fail("damaged gateway entry: usage flag");
  }
  if (has_usage == '\1') {
    TokenUsage usage;
    usage.prompt_tokens = reader.varint("usage");
    usage.completion_tokens = reader.varint("usage");
    usage.total_tokens = reader.varint("usage");
    usage.cached_tokens = reader.varint("usage");
    usage.reasoning_tokens = reader.varint("usage");
    entry.usage = usage;
  }
  entry.body = reader.string("body");
  if (entry.kind == StoredKind::sse && !reader.failed()) {
    const auto event_count = reader.varint("event count");
    // Every event size takes at least one byte.
    if (event_count > reader.remaining()) {
      reader.fail("damaged gateway entry: event count");
    }
    std::uint64_t total = 0;
    entry.event_sizes.reserve(reader.failed() ? 0 : event_count);
    for (std::uint64_t i = 0; i < event_count && !reader.failed(); ++i) {
      const auto size = reader.varint("event size");
      total += size;
      if (size > entry.body.size() || total > entry.body.size()) {
        reader.fail("damaged gateway entry: event sizes do not match the body");
      }
      entry.event_sizes.push_back(static_cast<std::uint32_t>(size));
    }
    if (!reader.failed() && total != entry.body.size()) {
      reader.fail("damaged gateway entry: event sizes do not match the body");
    }
  }
  if (!reader.failed() && !reader.at_end()) reader.fail("damaged gateway entry: trailing bytes");
  if (reader.failed()) {
    result.entry = {};
    result.error = reader.error();
  }
  return result;
}

bool kept_upstream_header(std::string_view name) {
  static constexpr std::array<std::string_view, 4> kept = {"x-request-id", "request-id",
                                                           "openai-model", "openai-version"};
  return std::any_of(kept.begin(), kept.end(),
                     [&](std::string_view candidate) { return ascii_iequals(candidate, name); });
}

}  // namespace opencode_cache::server::gateway
