// The portal in a real browser against `gpucloud up`: the seed's cloud has one GPU host (vmhost3)
// with four K2 GPUs behind alias K2_Grid, and GPU flavors 4 and 5. The tests run in order and
// share the cloud: each step builds on what the one before left running.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiToken, call, controllerArgs, createServiceImage, createUser, hasController, launchBrowser,
  outputDir, screenshot, signIn, startCloud,
} from './cloud.mjs';

let cloud;
let browser;
let page;
let adminToken;
const withController = hasController();

before(async () => {
  cloud = await startCloud(withController ? controllerArgs : () => []);
  adminToken = await apiToken(cloud.url, cloud.admin);
  // The fake driver starts a stand-in service on each guest's loopback address (on a port of its
  // own, which it reports as the guest's 8080), so the server's probes reach the guest itself.
  await createServiceImage(cloud.url, adminToken,
    { name: 'e2e-notebook', serviceType: 'notebook', serviceUrl: 'http://{}:8080/' });
  await createServiceImage(cloud.url, adminToken, {
    name: 'e2e-down', serviceType: 'notebook', serviceUrl: 'http://{}:8080/',
    properties: { gpucloud_fake_service: 'down' },
  });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  console.log(`screenshots in ${outputDir}`);
});

after(async () => {
  if (browser) await browser.close();
  if (cloud) await cloud.stop();
});

const freeK2 = () => page.getByTestId('free-K2_Grid');
async function waitForFreeK2(n) {
  await page.waitForFunction((want) => {
    const e = document.querySelector('[data-testid="free-K2_Grid"]');
    return e && e.textContent === String(want);
  }, n, { timeout: 30000 });
}

async function launch(name, service = 'my_new_image (loginNode)', flavor = '4') {
  await page.getByLabel('Service', { exact: true }).selectOption({ label: service });
  await page.getByLabel('Flavor', { exact: true }).selectOption(flavor);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Launch', exact: true }).click();
}

async function serverBody(name) {
  const list = await call(cloud.url, adminToken, 'GET', '/compute/v2.1/servers/detail?all_tenants=1');
  return list.body.servers.find((s) => s.name === name);
}

test('the portal is served: / redirects, types, no traversal, no test tooling', async () => {
  const root = await fetch(`${cloud.url}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/portal/');
  const js = await fetch(`${cloud.url}/portal/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.equal(js.headers.get('cache-control'), 'no-cache');
  const again = await fetch(`${cloud.url}/portal/app.js`, { headers: { 'If-None-Match': js.headers.get('etag') } });
  assert.equal(again.status, 304);
  // The page's whole JavaScript stays small (the budget: under 100 KB).
  assert.ok((await js.clone().arrayBuffer()).byteLength < 100 * 1024);
  for (const p of ['/portal/package.json', '/portal/node_modules/playwright-core/package.json',
    '/portal/%2e%2e/CMakeLists.txt', '/portal/..%2fCMakeLists.txt', '/portal/.gitignore']) {
    const r = await fetch(`${cloud.url}${p}`);
    assert.equal(r.status, 404, p);
  }
});

test('sign in with the Keystone credentials and see the login-node image in the catalogue', async () => {
  // By keyboard alone: the page focuses the user name; Tab moves on; Enter submits.
  await page.goto(`${cloud.url}/`);
  await page.locator('#si-name:focus').waitFor();
  await page.keyboard.type(cloud.admin.name);
  await page.keyboard.press('Tab');
  await page.keyboard.type(cloud.admin.password);
  await page.keyboard.press('Tab');
  await page.keyboard.type(cloud.admin.project);
  await page.keyboard.press('Enter');
  await page.locator('#app-view').waitFor({ state: 'visible' });
  const service = page.locator('[data-image="my_new_image"]');
  await service.waitFor();
  const text = await service.textContent();
  assert.match(text, /loginnode/);
  assert.match(text, /1 × K2_Grid GPU/);  // flavors 4 and 5 fit it; their GPU shows
  assert.match(await page.locator('#catalogue h3').first().textContent(), /loginNode/);
  // The session cookie is HttpOnly and SameSite=Strict: page scripts cannot read it.
  const cookies = await browser.context.cookies(cloud.url);
  const session = cookies.find((c) => c.name === 'gpucloud_session');
  assert.ok(session, 'session cookie set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie.includes('gpucloud_session')), false);
  assert.equal(await freeK2().textContent(), '4');
  await screenshot(page, 'signed-in');
});

test('the cookie counts only with the X-Requested-With header (CSRF)', async () => {
  const cookies = await browser.context.cookies(cloud.url);
  const cookie = `gpucloud_session=${cookies.find((c) => c.name === 'gpucloud_session').value}`;
  const bare = await fetch(`${cloud.url}/compute/v2.1/servers`, { headers: { Cookie: cookie } });
  assert.equal(bare.status, 401);
  const withHeader = await fetch(`${cloud.url}/compute/v2.1/servers`,
    { headers: { Cookie: cookie, 'X-Requested-With': 'test' } });
  assert.equal(withHeader.status, 200);
});

test('launch a GPU service: the free K2 count drops, ACTIVE, then READY when the service answers', async () => {
  await launch('svc-1', 'e2e-notebook (notebook)');
  await waitForFreeK2(3);
  const state = page.getByTestId('state-svc-1');
  await page.waitForFunction(() => {
    const e = document.querySelector('[data-testid="state-svc-1"]');
    return e && (e.textContent === 'ACTIVE' || e.textContent === 'READY');
  }, null, { timeout: 30000 });
  const body = await serverBody('svc-1');
  assert.ok(withController, 'gpucloud up has the Cloud Controller (--cloudcontroller)');
  assert.ok('gpucloud:readiness' in body, 'servers show gpucloud:readiness');
  // The fake driver gives each guest a loopback address of its host's network, where its
  // stand-in service answers.
  const addresses = Object.values(body.addresses || {}).flat();
  assert.equal(addresses.length, 1, `svc-1 has one address: ${JSON.stringify(body.addresses)}`);
  const ip = addresses[0].addr;
  assert.match(ip, /^127\.0\.\d+\.\d+$/);
  // The service link is the image's service_url with the server's address.
  const link = page.locator('tr[data-server="svc-1"] a');
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), `http://${ip}:8080/`);
  // READY once the controller's probe reached the guest's stand-in service.
  await page.waitForFunction(() =>
    document.querySelector('[data-testid="state-svc-1"]')?.textContent === 'READY', null, { timeout: 60000 });
  const ready = (await serverBody('svc-1'))['gpucloud:readiness'];
  assert.equal(ready.state, 'ready');
  assert.equal(ready.error, null);
  await screenshot(page, 'launched');
});

test('a service that does not answer stays ACTIVE, waiting, with the probe\'s reason', async () => {
  // A plain flavor: no GPU, so the GPU count the next tests rely on stays as it is.
  await launch('svc-down', 'e2e-down (notebook)', '2');
  await page.waitForFunction(() =>
    (document.querySelector('[data-testid="detail-svc-down"]')?.textContent || '').includes('HTTP 503'),
  null, { timeout: 60000 });
  const detail = await page.getByTestId('detail-svc-down').textContent();
  assert.match(detail, /^waiting: GET http:\/\/127\.0\.\d+\.\d+:\d+\/: HTTP 503$/);
  assert.equal(await page.getByTestId('state-svc-down').textContent(), 'ACTIVE');
  const r = (await serverBody('svc-down'))['gpucloud:readiness'];
  assert.equal(r.state, 'waiting');
  assert.match(r.error, /HTTP 503/);
  // /metrics counts it among the waiting servers, svc-1 among the ready ones.
  const metrics = await call(cloud.url, adminToken, 'GET', '/metrics');
  const text = typeof metrics.body === 'string' ? metrics.body : JSON.stringify(metrics.body);
  assert.match(text, /gpucloud_server_readiness\{state="waiting"\} [1-9]/);
  assert.match(text, /gpucloud_server_readiness\{state="ready"\} [1-9]/);
  await screenshot(page, 'readiness-waiting');
});

test('launch until the GPUs run out and see why next to the form', async () => {
  for (const [i, left] of [[2, 2], [3, 1], [4, 0]]) {
    await launch(`svc-${i}`);
    await waitForFreeK2(left);
  }
  await launch('svc-5');
  const error = page.locator('#launch-error');
  await page.waitForFunction(() => document.querySelector('#launch-error').textContent.length > 0,
    null, { timeout: 30000 });
  const text = await error.textContent();
  assert.match(text, /in use|No host can take/);
  assert.match(text, /K2|GPU|PCI|pci/);
  await screenshot(page, 'gpus-exhausted');
});

test('delete with confirmation and see the free count rise', async () => {
  const row = page.locator('tr[data-server="svc-1"]');
  await row.getByRole('button', { name: 'Delete svc-1' }).click();
  // The confirmation takes the focus, so Enter confirms.
  const confirm = row.getByRole('button', { name: 'Yes, delete svc-1' });
  await confirm.waitFor();
  assert.equal(await confirm.evaluate((e) => e === document.activeElement), true);
  await page.keyboard.press('Enter');
  await waitForFreeK2(1);
  await row.waitFor({ state: 'detached', timeout: 30000 });
  await screenshot(page, 'deleted');
});

test('admins see hosts, aggregates and which instance holds each GPU', async () => {
  await page.locator('#admin-view').waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.querySelectorAll('#host-gpus tbody tr').length === 4,
    null, { timeout: 30000 });
  const gpus = await page.locator('#host-gpus tbody').textContent();
  assert.match(gpus, /vmhost3/);
  assert.match(gpus, /svc-2/);
  assert.match(await page.locator('#aggregates tbody').textContent(), /GPU.*Denver.*vmhost3.*gpu=true/s);
  assert.match(await page.locator('#hosts tbody').textContent(), /vmhost1/);
  await screenshot(page, 'admin');
});

test('readable at 400 px wide: nothing scrolls sideways but tables', async () => {
  await page.setViewportSize({ width: 400, height: 900 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter((e) => !e.closest('.scroll') && e.getBoundingClientRect().right > 400)
    .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`).join(' '));
  assert.ok(width <= 400, `page is ${width} px wide: ${wide}`);
  await screenshot(page, 'narrow-400px');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('sign out revokes the token', async () => {
  const cookies = await browser.context.cookies(cloud.url);
  const cookie = `gpucloud_session=${cookies.find((c) => c.name === 'gpucloud_session').value}`;
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#sign-in-view').waitFor({ state: 'visible' });
  const r = await fetch(`${cloud.url}/compute/v2.1/servers`,
    { headers: { Cookie: cookie, 'X-Requested-With': 'test' } });
  assert.equal(r.status, 401);
  await screenshot(page, 'signed-out');
});

test('a reader sees the cloud but cannot launch', async () => {
  const reader = { name: 'e2e-reader', password: 'reader-pass-1', project: cloud.admin.project };
  await createUser(cloud.url, adminToken, { ...reader, role: 'reader' });
  await signIn(page, cloud.url, reader);
  await page.locator('[data-image="my_new_image"]').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Launch', exact: true }).isDisabled(), true);
  assert.equal(await page.getByRole('button', { name: 'Launch my_new_image' }).isDisabled(), true);
  assert.match(await page.locator('#launch-needs').textContent(), /only allows looking/);
  assert.equal(await page.locator('#admin-view').isVisible(), false);
  // The API refuses too, whatever the page shows.
  const status = await page.evaluate(async () => {
    const r = await fetch('/compute/v2.1/servers', {
      method: 'POST',
      headers: { 'X-Requested-With': 'gpucloud-portal', 'Content-Type': 'application/json' },
      body: JSON.stringify({ server: { name: 'nope', imageRef: 'x', flavorRef: '4' } }),
    });
    return r.status;
  });
  assert.equal(status, 403);
  // Free GPUs per model for everyone; the per-host list is for admins only.
  const gpus = await page.evaluate(async () => (await fetch('/compute/v2.1/gpucloud-gpus',
    { headers: { 'X-Requested-With': 'gpucloud-portal' } })).json());
  assert.equal(gpus.gpus[0].alias, 'K2_Grid');
  assert.equal(gpus.gpus[0].total, 4);
  assert.equal('hosts' in gpus, false);
  await screenshot(page, 'reader');
});
