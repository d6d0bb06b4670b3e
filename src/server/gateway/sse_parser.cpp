#include "server/gateway/sse_parser.hpp"

#include <utility>

namespace opencode_cache::server::gateway {

namespace {

std::string_view field_value(std::string_view line, std::size_t colon) {
  if (colon == std::string_view::npos) return {};
  auto value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return value;
}

// The first CR or LF (string_view::find_first_of calls memchr on the set for every byte).
std::size_t line_end(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n' || bytes[i] == '\r') return i;
  }
  return std::string_view::npos;
}

}  // namespace

bool SseParser::over_limit(std::size_t more) {
  if (current_.raw.size() + more <= limits_.max_event_bytes) return false;
  error_ = "SSE event larger than " + std::to_string(limits_.max_event_bytes) + " bytes";
  return true;
}

// The line [line_start_, content_end) of current_.raw is complete; its line ending follows.
void SseParser::take_line(std::size_t content_end) {
  const std::string_view line(current_.raw.data() + line_start_, content_end - line_start_);
  const auto colon = line.find(':');
  if (colon == 0) {
    current_.comments.emplace_back(field_value(line, colon));
    return;
  }
  const auto name = line.substr(0, colon);
  const auto value = field_value(line, colon);
  if (name == "data") {
    if (current_.data_lines++ != 0) current_.data += '\n';
    current_.data += value;
  } else if (name == "event") {
    current_.event.assign(value);
  } else if (name == "id") {
    // The spec ignores an id containing NUL; so do we.
    if (value.find('\0') == std::string_view::npos) {
      current_.id.assign(value);
      current_.has_id = true;
    }
  }
  // `retry` and unknown fields change nothing a recorder needs; their bytes stay in raw.
}

void SseParser::complete_event(std::vector<SseEvent>& out) {
  out.push_back(std::move(current_));
  current_ = SseEvent{};
  line_start_ = 0;
}

bool SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  if (failed()) return false;
  if (after_cr_ && !bytes.empty()) {
    after_cr_ = false;
    if (bytes.front() == '\n') {
      if (over_limit(1)) return false;
      current_.raw += '\n';
      line_start_ = current_.raw.size();
      bytes.remove_prefix(1);
    }
    if (held_back_) {
      held_back_ = false;
      complete_event(out);
    }
  }
  while (!bytes.empty()) {
    const auto end = line_end(bytes);
    if (end == std::string_view::npos) {
      if (over_limit(bytes.size())) return false;
      current_.raw.append(bytes);
      return true;
    }
    // One line ending: LF, CRLF, or a CR (whose LF may come in the next chunk).
    const bool cr = bytes[end] == '\r';
    const bool crlf = cr && end + 1 < bytes.size() && bytes[end + 1] == '\n';
    const std::size_t ending = crlf ? 2 : 1;
    if (over_limit(end + ending)) return false;
    const std::size_t content_end = current_.raw.size() + end;
    const bool blank = content_end == line_start_;
    current_.raw.append(bytes.data(), end + ending);
    bytes.remove_prefix(end + ending);
    if (!blank) take_line(content_end);
    line_start_ = current_.raw.size();
    if (cr && !crlf && bytes.empty()) {
      after_cr_ = true;
      held_back_ = blank;
      return true;
    }
    if (blank) complete_event(out);
  }
  return true;
}

bool SseParser::finish(std::vector<SseEvent>& out) {
  if (failed()) return false;
  if (held_back_) {
    held_back_ = false;
    complete_event(out);
  }
  after_cr_ = false;
  if (current_.raw.empty()) return true;
  current_ = SseEvent{};
  line_start_ = 0;
  return false;
}

}  // namespace opencode_cache::server::gateway
