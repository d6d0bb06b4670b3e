// The real opencode-cache-server binary on a port of its own (it binds 127.0.0.1:0 and prints
// the port it got), on the given Valkey and provider ({url}), configured only by its
// environment; returned once it is ready.
import { Child } from './child.js';
import { builtBinary } from './build_dir.js';

export async function startGateway({ valkey, upstream, env = {} }) {
  const environment = { ...process.env };
  // The machine's own settings must not leak into the test's gateway.
  for (const name of Object.keys(environment)) {
    if (/^(VALKEY_|CACHE_|RATE_LIMIT_|OPENCODE_CACHE_)/.test(name)) delete environment[name];
  }
  Object.assign(environment, {
    OPENCODE_CACHE_LISTEN: '127.0.0.1:0',
    OPENCODE_CACHE_THREADS: '1',
    OPENCODE_CACHE_UPSTREAM: upstream.url,
    VALKEY_HOST: valkey.host,
    VALKEY_PORT: String(valkey.port),
    ...env,
  });
  const child = new Child('opencode-cache-server', builtBinary('bin/opencode-cache-server'), [], {
    env: environment,
  });
  const port = await child.waitFor((line) => {
    if (!line.startsWith('{')) return undefined;
    const entry = JSON.parse(line);
    return entry.msg === 'listening' ? Number(entry.address.split(':').pop()) : undefined;
  });
  const gateway = {
    port,
    url: `http://127.0.0.1:${port}`,
    log: () => child.tail(),
    // SIGTERM drains running requests; the exit status tells whether it stopped cleanly.
    stop: () => child.stop(),
  };
  try {
    await untilReady(gateway);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return gateway;
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
