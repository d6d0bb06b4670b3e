// Conversions between the two shapes of a Chat Completions answer, so that a streamed entry
// answers a non-streaming request and the reverse (both replies say they were converted).
//
// assemble_chat_completion(): a recorded stream (`data: {chat.completion.chunk}` events ...
// `data: [DONE]`) into the `chat.completion` JSON a non-streaming call returns: id, created,
// model and system_fingerprint from the chunks; per choice (by `index`) a message with role,
// content (concatenated; null when no content came), `reasoning_content` and `reasoning` when
// the stream had them, `refusal` likewise, tool_calls assembled by their index (id, type and
// name from the deltas that carry them, arguments concatenated), finish_reason; the usage
// object of the usage chunk as it was.
//
// synthesise_chat_stream(): a `chat.completion` JSON into the events of a stream that the
// OpenAI SDK and the AI SDK accept (gateway-notes.md, "What real clients accept"): per choice a
// role chunk (`"role":"assistant","content":""`), a reasoning chunk, a content chunk, one
// chunk per tool call (its first and only delta carries index, id, type, function.name and
// the arguments string), the finish_reason chunk; then, if the completion had usage, a usage
// chunk with `"choices": []`; then `data: [DONE]`. Every chunk has id, object
// `chat.completion.chunk`, a numeric created, model and a `choices` array; every event ends
// with its blank line.
#pragma once

#include <string_view>

#include "server/gateway/conversion.hpp"

namespace opencode_cache::server::gateway {

// `stream` is the stream's bytes (the recorded events back to back).
AssembledCompletion assemble_chat_completion(std::string_view stream);

// `completion` is a chat.completion JSON body.
SynthesisedStream synthesise_chat_stream(std::string_view completion);

}  // namespace opencode_cache::server::gateway
