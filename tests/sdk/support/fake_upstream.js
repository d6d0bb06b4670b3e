// The C++ suite's fake provider (tests/server/support/fake_upstream.hpp) as a process: the
// same Chat Completions, Responses and Messages answers the gateway's own tests record, so
// these tests show that what those tests store is what the real SDKs parse.
import { Child } from './child.js';
import { builtBinary } from './build_dir.js';

export async function startFakeUpstream() {
  const child = new Child('fake_upstream', builtBinary('tests/server/fake_upstream'), []);
  const port = await child.waitFor((line) => line.match(/^port (\d+)$/)?.[1]);
  let queue = Promise.resolve();
  return {
    port: Number(port),
    url: `http://127.0.0.1:${port}/v1`,
    // The requests it has received so far (one "calls" line in, one number out, in turn).
    calls() {
      const answer = queue.then(() => {
        const reply = child.waitFor((line) => line.match(/^(\d+)$/)?.[1], {
          what: 'answer to "calls"',
          onlyNew: true,
        });
        child.process.stdin.write('calls\n');
        return reply.then(Number);
      });
      queue = answer.catch(() => {});
      return answer;
    },
    stop: () => child.stop(),
  };
}
