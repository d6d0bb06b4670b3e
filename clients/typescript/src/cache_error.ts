// What a failed call to the server reports: the server's error code when it answered, and
// whether the failure means the cache cannot be used right now (the server or Valkey is down)
// rather than that this one request was wrong.

export class CacheError extends Error {
  override readonly name = 'CacheError';
  /** The HTTP status, or 0 when the server could not be reached or did not answer in time. */
  readonly status: number;
  /** The server's error code (`not_found`, `cache_unavailable`, ...), or `unreachable`, `timeout`. */
  readonly code: string;

  constructor(message: string, status: number, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
  }

  /** True when no request can succeed for now: unreachable, timed out, or a 5xx. */
  get unavailable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}
