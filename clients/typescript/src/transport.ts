// One request to the server's /api: the credentials, a deadline, JSON in and out, and every
// failure (network, timeout, an error status) as a CacheError.
import { CacheError } from './cache_error.js';

export interface TransportOptions {
  baseUrl: string;
  apiKey?: string | undefined;
  adminToken?: string | undefined;
  timeoutMs: number;
  fetch: typeof fetch;
}

export interface Call {
  method: 'GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  admin?: boolean;
  /** Added to the deadline: the time the server is asked to hold the request. */
  holdMs?: number;
}

export interface Answer {
  status: number;
  /** The parsed body; undefined for 204 and 404. */
  value: unknown;
}

export class Transport {
  private readonly base: string;

  constructor(private readonly options: TransportOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
  }

  /** The answer for a 2xx or a 404 (which callers read as "nothing there"); throws otherwise. */
  async send(call: Call): Promise<Answer> {
    const url = new URL(`${this.base}/api/${call.path}`);
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
    if (this.options.apiKey !== undefined) headers['x-opencode-cache-key'] = this.options.apiKey;
    if (call.admin && this.options.adminToken !== undefined) {
      headers.authorization = `Bearer ${this.options.adminToken}`;
    }
    let body: string | undefined;
    if (call.body !== undefined) {
      body = JSON.stringify(call.body);
      headers['content-type'] = 'application/json';
    }
    const deadline = this.options.timeoutMs + (call.holdMs ?? 0);
    let response: Response;
    let text: string;
    try {
      response = await this.options.fetch(url, {
        method: call.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(deadline),
      });
      text = await response.text();
    } catch (error) {
      const timedOut = error instanceof Error && error.name === 'TimeoutError';
      throw new CacheError(
        timedOut
          ? `${call.method} ${url.pathname}: no answer within ${deadline} ms`
          : `${call.method} ${url.pathname}: ${this.base} cannot be reached`,
        0,
        timedOut ? 'timeout' : 'unreachable',
        { cause: error },
      );
    }
    if (response.status === 404 && errorCode(text) === 'not_found') {
      return { status: 404, value: undefined };
    }
    if (response.status < 200 || response.status >= 300) {
      throw failure(call, url, response.status, text);
    }
    return { status: response.status, value: text === '' ? undefined : parse(call, url, text) };
  }
}

function errorCode(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    const error = (parsed as { error?: { code?: unknown } } | null)?.error;
    return typeof error?.code === 'string' ? error.code : undefined;
  } catch {
    return undefined;
  }
}

function failure(call: Call, url: URL, status: number, text: string): CacheError {
  let message = `${call.method} ${url.pathname}: status ${status}`;
  let code = `http_${status}`;
  try {
    const error = (JSON.parse(text) as { error?: { message?: unknown; code?: unknown } }).error;
    if (typeof error?.message === 'string') message += `: ${error.message}`;
    if (typeof error?.code === 'string') code = error.code;
  } catch {
    // Not the server's JSON error (a proxy in between, say): the status says enough.
  }
  return new CacheError(message, status, code);
}

function parse(call: Call, url: URL, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CacheError(
      `${call.method} ${url.pathname}: the answer is not JSON`,
      502,
      'invalid_answer',
      {
        cause: error,
      },
    );
  }
}
