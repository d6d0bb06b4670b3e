// A real valkey-server and the real opencode-cache-server for the client's tests, started with
// the fixtures of tests/sdk (free loopback ports, readiness read from their output, clean stop).
import { startGateway } from '../../../tests/sdk/support/gateway.js';
import { startValkey } from '../../../tests/sdk/support/valkey.js';

export const adminToken = 'test-admin-token-0123456789';

export interface TestServer {
  url: string;
  stopGateway(): Promise<void>;
  stopValkey(): Promise<void>;
  /** Valkey again, on the port the gateway knows. */
  restartValkey(): Promise<void>;
  stop(): Promise<void>;
}

export async function startServer(env: Record<string, string> = {}): Promise<TestServer> {
  let valkey = await startValkey();
  // The app API never calls a provider: nothing listens at this one.
  const upstream = { url: 'http://127.0.0.1:9/v1' };
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway({
      valkey,
      upstream,
      env: { OPENCODE_CACHE_ADMIN_TOKEN: adminToken, ...env },
    });
  } catch (error) {
    await valkey.stop();
    throw error;
  }
  let gatewayStopped = false;
  let valkeyStopped = false;
  const stopGateway = async () => {
    if (gatewayStopped) return;
    gatewayStopped = true;
    const status = await gateway.stop();
    if (status.code !== 0)
      throw new Error(`gateway exited with ${status.signal ?? status.code}\n${gateway.log()}`);
  };
  const stopValkey = async () => {
    if (valkeyStopped) return;
    valkeyStopped = true;
    await valkey.stop();
  };
  const restartValkey = async () => {
    await stopValkey();
    valkey = await startValkey({ port: valkey.port });
    valkeyStopped = false;
  };
  return {
    url: gateway.url,
    stopGateway,
    stopValkey,
    restartValkey,
    stop: async () => {
      await stopGateway();
      await stopValkey();
    },
  };
}

/** A promise the test settles when it chooses. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
