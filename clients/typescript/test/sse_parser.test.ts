// The SSE parser on its own: events split anywhere across chunks, any line ending, comments.
import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/event_stream.js';

describe('SseParser', () => {
  it('reads id, event and data, whatever the chunking and line endings', () => {
    const text =
      ': hello\r\nretry: 2000\r\n\r\nid: 1-0\r\nevent: invalidate\r\ndata: {"a":1}\r\n\r\n';
    for (let split = 0; split <= text.length; split++) {
      const parser = new SseParser();
      const events = [...parser.push(text.slice(0, split)), ...parser.push(text.slice(split))];
      expect(events, `split at ${split}`).toEqual([
        { id: '1-0', type: 'invalidate', data: '{"a":1}' },
      ]);
    }
  });

  it('gives an event without id an empty one, and joins data lines', () => {
    const parser = new SseParser();
    expect(parser.push('event: ready\ndata: a\ndata: b\n\nid: 2-0\ndata: x\n\n')).toEqual([
      { id: '', type: 'ready', data: 'a\nb' },
      { id: '2-0', type: 'message', data: 'x' },
    ]);
  });
});
