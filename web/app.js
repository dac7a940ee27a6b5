// The gpucloud portal: plain JavaScript over the same API the CLIs use. The session token lives in
// an HttpOnly cookie that this script never sees; every request carries X-Requested-With, without
// which the server ignores the cookie (CSRF). Page text is built with DOM nodes, never innerHTML.
'use strict';

const POLL_MS = 2000;
const COMPUTE = '/compute/v2.1';

const state = {
  session: null,
  images: [],       // service images (image_type and service_type set)
  flavors: [],      // with .extra_specs
  gpus: null,       // GET gpucloud-gpus
  servers: [],
  launched: new Set(),  // server ids launched from this page: their failures show at the form
  reported: new Set(),
  timer: null,
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The message of an OpenStack error body: {"error": {...}}, {"badRequest": {...}}, ...
function errorMessage(body, status) {
  if (body && typeof body === 'object') {
    for (const v of Object.values(body)) {
      if (v && typeof v === 'object' && typeof v.message === 'string') return v.message;
    }
  }
  return `The server answered ${status}.`;
}

async function api(method, path, body) {
  const headers = { 'X-Requested-With': 'gpucloud-portal', 'Accept': 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!res.ok) throw new ApiError(res.status, errorMessage(json, res.status));
  return json;
}

// el('td', {class: 'x'}, 'text', childNode)
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const $ = (id) => document.getElementById(id);

function fillBody(table, rows) {
  const tbody = table.tBodies[0];
  tbody.replaceChildren(...rows);
}

// ---- what a service needs ----

// "K2_Grid:1" or "K2_Grid:1,Other:2" -> [{alias, count}]
function gpuRequests(flavor) {
  const spec = (flavor.extra_specs || {})['pci_passthrough:alias'];
  if (!spec) return [];
  return spec.split(',').map((part) => {
    const [alias, count] = part.trim().split(':');
    return { alias, count: Number(count || 1) };
  });
}

function fits(image, flavor) {
  if ((image.min_disk || 0) > flavor.disk && flavor.disk !== 0) return false;
  if ((image.min_ram || 0) > flavor.ram) return false;
  const videoMax = Number((flavor.extra_specs || {})['hw_video:ram_max_mb'] || 0);
  const video = Number(image.hw_video_ram || 0);
  if (video > 0 && video > videoMax) return false;
  return true;
}

function flavorsFor(image) {
  return state.flavors.filter((f) => fits(image, f));
}

function describeFlavor(f) {
  const gpus = gpuRequests(f).map((g) => `${g.count} × ${g.alias} GPU`);
  const parts = [`${f.vcpus} vCPU`, `${Math.round(f.ram / 1024 * 10) / 10} GB RAM`, `${f.disk} GB disk`];
  return `${f.name}: ${gpus.length ? gpus.join(', ') + ', ' : 'no GPU, '}${parts.join(', ')}`;
}

function freeGpus(alias) {
  const m = state.gpus && state.gpus.gpus.find((g) => g.alias === alias);
  return m ? m.free : 0;
}

// ---- rendering ----

function renderGpus() {
  const list = $('gpu-models');
  const models = state.gpus ? state.gpus.gpus : [];
  if (!models.length) {
    list.replaceChildren(el('li', {}, 'No GPU models are configured.'));
    return;
  }
  list.replaceChildren(...models.map((m) => el('li', { 'data-alias': m.alias },
    el('strong', { class: 'count', 'data-testid': `free-${m.alias}` }, m.free),
    ` of ${m.total} ${m.alias} free`,
    m.claimed ? ` (${m.claimed} being claimed)` : '',
    m.cleaning ? `, ${m.cleaning} being cleaned` : '',
    m.unavailable ? `, ${m.unavailable} out of service` : '')));
}

// The signed-in project's GPUs per model against its quota (gpucloud-gpu-usage).
function renderUsage() {
  const list = $('gpu-usage');
  list.replaceChildren(...(state.usage || []).map((u) => el('li', { 'data-testid': `usage-${u.alias}` },
    `Your project: ${u.in_use} ${u.alias} in use`,
    u.reserved ? `, ${u.reserved} being claimed` : '',
    u.quota === null ? ', no quota' : ` of a quota of ${u.quota}`)));
}

function renderCatalogue() {
  const box = $('catalogue');
  if (!state.images.length) {
    box.replaceChildren(el('p', { class: 'hint' }, 'No services yet: images need the properties image_type and service_type.'));
    return;
  }
  const groups = new Map();
  for (const im of state.images) {
    if (!groups.has(im.service_type)) groups.set(im.service_type, []);
    groups.get(im.service_type).push(im);
  }
  const parts = [];
  for (const [type, images] of [...groups.entries()].sort()) {
    parts.push(el('h3', {}, type));
    parts.push(el('ul', { class: 'services' }, images.map((im) => {
      const fl = flavorsFor(im);
      const needs = [`at least ${im.min_disk || 0} GB disk`, `${im.min_ram || 0} MB RAM`];
      if (im.hw_video_ram) needs.push(`${im.hw_video_ram} MB video RAM`);
      return el('li', { class: 'service', 'data-image': im.name },
        el('div', { class: 'service-head' },
          el('strong', {}, im.name), ' ', el('span', { class: 'tag' }, im.image_type),
          el('button', { type: 'button', class: 'small', 'aria-label': `Launch ${im.name}`,
            disabled: !state.session.can_launch,
            onclick: () => { selectService(im.id); $('launch-name').focus(); } }, 'Launch…')),
        el('p', { class: 'hint' }, `Needs ${needs.join(', ')}.`),
        fl.length
          ? el('ul', { class: 'flavors' }, fl.map((f) => el('li', {}, describeFlavor(f))))
          : el('p', { class: 'error' }, 'No flavor fits this image.'));
    })));
  }
  box.replaceChildren(...parts);
}

function selectService(imageId) {
  $('launch-service').value = imageId;
  renderFlavorChoices();
}

function renderLaunchChoices() {
  const sel = $('launch-service');
  const keep = sel.value;
  sel.replaceChildren(...state.images.map((im) => el('option', { value: im.id }, `${im.name} (${im.service_type})`)));
  if (keep && state.images.some((im) => im.id === keep)) sel.value = keep;
  renderFlavorChoices();
}

function renderFlavorChoices() {
  const image = state.images.find((im) => im.id === $('launch-service').value);
  const sel = $('launch-flavor');
  const keep = sel.value;
  const fl = image ? flavorsFor(image) : [];
  // GPU flavors first: the services are there for the GPUs.
  fl.sort((a, b) => gpuRequests(b).length - gpuRequests(a).length || a.ram - b.ram);
  sel.replaceChildren(...fl.map((f) => el('option', { value: f.id }, describeFlavor(f))));
  if (keep && fl.some((f) => f.id === keep)) sel.value = keep;
  renderNeeds();
}

function renderNeeds() {
  const flavor = state.flavors.find((f) => f.id === $('launch-flavor').value);
  const out = $('launch-needs');
  if (state.session && !state.session.can_launch) {
    out.textContent = 'Your role in this project only allows looking: launching needs the member role.';
    return;
  }
  if (!flavor) { out.textContent = ''; return; }
  const gpus = gpuRequests(flavor);
  out.textContent = gpus.length
    ? gpus.map((g) => `Needs ${g.count} ${g.alias} GPU${g.count > 1 ? 's' : ''}; ${freeGpus(g.alias)} free now.`).join(' ')
    : 'Needs no GPU.';
}

function serverIp(s) {
  for (const addrs of Object.values(s.addresses || {})) {
    for (const a of addrs) if (a.addr) return a.addr;
  }
  return '';
}

// The server's readiness as the Cloud Controller reports it; tolerant of a plain string.
function readiness(s) {
  const r = s['gpucloud:readiness'];
  if (!r) return null;
  return typeof r === 'string' ? { state: r } : r;
}

function displayState(s) {
  if (s.status === 'ERROR') return { text: 'ERROR', cls: 'bad', detail: s.fault ? s.fault.message : '' };
  if (s.status !== 'ACTIVE') return { text: s.status, cls: 'busy', detail: s['OS-EXT-STS:task_state'] || '' };
  const r = readiness(s);
  if (r && r.state === 'ready') return { text: 'READY', cls: 'good', detail: '' };
  // The last probe's error says why the service is not ready yet (e.g. "GET …: HTTP 503").
  if (r && r.state === 'timed_out') return { text: 'TIMED OUT', cls: 'bad', detail: `not answering${r.error ? ': ' + r.error : ''}` };
  if (!r) return { text: 'ACTIVE', cls: 'busy', detail: '' };
  return { text: 'ACTIVE', cls: 'busy', detail: r.error ? `waiting: ${r.error}` : 'waiting for the service to answer' };
}

function useIt(s, image) {
  const ip = serverIp(s);
  if (!ip) return el('span', { class: 'hint' }, 'no address yet');
  const url = image && image.service_url;
  if (url && /^https?:\/\//.test(url)) {
    const href = url.split('{}').join(ip);
    return el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, href);
  }
  return el('code', {}, `ssh ${ip}`);
}

function renderServers() {
  const table = $('instances');
  const rows = state.servers.map((s) => {
    const image = state.allImages.get(s.image && s.image.id);
    const flavor = state.flavors.find((f) => f.id === (s.flavor && s.flavor.id));
    const st = displayState(s);
    const actions = el('td', { class: 'actions' });
    const askDelete = () => {
      const confirmBtn = el('button', { type: 'button', class: 'danger', onclick: () => removeServer(s, actions) }, `Yes, delete ${s.name}`);
      actions.replaceChildren(
        el('span', { role: 'status' }, `Delete ${s.name}? `), confirmBtn,
        el('button', { type: 'button', onclick: () => { actions.replaceChildren(deleteBtn); deleteBtn.focus(); } }, 'Cancel'));
      confirmBtn.focus();
    };
    const deleteBtn = el('button', { type: 'button', 'aria-label': `Delete ${s.name}`, onclick: askDelete }, 'Delete');
    if (state.pendingDelete !== s.id) actions.append(deleteBtn);
    else actions.append(el('span', { class: 'hint' }, 'deleting…'));
    if (!state.session.can_launch) actions.replaceChildren();
    return el('tr', { 'data-server': s.name },
      el('th', { scope: 'row' }, s.name),
      el('td', {}, image ? image.name : (s.image && s.image.id) || ''),
      el('td', {}, flavor ? flavor.name : (s.flavor && s.flavor.id) || ''),
      el('td', {}, el('span', { class: `state ${st.cls}`, 'data-testid': `state-${s.name}` }, st.text),
        st.detail ? el('div', { class: 'hint', 'data-testid': `detail-${s.name}` }, st.detail) : null),
      el('td', {}, useIt(s, image)),
      actions);
  });
  // Keep an open confirmation: re-rendering would take the focus away from it.
  const open = table.querySelector('td.actions button.danger');
  if (open) return;
  fillBody(table, rows);
  table.hidden = rows.length === 0;
  $('no-instances').hidden = rows.length !== 0;
}

function renderAdmin(hyp, aggs) {
  const gpuHosts = new Map(((state.gpus && state.gpus.hosts) || []).map((h) => [h.host, h]));
  fillBody($('hosts'), hyp.map((h) => {
    const g = gpuHosts.get(h.hypervisor_hostname) || {};
    const free = Object.entries(g.free || {}).map(([a, n]) => `${n} ${a}`).join(', ') || '–';
    return el('tr', {},
      el('th', { scope: 'row' }, h.hypervisor_hostname),
      el('td', {}, `${h.state}, ${h.status}`),
      el('td', {}, `${h.vcpus_used} / ${h.vcpus}`),
      el('td', {}, `${Math.round(h.memory_mb_used / 1024)} / ${Math.round(h.memory_mb / 1024)} GB`),
      el('td', {}, free),
      el('td', { class: 'doctor' }, g.doctor_status || 'no report'));
  }));
  fillBody($('aggregates'), aggs.map((a) => el('tr', {},
    el('th', { scope: 'row' }, a.name),
    el('td', {}, a.availability_zone || '–'),
    el('td', {}, (a.hosts || []).join(', ') || '–'),
    el('td', {}, Object.entries(a.metadata || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '–'))));
  const names = state.allServers || new Map();
  const rows = [];
  for (const h of (state.gpus && state.gpus.hosts) || []) {
    for (const d of h.devices) {
      const holder = d.instance_uuid ? (names.get(d.instance_uuid) || d.instance_uuid) : '–';
      rows.push(el('tr', {},
        el('th', { scope: 'row' }, h.host), el('td', {}, el('code', {}, d.address)),
        el('td', {}, d.aliases.join(', ')),
        el('td', {}, el('span', { class: `state ${d.state === 'free' ? 'good' : d.state === 'unavailable' ? 'bad' : 'busy'}` }, d.state)),
        el('td', {}, holder),
        el('td', { class: 'reason' }, d.reason || '')));
    }
  }
  fillBody($('host-gpus'), rows);
}

// ---- loading ----

async function loadCatalogue() {
  const [images, flavors] = await Promise.all([
    api('GET', '/image/v2/images?limit=1000'),
    api('GET', `${COMPUTE}/flavors/detail`),
  ]);
  state.allImages = new Map(images.images.map((im) => [im.id, im]));
  // A shelved server's snapshot carries its base image's properties (image_type=snapshot): it is
  // the server's disk, not a service to launch.
  state.images = images.images.filter((im) => im.image_type && im.image_type !== 'snapshot'
    && im.service_type && im.status === 'active');
  state.flavors = await Promise.all(flavors.flavors.map(async (f) => {
    const specs = await api('GET', `${COMPUTE}/flavors/${encodeURIComponent(f.id)}/os-extra_specs`);
    return { ...f, extra_specs: specs.extra_specs || {} };
  }));
  renderCatalogue();
  renderLaunchChoices();
}

async function refresh() {
  const [gpus, servers, usage] = await Promise.all([
    api('GET', `${COMPUTE}/gpucloud-gpus`),
    api('GET', `${COMPUTE}/servers/detail`),
    api('GET', `${COMPUTE}/gpucloud-gpu-usage?project_id=${encodeURIComponent(state.session.project.id)}`)
      .catch(() => ({ gpu_usage: [] })),
  ]);
  state.gpus = gpus;
  state.usage = usage.gpu_usage || [];
  state.servers = servers.servers.sort((a, b) => a.name.localeCompare(b.name));
  reportFailures();
  renderGpus();
  renderUsage();
  renderNeeds();
  renderServers();
  if (state.session.is_admin) {
    const [hyp, aggs, all] = await Promise.all([
      api('GET', `${COMPUTE}/os-hypervisors/detail`),
      api('GET', `${COMPUTE}/os-aggregates`),
      api('GET', `${COMPUTE}/servers/detail?all_tenants=1`),
    ]);
    state.allServers = new Map(all.servers.map((s) => [s.id, s.name]));
    renderAdmin(hyp.hypervisors, aggs.aggregates);
  }
}

// A launch that ended in ERROR (no valid host, ...) is reported next to the form, in plain words.
function reportFailures() {
  for (const s of state.servers) {
    if (!state.launched.has(s.id) || state.reported.has(s.id)) continue;
    if (s.status === 'ERROR') {
      state.reported.add(s.id);
      const msg = s.fault ? s.fault.message : 'it failed to start';
      showLaunchError(/no valid host/i.test(msg)
        ? `No host can take ${s.name} now. The scheduler says: ${msg}`
        : /quota/i.test(msg)
          ? `${s.name} did not start: your project's GPU quota does not allow it (${msg})`
          : `${s.name} failed to start: ${msg}`);
    } else if (s.status === 'ACTIVE') {
      state.reported.add(s.id);
      $('launch-status').textContent = `${s.name} is running; it shows READY once its service answers.`;
    }
  }
}

function showLaunchError(text) {
  $('launch-status').textContent = '';
  $('launch-error').textContent = text;
}

// The API's refusal in plain words.
function launchErrorText(e) {
  const msg = e.message || '';
  if (e.status === 403 && /policy/i.test(msg)) return 'You cannot launch services: your role in this project only allows reading.';
  if (/quota/i.test(msg)) return `Your project's quota does not allow this: ${msg}`;
  if (e.status === 409 && /gpu|in use|pci/i.test(msg)) return `All GPUs of this model are in use: ${msg}`;
  if (/no valid host/i.test(msg)) return `No host can take this service now. The scheduler says: ${msg}`;
  if (e.status === 401) return 'Your session has ended: sign in again.';
  return `Launch refused: ${msg}`;
}

async function launch(ev) {
  ev.preventDefault();
  const image = $('launch-service').value;
  const flavor = $('launch-flavor').value;
  const name = $('launch-name').value.trim();
  $('launch-error').textContent = '';
  $('launch-status').textContent = '';
  if (!image || !flavor || !name) {
    showLaunchError('Pick a service and a flavor, and give a name.');
    return;
  }
  const button = $('launch-button');
  button.disabled = true;
  try {
    const r = await api('POST', `${COMPUTE}/servers`, { server: { name, imageRef: image, flavorRef: flavor } });
    state.launched.add(r.server.id);
    $('launch-status').textContent = `Launching ${name}…`;
    $('launch-name').value = '';
    await refresh();
  } catch (e) {
    showLaunchError(launchErrorText(e));
  } finally {
    button.disabled = false;
  }
}

async function removeServer(s, cell) {
  state.pendingDelete = s.id;
  cell.replaceChildren(el('span', { class: 'hint' }, 'deleting…'));
  try {
    await api('DELETE', `${COMPUTE}/servers/${encodeURIComponent(s.id)}`);
    $('launch-status').textContent = `${s.name} deleted.`;
  } catch (e) {
    $('launch-error').textContent = `Could not delete ${s.name}: ${e.message}`;
  }
  state.pendingDelete = null;
  await refresh().catch(() => {});
}

// ---- session ----

function showSignIn(message) {
  stopPolling();
  state.session = null;
  $('app-view').hidden = true;
  $('sign-out').hidden = true;
  $('who').hidden = true;
  $('sign-in-view').hidden = false;
  $('sign-in-error').textContent = message || '';
  $('si-name').focus();
}

async function showApp(session) {
  state.session = session;
  $('sign-in-view').hidden = true;
  $('app-view').hidden = false;
  $('sign-out').hidden = false;
  $('who').hidden = false;
  $('who').textContent = `${session.user.name} in ${session.project.name} (${session.roles.join(', ')})`;
  $('admin-view').hidden = !session.is_admin;
  $('launch-button').disabled = !session.can_launch;
  await loadCatalogue();
  await refresh();
  startPolling();
}

function startPolling() {
  stopPolling();
  state.timer = setInterval(() => {
    refresh().catch((e) => {
      if (e.status === 401) showSignIn('Your session has ended: sign in again.');
    });
  }, POLL_MS);
}

function stopPolling() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

async function signIn(ev) {
  ev.preventDefault();
  $('sign-in-error').textContent = '';
  try {
    const r = await api('POST', '/portal/session', {
      name: $('si-name').value, password: $('si-password').value, project: $('si-project').value,
    });
    $('si-password').value = '';
    await showApp(r.session);
  } catch (e) {
    $('sign-in-error').textContent = e.status === 401
      ? 'Wrong user name, password or project.'
      : `Cannot sign in: ${e.message}`;
  }
}

async function signOut() {
  try { await api('DELETE', '/portal/session'); } catch (e) { /* signed out either way */ }
  showSignIn('Signed out.');
}

async function start() {
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  $('launch-form').addEventListener('submit', launch);
  $('launch-service').addEventListener('change', renderFlavorChoices);
  $('launch-flavor').addEventListener('change', renderNeeds);
  try {
    const r = await api('GET', '/portal/session');
    await showApp(r.session);
  } catch (e) {
    showSignIn(e.status === 401 ? '' : `The cloud is not answering: ${e.message}`);
  }
}

start();
