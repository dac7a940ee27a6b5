// CTest's entry to the browser tests: skips (exit 77) when chromium or playwright-core is not
// installed (scripts/setup.sh installs both), else runs the tests with node's test runner.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const playwright = path.resolve(here, '..', '..', 'web', 'node_modules', 'playwright-core');
for (const [what, p] of [['chromium', chromium], ['playwright-core (npm ci in web/)', playwright]]) {
  if (!fs.existsSync(p)) {
    console.log(`SKIP: ${what} is not installed (${p}); run scripts/setup.sh`);
    process.exit(77);
  }
}
const files = process.argv.length > 2 ? process.argv.slice(2)
  : fs.readdirSync(here).filter((f) => f.endsWith('.test.mjs')).map((f) => path.join(here, f));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
