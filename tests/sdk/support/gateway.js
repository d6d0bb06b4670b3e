// The real opencode-cache-server binary on a port of its own (it binds 127.0.0.1:0 and prints
// the port it got), on the given Valkey and fake provider, configured only by its environment.
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
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    log: () => child.tail(),
    // SIGTERM drains running requests; the exit status tells whether it stopped cleanly.
    stop: () => child.stop(),
  };
}
