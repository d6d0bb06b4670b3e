// The checks every API gets: what the real SDK parses from a hit (text, reasoning with its
// signature or encrypted content, tool calls, usage) equals what it parsed from the miss, the
// provider answered once, and conversions between stream and JSON parse alike.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateText, jsonSchema, streamText, tool } from 'ai';
import { recordingFetch } from './recording_fetch.js';
import { useStack } from './stack.js';

const tools = {
  read: tool({
    description: 'Read a file',
    inputSchema: jsonSchema({
      type: 'object',
      properties: { path: { type: 'string' } },
      required: ['path'],
    }),
  }),
};

// What the fake provider answers (tests/server/support/fake_upstream.cpp).
const fakeReasoning = 'thinking about it';
const fakeToolCall = { toolName: 'read', input: { path: 'a' } };

// `api`: { name, route (the gateway prefix, e.g. "/v1"), model(baseURL, fetch),
//   checkReasoning(part) (the provider's metadata a later turn sends back),
//   jsonHas: {reasoning, toolCall} (what the fake's non-streaming answer holds),
//   conversionOptions (SDK call options under which its streaming and non-streaming requests
//   differ only in stream fields, so that one may answer the other) }
export function checkApi(api) {
  const stack = useStack();
  const providers = () => `openai=${stack.upstream.url},anthropic=${stack.upstream.url}`;
  let gateway;
  const client = async (target = gateway) => {
    gateway ??= await stack.gateway({ OPENCODE_CACHE_PROVIDERS: providers() });
    const recorder = recordingFetch();
    return { model: api.model(`${(target ?? gateway).url}${api.route}`, recorder.fetch), recorder };
  };

  // One SDK call: its result, the gateway's X-Cache answers and the provider calls it caused.
  const measured = async (recorder, call) => {
    const before = await stack.upstream.calls();
    const result = await call();
    const answers = recorder.take();
    return { ...result, answers, upstreamCalls: (await stack.upstream.calls()) - before };
  };

  const streamed = async ({ model, recorder }, prompt, options = {}) =>
    measured(recorder, async () => {
      const result = streamText({ model, prompt, tools, maxRetries: 0, ...options });
      const parts = [];
      for await (const part of result.fullStream) parts.push(part);
      const errors = parts.filter((part) => part.type === 'error');
      assert.deepEqual(errors, [], `the stream had errors: ${JSON.stringify(errors)}`);
      return {
        parts,
        content: await result.content,
        finishReason: await result.finishReason,
        usage: await result.usage,
      };
    });

  const generated = async ({ model, recorder }, prompt, options = {}) =>
    measured(recorder, async () => {
      const result = await generateText({ model, prompt, tools, maxRetries: 0, ...options });
      return {
        content: result.content,
        finishReason: result.finishReason,
        usage: result.usage,
        providerMetadata: result.providerMetadata,
        response: { id: result.response.id, modelId: result.response.modelId },
      };
    });

  const cacheAnswers = (call) =>
    call.answers.map(({ status, cache, converted }) => ({ status, cache, converted }));
  const answered = (cache, converted = null) => [{ status: 200, cache, converted }];

  test(`${api.name}: streamText parses a hit as it parsed the miss`, async () => {
    const sdk = await client();
    const miss = await streamed(sdk, 'streamed twice');
    assert.deepEqual(cacheAnswers(miss), answered('MISS'));
    assert.equal(miss.upstreamCalls, 1);
    expectFakeAnswer(api, miss.content, { reasoning: true, toolCall: true });
    assert.equal(miss.finishReason, 'tool-calls');

    const hit = await streamed(sdk, 'streamed twice');
    assert.deepEqual(cacheAnswers(hit), answered('HIT'));
    assert.equal(hit.upstreamCalls, 0);
    assert.deepEqual(comparable(hit.parts), comparable(miss.parts));
    assert.deepEqual(hit.content, miss.content);
    assert.deepEqual(hit.usage, miss.usage);
  });

  test(`${api.name}: generateText parses a hit as it parsed the miss`, async () => {
    const sdk = await client();
    const miss = await generated(sdk, 'generated twice');
    assert.deepEqual(cacheAnswers(miss), answered('MISS'));
    assert.equal(miss.upstreamCalls, 1);
    expectFakeAnswer(api, miss.content, api.jsonHas);

    const hit = await generated(sdk, 'generated twice');
    assert.deepEqual(cacheAnswers(hit), answered('HIT'));
    assert.equal(hit.upstreamCalls, 0);
    assert.deepEqual(hit, { ...miss, answers: hit.answers, upstreamCalls: 0 });
  });

  // The SDK orders a non-streaming answer's parts its own way (Chat Completions: text before
  // reasoning), so conversions are compared part type by part type.
  const conversionOptions = api.conversionOptions ?? {};

  test(`${api.name}: generateText parses a streamed entry as streamText did`, async () => {
    const sdk = await client();
    const stream = await streamed(sdk, 'streamed then generated', conversionOptions);
    assert.equal(stream.upstreamCalls, 1);
    const json = await generated(sdk, 'streamed then generated', conversionOptions);
    assert.deepEqual(cacheAnswers(json), answered('HIT', 'stream-to-json'));
    assert.equal(json.upstreamCalls, 0);
    assert.deepEqual(byType(json.content), byType(stream.content));
    assert.equal(json.finishReason, stream.finishReason);
    assert.deepEqual(tokenCounts(json.usage), tokenCounts(stream.usage));
  });

  test(`${api.name}: streamText parses a JSON entry as generateText did`, async () => {
    const sdk = await client();
    const json = await generated(sdk, 'generated then streamed', conversionOptions);
    assert.equal(json.upstreamCalls, 1);
    const stream = await streamed(sdk, 'generated then streamed', conversionOptions);
    assert.deepEqual(cacheAnswers(stream), answered('HIT', 'json-to-stream'));
    assert.equal(stream.upstreamCalls, 0);
    assert.deepEqual(byType(stream.content), byType(json.content));
    assert.equal(stream.finishReason, json.finishReason);
    assert.deepEqual(tokenCounts(stream.usage), tokenCounts(json.usage));
  });

  // Gateways replaying usage their own way, on the first one's Valkey: they answer from what it
  // stored, and only the usage the SDK reads differs.
  const replayingGateway = (mode) =>
    stack.gateway({ OPENCODE_CACHE_PROVIDERS: providers(), OPENCODE_CACHE_REPLAY_USAGE: mode });

  test(`${api.name}: with OPENCODE_CACHE_REPLAY_USAGE=cached a hit's prompt counts as cache reads`, async () => {
    const recording = await client();
    const replaying = await client(await replayingGateway('cached'));
    const miss = await streamed(recording, 'replayed as cached');
    assert.equal(miss.upstreamCalls, 1);
    const hit = await streamed(replaying, 'replayed as cached');
    assert.deepEqual(cacheAnswers(hit), answered('HIT'));
    assert.equal(hit.upstreamCalls, 0);
    assert.deepEqual(hit.content, miss.content);
    assert.equal(hit.usage.inputTokens, miss.usage.inputTokens);
    assert.equal(hit.usage.outputTokens, miss.usage.outputTokens);
    assert.equal(hit.usage.inputTokenDetails.cacheReadTokens, miss.usage.inputTokens);
    assert.equal(hit.usage.inputTokenDetails.noCacheTokens, 0);
  });

  test(`${api.name}: with OPENCODE_CACHE_REPLAY_USAGE=zero a hit reports no tokens`, async () => {
    const recording = await client();
    const replaying = await client(await replayingGateway('zero'));
    const miss = await streamed(recording, 'replayed as zero');
    assert.ok(miss.usage.inputTokens > 0 && miss.usage.outputTokens > 0);
    const hit = await streamed(replaying, 'replayed as zero');
    assert.deepEqual(cacheAnswers(hit), answered('HIT'));
    assert.equal(hit.upstreamCalls, 0);
    assert.deepEqual(hit.content, miss.content);
    assert.equal(hit.finishReason, miss.finishReason);
    assert.equal(hit.usage.inputTokens, 0);
    assert.equal(hit.usage.outputTokens, 0);
  });
}

function expectFakeAnswer(api, content, has) {
  const text = content.filter((part) => part.type === 'text');
  assert.equal(text.length, 1, JSON.stringify(content));
  assert.match(text[0].text, /^answer \d+ to /);
  const reasoning = content.filter((part) => part.type === 'reasoning');
  if (has.reasoning) {
    assert.equal(reasoning.length, 1, JSON.stringify(content));
    assert.equal(reasoning[0].text, fakeReasoning);
    api.checkReasoning(reasoning[0]);
  }
  const calls = content.filter((part) => part.type === 'tool-call');
  if (has.toolCall) {
    assert.equal(calls.length, 1, JSON.stringify(content));
    assert.deepEqual({ toolName: calls[0].toolName, input: calls[0].input }, fakeToolCall);
  }
}

// Stream parts without what legitimately differs between a miss and a hit: the response's
// headers (X-Cache, Age, rate limits) and, for APIs whose answers carry no creation time, the
// timestamp the SDK takes from the clock.
function comparable(parts) {
  return parts.map((part) => {
    if (part.type !== 'finish-step') return part;
    const { headers, timestamp, ...response } = part.response;
    return { ...part, response };
  });
}

// Through JSON, so that a member set to undefined equals an absent one.
function byType(content) {
  const order = ['reasoning', 'text', 'tool-call'];
  return JSON.parse(
    JSON.stringify(order.map((type) => content.filter((part) => part.type === type))),
  );
}

function tokenCounts(usage) {
  return {
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    totalTokens: usage.totalTokens,
  };
}
