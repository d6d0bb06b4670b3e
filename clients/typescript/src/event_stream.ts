// GET /api/events over fetch streaming: one stream per client, reopened after any failure
// with the id of the last event seen (Last-Event-ID), so that the server replays what was
// missed or says `reset`. Not EventSource: it cannot send the gateway key, and it gives up for
// good on an error answer such as a 503 while Valkey is down.
import { CacheError } from './cache_error.js';

export interface StreamEvent {
  /** The history's id; empty for an event kept in no history. */
  id: string;
  type: string;
  data: string;
}

export interface EventStreamOptions {
  url: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
  /** First delay before reopening; doubled after each failure up to 30 s. */
  retryMs: number;
  onEvent: (event: StreamEvent) => void;
  onError: (error: CacheError) => void;
}

/** Splits SSE text into events as the spec says: fields per line, a blank line ends an event. */
export class SseParser {
  private buffer = '';
  private id = '';
  private type = '';
  private data: string[] = [];

  /** The events completed by `chunk`. */
  push(chunk: string): StreamEvent[] {
    this.buffer += chunk;
    const events: StreamEvent[] = [];
    let end: number;
    while ((end = this.buffer.search(/\r\n|\r|\n/)) !== -1) {
      const line = this.buffer.slice(0, end);
      const breakLength = this.buffer.startsWith('\r\n', end) ? 2 : 1;
      // A lone \r at the end of a chunk may be half of \r\n: wait for the next chunk.
      if (this.buffer[end] === '\r' && end + 1 === this.buffer.length) break;
      this.buffer = this.buffer.slice(end + breakLength);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): StreamEvent | undefined {
    if (line === '') {
      const event =
        this.data.length > 0
          ? { id: this.id, type: this.type || 'message', data: this.data.join('\n') }
          : undefined;
      this.type = '';
      this.data = [];
      this.id = '';
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'id') this.id = value;
    if (field === 'event') this.type = value;
    if (field === 'data') this.data.push(value);
    return undefined;
  }
}

export class EventStream {
  private stopped = false;
  private abort: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastEventId = '';
  private delayMs: number;

  constructor(private readonly options: EventStreamOptions) {
    this.delayMs = options.retryMs;
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const opened = await this.once();
      if (this.stopped) return;
      this.delayMs = opened ? this.options.retryMs : Math.min(this.delayMs * 2, 30000);
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, this.delayMs);
      });
    }
  }

  // One connection until it ends; true when it was opened.
  private async once(): Promise<boolean> {
    this.abort = new AbortController();
    const headers: Record<string, string> = {
      ...this.options.headers,
      accept: 'text/event-stream',
    };
    if (this.lastEventId !== '') headers['last-event-id'] = this.lastEventId;
    let opened = false;
    try {
      const response = await this.options.fetch(this.options.url, {
        headers,
        signal: this.abort.signal,
      });
      if (response.status !== 200 || response.body === null) {
        const text = await response.text();
        throw new CacheError(
          `GET /api/events: status ${response.status}: ${text.slice(0, 200)}`,
          response.status,
          errorCode(text) ?? `http_${response.status}`,
        );
      }
      opened = true;
      const parser = new SseParser();
      const decoder = new TextDecoder();
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          if (event.id !== '') this.lastEventId = event.id;
          this.options.onEvent(event);
        }
      }
    } catch (error) {
      if (this.stopped) return opened;
      this.options.onError(
        error instanceof CacheError
          ? error
          : new CacheError(`GET /api/events: ${String(error)}`, 0, 'unreachable', {
              cause: error,
            }),
      );
    }
    return opened;
  }
}

function errorCode(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}
