#include "response_entry.hpp"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace opencode_cache::cache {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_plain(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte >= 0x20 && byte < 0x80 && c != '"' && c != '\\';
}

// Where the run of plain bytes from `at` ends: printable ASCII other than '"' and '\\', which
// a string body holds as they are. A model's text is mostly such runs, so they are scanned
// sixteen bytes at a time where SSE2 is there (every x86-64 machine).
std::size_t plain_run_end(std::string_view text, std::size_t at) {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (at + sizeof(__m128i) <= text.size()) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + at));
    // A signed comparison: bytes of 0x80 and above are negative, so below 0x20 too.
    const __m128i special =
        _mm_or_si128(_mm_cmplt_epi8(bytes, space),
                     _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) return at + static_cast<std::size_t>(__builtin_ctz(mask));
    at += sizeof(__m128i);
  }
#endif
  while (at < text.size() && is_plain(text[at])) ++at;
  return at;
}

// A cursor over the text; every step returns false when the text is not in the plain shape.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  void skip_space() {
    while (at_ < text_.size() && is_space(text_[at_])) ++at_;
  }
  bool take(char c) {
    skip_space();
    if (at_ >= text_.size() || text_[at_] != c) return false;
    ++at_;
    return true;
  }
  bool peek(char c) {
    skip_space();
    return at_ < text_.size() && text_[at_] == c;
  }
  // The body of a string (escapes left in), positioned after its closing quote.
  bool string_body(std::string_view& body) {
    if (!take('"')) return false;
    const std::size_t start = at_;
    while (true) {
      at_ = plain_run_end(text_, at_);
      if (at_ >= text_.size()) return false;
      if (text_[at_] == '"') {
        body = text_.substr(start, at_ - start);
        ++at_;
        return true;
      }
      // The byte after a backslash is never the closing quote. Other bytes are the
      // unescaping's to judge.
      at_ += text_[at_] == '\\' ? 2 : 1;
    }
  }
  // An integer as JSON writes it (no leading zeros), as the seed's Date.now() timestamp is.
  bool integer() {
    skip_space();
    if (at_ < text_.size() && text_[at_] == '-') ++at_;
    const std::size_t start = at_;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
    const std::size_t digits = at_ - start;
    return digits > 0 && (digits == 1 || text_[start] != '0');
  }
  bool at_end() {
    skip_space();
    return at_ == text_.size();
  }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read_hex4(std::string_view body, std::size_t at, std::uint32_t& out) {
  if (at + 4 > body.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + 4; ++i) {
    const int digit = hex_value(body[i]);
    if (digit < 0) return false;
    out = out * 16 + static_cast<std::uint32_t>(digit);
  }
  return true;
}

void append_utf8(std::uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// \uXXXX at body[at] (after the backslash and 'u'), a surrogate pair included; advances `at`.
bool unescape_unicode(std::string_view body, std::size_t& at, std::string& out) {
  std::uint32_t unit = 0;
  if (!read_hex4(body, at, unit)) return false;
  at += 4;
  if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low surrogate alone
  if (unit >= 0xD800 && unit <= 0xDBFF) {
    std::uint32_t low = 0;
    if (at + 6 > body.size() || body[at] != '\\' || body[at + 1] != 'u' ||
        !read_hex4(body, at + 2, low) || low < 0xDC00 || low > 0xDFFF) {
      return false;
    }
    at += 6;
    unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
  }
  append_utf8(unit, out);
  return true;
}

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Bytes of the UTF-8 sequence starting text[i], or 0 when it is not a valid one (overlong
// forms and surrogates included), as a strict JSON parser sees it.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < second_min || byte(i + 1) > second_max) return 0;
  for (std::size_t k = i + 2; k < i + length; ++k) {
    if (!is_continuation(byte(k))) return 0;
  }
  return length;
}

// No control characters (they must be escaped) and valid UTF-8.
bool is_plain_utf8(std::string_view text) {
  std::size_t i = 0;
  while ((i = plain_run_end(text, i)) < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20) return false;
    if (c < 0x80) {
      ++i;  // '"' or '\\', which a string body holds only escaped: the reader judged them
      continue;
    }
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

}  // namespace

bool unescape_json_string(std::string_view body, std::string& out) {
  out.reserve(out.size() + body.size());
  std::size_t at = 0;
  while (true) {
    const std::size_t run_end = plain_run_end(body, at);
    out.append(body.data() + at, run_end - at);
    if (run_end == body.size()) return true;
    at = run_end;
    const auto c = static_cast<unsigned char>(body[at]);
    if (c < 0x20) return false;
    if (c >= 0x80) {
      const std::size_t length = utf8_sequence_length(body, at);
      if (length == 0) return false;
      out.append(body.data() + at, length);
      at += length;
      continue;
    }
    if (c == '"') {  // not in a body the reader found: it ends at the first unescaped one
      out += '"';
      ++at;
      continue;
    }
    if (++at >= body.size()) return false;
    const char escape = body[at++];
    switch (escape) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u':
        if (!unescape_unicode(body, at, out)) return false;
        break;
      default: return false;
    }
  }
}

namespace {

// The plain shape's fields, each string body handed to `sink` (escapes left in): false when
// the text is outside the plain shape or a body is not valid string content.
template <class Sink>
bool read_fields(std::string_view json, Sink& sink) {
  Reader reader(json);
  if (!reader.take('{')) return false;
  bool have_prompt = false;
  bool have_model = false;
  bool have_response = false;
  bool have_timestamp = false;
  bool first = true;
  while (!reader.peek('}')) {
    if (!first && !reader.take(',')) return false;
    first = false;
    std::string_view key;
    if (!reader.string_body(key) || !reader.take(':')) return false;
    std::string_view body;
    const auto string_field = [&](bool& seen) {
      if (seen || !reader.string_body(body)) return false;
      seen = true;
      return true;
    };
    bool ok = false;
    if (key == "prompt") {
      ok = string_field(have_prompt) && sink.prompt(body);
    } else if (key == "model") {
      ok = string_field(have_model) && sink.model(body);
    } else if (key == "response") {
      ok = string_field(have_response) && sink.response(body);
    } else if (key == "timestamp") {
      ok = !have_timestamp && reader.integer();
      have_timestamp = true;
    }
    if (!ok) return false;
  }
  reader.take('}');
  return reader.at_end() && have_prompt && have_model && have_response;
}

struct EntrySink {
  ResponseEntry entry;
  bool prompt(std::string_view body) { return unescape_json_string(body, entry.prompt); }
  bool model(std::string_view body) { return unescape_json_string(body, entry.model); }
  bool response(std::string_view body) { return unescape_json_string(body, entry.response); }
};

// Whether a string body reads as `expected`; without a copy unless it has escapes.
bool body_reads_as(std::string_view body, std::string_view expected, bool& equal) {
  if (body.find('\\') == std::string_view::npos) {
    if (!is_plain_utf8(body)) return false;
    equal = body == expected;
    return true;
  }
  std::string text;
  if (!unescape_json_string(body, text)) return false;
  equal = text == expected;
  return true;
}

struct MatchSink {
  std::string_view expected_prompt;
  std::string_view expected_model;
  bool prompt_equal = false;
  bool model_equal = false;
  std::string response_text;
  bool prompt(std::string_view body) { return body_reads_as(body, expected_prompt, prompt_equal); }
  bool model(std::string_view body) { return body_reads_as(body, expected_model, model_equal); }
  bool response(std::string_view body) { return unescape_json_string(body, response_text); }
};

}  // namespace

std::optional<ResponseEntry> read_response_entry(std::string_view json) {
  EntrySink sink;
  if (!read_fields(json, sink)) return std::nullopt;
  return std::move(sink.entry);
}

std::optional<EntryMatch> match_response_entry(std::string_view json, std::string_view prompt,
                                               std::string_view model) {
  MatchSink sink{prompt, model};
  if (!read_fields(json, sink)) return std::nullopt;
  EntryMatch match;
  match.answers = sink.prompt_equal && sink.model_equal;
  if (match.answers) match.response = std::move(sink.response_text);
  return match;
}

}  // namespace opencode_cache::cache
