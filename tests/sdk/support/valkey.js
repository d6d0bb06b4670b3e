// A real valkey-server on a free loopback port, without persistence, in a directory of its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child } from './child.js';
import { freePort } from './free_port.js';

const attempts = 5;

// `port`: that one (to restart a server where its clients look for it), else a free one.
export async function startValkey({ port: wanted } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'opencode-cache-sdk-valkey-'));
  for (let attempt = 1; ; ++attempt) {
    const port = wanted ?? (await freePort());
    const child = new Child('valkey-server', 'valkey-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--logfile',
      '',
    ]);
    try {
      await child.waitFor((line) => line.includes('Ready to accept connections'));
      return {
        host: '127.0.0.1',
        port,
        async stop() {
          await child.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      await child.stop();
      const taken = child.log.some((line) => /address already in use/i.test(line));
      if (!taken || wanted !== undefined || attempt === attempts) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}
