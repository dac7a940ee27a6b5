// Without the Cloud Controller nothing refuses a GPU boot up front: the fifth K2 server is accepted
// (202), the scheduler finds no host, and the page shows the scheduler's reason from the server's
// fault next to the launch form.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, signIn, startCloud } from './cloud.mjs';

let cloud;
let browser;
let page;

before(async () => {
  cloud = await startCloud();
  browser = await launchBrowser();
  page = await browser.context.newPage();
});

after(async () => {
  if (browser) await browser.close();
  if (cloud) await cloud.stop();
});

test('a boot that finds no valid host shows the scheduler reason next to the form', async () => {
  await signIn(page, cloud.url, cloud.admin);
  for (let i = 1; i <= 5; ++i) {
    await page.getByLabel('Service', { exact: true }).selectOption({ label: 'my_new_image (loginNode)' });
    await page.getByLabel('Flavor', { exact: true }).selectOption('4');
    await page.getByLabel('Name', { exact: true }).fill(`gpu-${i}`);
    await page.getByRole('button', { name: 'Launch', exact: true }).click();
    await page.waitForFunction((n) => document.querySelector(`[data-testid="state-gpu-${n}"]`), i);
    if (i < 5) {
      await page.waitForFunction((n) =>
        document.querySelector(`[data-testid="state-gpu-${n}"]`).textContent !== 'BUILD', i, { timeout: 30000 });
    }
  }
  await page.waitForFunction(() => document.querySelector('#launch-error').textContent.length > 0,
    null, { timeout: 30000 });
  const text = await page.locator('#launch-error').textContent();
  assert.match(text, /^No host can take gpu-5 now\. The scheduler says: No valid host was found/);
  assert.equal(await page.getByTestId('state-gpu-5').textContent(), 'ERROR');
  assert.equal(await page.getByTestId('free-K2_Grid').textContent(), '0');
  await screenshot(page, 'no-valid-host');
});
