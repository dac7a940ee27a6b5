// The seed's SPICE console in a real browser: the URL that `openstack console url show --spice`
// answers loads Debian's spice-html5 from the server (its Content-Security-Policy must allow the
// page's inline module script and its WebSocket), the page opens /websockify with the token's
// cookie, and the relay reaches the simulated guest's stand-in SPICE server, whose link reply
// (channel not available: a simulated guest has no display) the page reports.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { apiToken, launchBrowser, screenshot, startCloud } from './cloud.mjs';

let cloud;
let browser;

before(async () => {
  cloud = await startCloud();
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (cloud) await cloud.stop();
});

async function api(method, path, token, body, version) {
  const headers = { 'X-Auth-Token': token, 'Content-Type': 'application/json' };
  if (version) headers['OpenStack-API-Version'] = `compute ${version}`;
  const res = await fetch(`${cloud.url}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

test('a SPICE console URL opens in the browser and reaches the guest through the relay', async (t) => {
  if (!fs.existsSync('/usr/share/spice-html5/spice_auto.html')) {
    t.skip('spice-html5 is not installed (scripts/setup.sh installs it)');
    return;
  }
  const token = await apiToken(cloud.url, cloud.admin);
  const images = await api('GET', '/image/v2/images?name=my_new_image', token);
  const created = await api('POST', '/compute/v2.1/servers', token, {
    server: { name: 'console-vm', flavorRef: '4', imageRef: images.body.images[0].id },
  });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const id = created.body.server.id;
  for (let i = 0; i < 300; ++i) {
    const s = await api('GET', `/compute/v2.1/servers/${id}`, token);
    if (s.body.server.status !== 'BUILD') {
      assert.equal(s.body.server.status, 'ACTIVE');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const rc = await api('POST', `/compute/v2.1/servers/${id}/remote-consoles`, token,
    { remote_console: { protocol: 'spice', type: 'spice-html5' } }, '2.6');
  assert.equal(rc.status, 200, JSON.stringify(rc.body));
  const url = rc.body.remote_console.url;
  assert.match(url, /\/spice\/spice_auto\.html\?token=/);

  const page = await browser.context.newPage();
  const violations = [];
  let linkError = null;
  const linkErrorSeen = new Promise((resolve) => { linkError = resolve; });
  page.on('console', (m) => {
    if (process.env.GPUCLOUD_E2E_DEBUG) console.log('console:', m.text());
    if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
    // spice-html5 logs the link reply's error (and shows it in its message area).
    if (m.text().includes('reply link error 9')) linkError(m.text());
  });
  if (process.env.GPUCLOUD_E2E_DEBUG) {
    page.on('response', (r) => console.log('response:', r.status(), r.url()));
    page.on('pageerror', (e) => console.log('pageerror:', e.message));
  }
  const frames = [];
  page.on('websocket', (ws) => {
    ws.on('framereceived', (f) => frames.push({ url: ws.url(), payload: f.payload }));
  });
  await page.goto(url);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('spice-html5 reported no link reply in 30 s')), 30000);
  });
  await Promise.race([linkErrorSeen, timeout]).finally(() => clearTimeout(timer));
  assert.deepEqual(violations, []);
  assert.ok(frames.length > 0, 'no WebSocket frame reached the page');
  assert.match(frames[0].url, /\/websockify$/);
  const first = Buffer.isBuffer(frames[0].payload) ? frames[0].payload : Buffer.from(frames[0].payload);
  assert.equal(first.subarray(0, 4).toString('latin1'), 'REDQ');  // the guest's SPICE server
  await screenshot(page, 'spice-console');
  await page.close();
});
