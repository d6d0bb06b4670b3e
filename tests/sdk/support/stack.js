// Valkey, the fake provider and gateways, started for one test file and stopped after it.
import { after, before } from 'node:test';
import { startFakeUpstream } from './fake_upstream.js';
import { startGateway } from './gateway.js';
import { startValkey } from './valkey.js';

export function useStack() {
  const stack = {
    valkey: null,
    upstream: null,
    gateways: [],
    async gateway(env = {}) {
      const gateway = await startGateway({ valkey: stack.valkey, upstream: stack.upstream, env });
      stack.gateways.push(gateway);
      return gateway;
    },
  };
  before(async () => {
    stack.valkey = await startValkey();
    stack.upstream = await startFakeUpstream();
  });
  after(async () => {
    const stopped = await Promise.all(stack.gateways.map((gateway) => gateway.stop()));
    await stack.upstream?.stop();
    await stack.valkey?.stop();
    // A gateway that does not drain cleanly on SIGTERM is a failure too.
    for (const [i, status] of stopped.entries()) {
      if (status.code !== 0) {
        throw new Error(
          `gateway exited with ${status.signal ?? status.code}\n${stack.gateways[i].log()}`,
        );
      }
    }
  });
  return stack;
}
