// Conversions between the two shapes of an OpenAI Responses answer, so that a streamed entry
// answers a non-streaming request and the reverse (both replies say they were converted).
//
// assemble_response(): a recorded stream into the `response` object a non-streaming call
// returns. That object is what `response.completed` carries, so it is taken from there as it
// is (encrypted reasoning and all); should it have no output items, they come from the
// `response.output_item.done` events, by output_index. A stream without response.completed,
// or with an `error`, `response.failed` or `response.incomplete` event, cannot be assembled.
//
// synthesise_responses_stream(): a completed `response` object into the events of a stream
// that @ai-sdk/openai accepts (gateway-notes.md): `response.created`, `response.in_progress`
// (the response with status in_progress and no output), then per output item
// `response.output_item.added` (the item without its content: a message without parts, a
// function call with empty arguments, a reasoning item without summary; encrypted_content
// kept), its deltas (output_text / refusal per content part inside content_part.added/done,
// function_call_arguments, reasoning_summary_text per summary part inside
// reasoning_summary_part.added/done) and `response.output_item.done` with the item as it was;
// then `response.completed` with the whole response. Every event is `event: <type>` plus one
// `data:` line whose JSON has that type and a sequence_number counting from 0. A response whose
// status is not "completed" is refused: it would not have been stored as a stream either.
#pragma once

#include <string_view>

#include "server/gateway/conversion.hpp"

namespace opencode_cache::server::gateway {

// `stream` is the stream's bytes (the recorded events back to back).
AssembledCompletion assemble_response(std::string_view stream);

// `response` is a Responses JSON body.
SynthesisedStream synthesise_responses_stream(std::string_view response);

}  // namespace opencode_cache::server::gateway
