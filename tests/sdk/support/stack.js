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
      await untilReady(gateway);
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
        throw new Error(`gateway exited with ${status.signal ?? status.code}\n${stack.gateways[i].log()}`);
      }
    }
  });
  return stack;
}

// /readyz answers 200 once Valkey answers: until then a request would bypass the cache. Checked
// again every 10 ms, for at most 10 s, as the C++ fixtures' eventually() does.
async function untilReady(gateway) {
  const giveUp = Date.now() + 10000;
  for (;;) {
    const response = await fetch(`${gateway.url}/readyz`);
    await response.arrayBuffer();
    if (response.status === 200) return;
    if (Date.now() > giveUp) throw new Error(`gateway not ready after 10 s\n${gateway.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
