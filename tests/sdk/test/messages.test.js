// @ai-sdk/anthropic (opencode's built-in anthropic provider) through /anthropic/v1/messages.
import assert from 'node:assert/strict';
import { createAnthropic } from '@ai-sdk/anthropic';
import { checkApi } from '../support/api_checks.js';

checkApi({
  name: 'messages',
  route: '/anthropic/v1',
  model: (baseURL, fetch) =>
    createAnthropic({ baseURL, apiKey: 'sk-ant-test', fetch })('claude-sonnet-4-5'),
  // The thinking signature goes back to Anthropic on the next turn, which rejects it altered.
  checkReasoning: (part) =>
    assert.deepEqual(part.providerMetadata, {
      anthropic: { signature: 'EqQBCgIYAhIM+sig/nature==' },
    }),
  jsonHas: { reasoning: true, toolCall: true },
  // Streaming, the SDK marks each tool "eager_input_streaming" unless told not to: a different
  // request, rightly under a different key.
  conversionOptions: { providerOptions: { anthropic: { toolStreaming: false } } },
});
