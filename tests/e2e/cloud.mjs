// Test fixtures for the portal's browser tests: a `gpucloud up` on a free port in a fresh data
// directory, the admin credentials it wrote, a small API client, and Debian's chromium through
// playwright-core (installed by `npm ci` in web/).
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
const require = createRequire(path.join(repoRoot, 'web', 'package.json'));
export const { chromium } = require('playwright-core');

export const outputDir = process.env.GPUCLOUD_E2E_OUT || fs.mkdtempSync(path.join(os.tmpdir(), 'gpucloud-e2e-out-'));
fs.mkdirSync(outputDir, { recursive: true });

export function gpucloudBinary() {
  if (process.env.GPUCLOUD_BINARY) return process.env.GPUCLOUD_BINARY;
  for (const dir of ['build', 'build-portal']) {
    const p = path.join(repoRoot, dir, 'gpucloud');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('no gpucloud binary: set GPUCLOUD_BINARY');
}

// Starts `gpucloud up --port 0` in a fresh data directory; `extraArgs(dataDir)` adds options.
// Resolves once it printed its URL.
export async function startCloud(extraArgs = () => []) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpucloud-e2e-'));
  const args = ['up', '--port', '0', '--data-dir', dataDir, ...extraArgs(dataDir)];
  const child = spawn(gpucloudBinary(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gpucloud up printed no URL:\n${out}`)), 60000);
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/gpucloud is up in [\d.]+ s: (http\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => { out += c; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`gpucloud up exited ${code}:\n${out}`)); });
  });
  const openrc = fs.readFileSync(path.join(dataDir, 'openrc'), 'utf8');
  const value = (name) => {
    const m = openrc.match(new RegExp(`${name}=['"]?([^'"\\n]*)`));
    return m ? m[1] : '';
  };
  return {
    url,
    dataDir,
    admin: { name: value('OS_USERNAME'), password: value('OS_PASSWORD'), project: value('OS_PROJECT_NAME') },
    output: () => out,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => { if (child.exitCode !== null) r(); else child.on('exit', r); });
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// A token for direct API calls from the test (never through the page).
export async function apiToken(url, { name, password, project }) {
  const res = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ auth: {
      identity: { methods: ['password'], password: { user: { name, password, domain: { id: 'default' } } } },
      scope: { project: { name: project, domain: { id: 'default' } } },
    } }),
  });
  if (res.status !== 201) throw new Error(`token: ${res.status} ${await res.text()}`);
  return res.headers.get('x-subject-token');
}

export async function call(url, token, method, p, body, contentType = 'application/json') {
  const res = await fetch(`${url}${p}`, {
    method,
    headers: { 'X-Auth-Token': token, 'Content-Type': contentType },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = text; }
  return { status: res.status, body: json };
}

// A user with one role on a project, made through the identity API as an operator would.
export async function createUser(url, adminToken, { name, password, project, role }) {
  const projects = await call(url, adminToken, 'GET', '/identity/v3/projects');
  const proj = projects.body.projects.find((p) => p.name === project);
  const roles = await call(url, adminToken, 'GET', '/identity/v3/roles');
  const r = roles.body.roles.find((x) => x.name === role);
  const user = await call(url, adminToken, 'POST', '/identity/v3/users',
    { user: { name, password, default_project_id: proj.id, domain_id: 'default', enabled: true } });
  if (user.status !== 201) throw new Error(`create user: ${user.status} ${JSON.stringify(user.body)}`);
  const grant = await call(url, adminToken, 'PUT',
    `/identity/v3/projects/${proj.id}/users/${user.body.user.id}/roles/${r.id}`);
  if (grant.status !== 204) throw new Error(`grant role: ${grant.status}`);
  return user.body.user;
}

// One persistent context in a fresh profile directory (playwright refuses --user-data-dir in
// args); tests switch users by clearing its cookies.
export async function launchBrowser() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpucloud-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page, name) {
  await page.screenshot({ path: path.join(outputDir, `${name}.png`), fullPage: true });
}

export async function signIn(page, url, { name, password, project }) {
  await page.context().clearCookies();
  await page.goto(`${url}/portal/`);
  await page.getByLabel('User name', { exact: true }).fill(name);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel(/^Project/).fill(project || '');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#app-view').waitFor({ state: 'visible' });
}

// Whether this gpucloud binary has the Cloud Controller (admission check, readiness probes).
export function hasController() {
  const r = spawnSync(gpucloudBinary(), ['up', '--help'], { encoding: 'utf8' });
  return (r.stdout || '').includes('--cloudcontroller');
}

// The controller's file for `up`: admission on the cloud's own pci_devices table (K2 = 11bf),
// quick readiness probes.
export function controllerArgs(dataDir) {
  const ini = path.join(dataDir, 'cloudcontroller.ini');
  fs.writeFileSync(ini, [
    '[app:main]',
    `openstack.gpu_query = sqlite:///${dataDir}/gpucloud.sqlite`,
    'openstack.gpu_pci_ids = 11bf',
    'gpucloud.readiness_interval = 0.5',
    'gpucloud.readiness_max_interval = 1',
    'gpucloud.readiness_probe_timeout = 1',
    '',
  ].join('\n'));
  return ['--cloudcontroller', ini];
}

// A public service image (image_type, service_type, service_url) with a little data, so active.
// `properties` are more image properties (e.g. gpucloud_fake_service: 'down', a simulated guest
// whose service never starts: docs/fake_driver.md).
export async function createServiceImage(url, token, { name, serviceType, serviceUrl, properties = {} }) {
  const created = await call(url, token, 'POST', '/image/v2/images', {
    name, visibility: 'public', disk_format: 'raw', container_format: 'bare', min_disk: 1,
    min_ram: 512, image_type: 'webservice', service_type: serviceType, service_url: serviceUrl,
    ...properties,
  });
  if (created.status !== 201) throw new Error(`image create: ${created.status} ${JSON.stringify(created.body)}`);
  const up = await call(url, token, 'PUT', `/image/v2/images/${created.body.id}/file`, 'x'.repeat(1024),
    'application/octet-stream');
  if (up.status !== 204) throw new Error(`image upload: ${up.status}`);
  return created.body;
}

