// @ai-sdk/openai-compatible (opencode's custom providers) through /v1/chat/completions.
import assert from 'node:assert/strict';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { checkApi } from '../support/api_checks.js';

checkApi({
  name: 'chat completions',
  route: '/v1',
  model: (baseURL, fetch) =>
    // opencode forces include_usage on for this provider.
    createOpenAICompatible({
      name: 'cached',
      baseURL,
      apiKey: 'sk-test',
      includeUsage: true,
      fetch,
    })('fake-model'),
  // Chat Completions has no signature or encrypted form of its reasoning.
  checkReasoning: (part) => assert.equal(part.providerMetadata, undefined),
  // The fake's non-streaming answer is text only.
  jsonHas: { reasoning: false, toolCall: false },
});
