// Conversions between the two shapes of an Anthropic Messages answer, so that a streamed entry
// answers a non-streaming request and the reverse (both replies say they were converted).
//
// assemble_message(): a recorded stream into the `message` a non-streaming call returns:
// message_start's message, its content blocks built by index from content_block_start and the
// deltas (text_delta, thinking_delta and signature_delta appended, citations_delta collected,
// input_json_delta concatenated and parsed into the block's `input` at the end),
// message_delta's fields (stop_reason, stop_sequence, ...) set on the message and its usage
// counts replacing message_start's. Refused: no message_start, an `error` event, a malformed
// event, tool input that is not JSON.
//
// synthesise_messages_stream(): a `message` into the events @ai-sdk/anthropic and Anthropic's
// SDKs accept (only known event and delta types): message_start (the message without content,
// stop_reason and stop_sequence null, its usage), per block content_block_start (text and
// thinking empty, tool input {}), one delta carrying the whole text / thinking / signature /
// input JSON, content_block_stop; then message_delta (stop_reason, stop_sequence, and
// usage.output_tokens) and message_stop. Blocks of other types (redacted_thinking, ...) are
// started whole and stopped. Each event is `event: <type>` plus one `data:` line.
#pragma once

#include <string_view>

#include "server/gateway/conversion.hpp"

namespace opencode_cache::server::gateway {

// `stream` is the stream's bytes (the recorded events back to back).
AssembledCompletion assemble_message(std::string_view stream);

// `message` is a Messages JSON body.
SynthesisedStream synthesise_messages_stream(std::string_view message);

}  // namespace opencode_cache::server::gateway
