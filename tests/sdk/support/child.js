// A child process of a test: its output read line by line, readiness learnt from what it
// prints (never from a sleep), and a stop that waits for it to exit.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const live = new Set();
// A test process that fails or is interrupted still takes its servers with it.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class Child {
  constructor(name, command, args, { env = process.env } = {}) {
    this.name = name;
    this.log = [];
    this.process = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this.process);
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        live.delete(this.process);
        resolve({ code, signal });
      });
    });
    this.spawnError = new Promise((_, reject) => {
      this.process.on('error', (error) => reject(new Error(`${name}: ${error.message}`)));
    });
    this.spawnError.catch(() => {});
    this.listeners = new Set();
    for (const stream of [this.process.stdout, this.process.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.log.push(line);
        for (const listener of this.listeners) listener(line);
      });
    }
  }

  // The first line for which `match` returns a value: among those already printed too, unless
  // `onlyNew`.
  waitFor(match, { timeoutMs = 10000, what = 'its ready line', onlyNew = false } = {}) {
    for (const line of onlyNew ? [] : this.log) {
      const found = match(line);
      if (found !== undefined && found !== null && found !== false) return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const done = (fn, value) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        fn(value);
      };
      const listener = (line) => {
        const found = match(line);
        if (found !== undefined && found !== null && found !== false) done(resolve, found);
      };
      const timer = setTimeout(
        () =>
          done(
            reject,
            new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`),
          ),
        timeoutMs,
      );
      this.listeners.add(listener);
      this.exited.then(({ code, signal }) =>
        done(
          reject,
          new Error(`${this.name} exited (${signal ?? code}) before ${what}\n${this.tail()}`),
        ),
      );
      this.spawnError.catch((error) => done(reject, error));
    });
  }

  tail(lines = 30) {
    return this.log.slice(-lines).join('\n');
  }

  // SIGTERM, then SIGKILL if it has not exited after `graceMs`.
  async stop({ graceMs = 5000 } = {}) {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return this.exited;
    this.process.stdin.end();
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}
