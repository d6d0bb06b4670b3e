// @ai-sdk/openai (opencode's built-in openai provider) through /openai/v1/responses.
import assert from 'node:assert/strict';
import { createOpenAI } from '@ai-sdk/openai';
import { checkApi } from '../support/api_checks.js';

checkApi({
  name: 'responses',
  route: '/openai/v1',
  model: (baseURL, fetch) =>
    createOpenAI({ baseURL, apiKey: 'sk-test', fetch }).responses('gpt-5-mini'),
  // opencode sends the encrypted reasoning back on the next turn: it must survive the replay.
  checkReasoning: (part) =>
    assert.deepEqual(part.providerMetadata, {
      openai: { itemId: 'rs_1', reasoningEncryptedContent: 'gAAAAB+enc/rypted==' },
    }),
  jsonHas: { reasoning: true, toolCall: true },
});
