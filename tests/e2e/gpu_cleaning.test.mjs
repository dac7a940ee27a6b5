// A deleted server's GPU is cleaned before it is free again: the admin view shows it `cleaning`,
// then (its cleaning fails on this host) `unavailable` with the reason, and the model line counts
// it out of service.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { apiToken, call, launchBrowser, repoRoot, screenshot, signIn, startCloud } from './cloud.mjs';

let cloud;
let browser;
let page;

before(async () => {
  // The seed's hosts, with vmhost3 taking 4 s to clean and 0000:06:00.0 failing its cleaning.
  const hosts = JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples/seed/fake_hosts.json'), 'utf8'));
  const vmhost3 = hosts.hosts.find((h) => h.name === 'vmhost3');
  vmhost3.clean_ms = 4000;
  vmhost3.pci_devices[0].clean_fails = 'check: AER fatal errors 0 -> 3';
  cloud = await startCloud((dataDir) => {
    const file = path.join(dataDir, 'hosts.json');
    fs.writeFileSync(file, JSON.stringify(hosts));
    return ['--fake-hosts', file];
  });
  browser = await launchBrowser();
  page = await browser.context.newPage();
});

after(async () => {
  if (browser) await browser.close();
  if (cloud) await cloud.stop();
});

test('a deleted GPU server\'s device shows cleaning, then out of service with the reason', async () => {
  const token = await apiToken(cloud.url, cloud.admin);
  const images = await call(cloud.url, token, 'GET', '/image/v2/images?name=my_new_image');
  const image = images.body.images[0].id;
  const created = await call(cloud.url, token, 'POST', '/compute/v2.1/servers',
    { server: { name: 'gpu-clean', flavorRef: '4', imageRef: image } });
  assert.equal(created.status, 202);
  const id = created.body.server.id;
  for (let i = 0; i < 300; ++i) {
    const s = await call(cloud.url, token, 'GET', `/compute/v2.1/servers/${id}`);
    if (s.body.server.status !== 'BUILD') {
      assert.equal(s.body.server.status, 'ACTIVE');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await signIn(page, cloud.url, cloud.admin);
  await page.locator('#admin-view').waitFor({ state: 'visible' });
  // The project's own use, beside the free counts.
  await page.getByTestId('usage-K2_Grid').waitFor({ timeout: 30000 });
  assert.match(await page.getByTestId('usage-K2_Grid').textContent(),
    /^Your project: 1 K2_Grid in use, no quota$/);
  assert.equal((await call(cloud.url, token, 'DELETE', `/compute/v2.1/servers/${id}`)).status, 204);

  const row = page.locator('#host-gpus tbody tr', { hasText: '0000:06:00.0' });
  await page.waitForFunction(() => [...document.querySelectorAll('#host-gpus tbody tr')]
    .some((r) => r.textContent.includes('0000:06:00.0') && r.textContent.includes('cleaning')),
  null, { timeout: 30000 });
  assert.match(await page.locator('#gpu-models').textContent(), /1 being cleaned/);
  await screenshot(page, 'gpu-cleaning');
  await page.waitForFunction(() => [...document.querySelectorAll('#host-gpus tbody tr')]
    .some((r) => r.textContent.includes('0000:06:00.0') && r.textContent.includes('unavailable')),
  null, { timeout: 30000 });
  assert.match(await row.textContent(), /cleaning failed: check: AER fatal errors 0 -> 3/);
  assert.match(await page.locator('#gpu-models').textContent(), /1 out of service/);
  await screenshot(page, 'gpu-out-of-service');
});
