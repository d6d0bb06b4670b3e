// Where the C++ build put the binaries these tests drive: OPENCODE_CACHE_BUILD_DIR, else the
// repository's build/release (what scripts/test builds).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repository = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function builtBinary(relativePath) {
  const buildDir = process.env.OPENCODE_CACHE_BUILD_DIR ?? join(repository, 'build', 'release');
  const path = join(buildDir, relativePath);
  if (!existsSync(path)) {
    throw new Error(
      `${path} does not exist: build it first (cmake --build ${buildDir} --target ` +
        `opencode-cache-server fake_upstream), or set OPENCODE_CACHE_BUILD_DIR`,
    );
  }
  return path;
}
