// Incident Commander dashboard: live stats, a throughput chart, incident cards and the raw log
// stream, all fed by the server-sent events of /api/events.
//
// Everything shown here comes from logs, so it is attacker-controlled: data reaches the page
// only through textContent, createTextNode and setAttribute, never as HTML, and through
// shown(), which neutralizes bidirectional controls.

const CHART_SPAN_MS = 5 * 60 * 1000;
const CHART_GAP_MS = 5000; // a longer silence between two points breaks the line
const MAX_LOG_ROWS = 200;
const MAX_CARDS = 100; // old resolved cards go first
const RELATIVE_TIME_REFRESH_MS = 15000;
const RECONNECT_DELAY_MS = 3000;
const TOAST_MS = 10000;
const SILENCES_REFRESH_MS = 10000; // silences made elsewhere show within this
const EXPIRED_SHOWN_MS = 24 * 3600 * 1000; // expired silences stay listed this long
// Durations the Silence form offers, in minutes; the first is preselected.
const SILENCE_DURATIONS = [[120, '2 hours'], [30, '30 minutes'], [60, '1 hour'],
  [240, '4 hours'], [1440, '1 day'], [10080, '1 week']];
const AUTHOR_KEY = 'incident-commander.author';

const SEVERITY_RANK = { Critical: 0, Warning: 1, Info: 2 };

// Fixed locale: the same separators as the server's text reports and the README.
const integerFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimalFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

const $ = (id) => document.getElementById(id);

const state = {
  demo: null, // {running, meltdown} or null when the demo source is not running
  demoPending: false, // a switch was flipped and the server has not answered yet
  incidents: new Map(), // id -> Incident
  silences: [], // as GET /api/silences lists them
  mutedBy: new Map(), // incident id -> the active silence that mutes it
  points: [], // {t, lines, errors}, one per stats event
  markers: [], // {t, id, severity}, one per incident opening
  pendingLines: [], // newest last, waiting for the next animation frame
  streamPaused: false,
  tokenAsked: null, // the open token dialog's answer, shared by the requests waiting for it
  frameRequested: false,
  chartDirty: false,
};

// ---------------------------------------------------------------- small helpers

// Bidirectional controls (Unicode TR9: embeddings, overrides, isolates and marks) in log text
// would reorder what follows them on screen: "admin\u202Egnp.exe" reads "adminexe.png". They
// are shown as U+FFFD, as control characters are in the terminal.
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** Log text as the page shows it. */
function shown(text) {
  return String(text).replace(BIDI_CONTROLS, '\uFFFD');
}

/** Creates an element with optional class and text (text is always set as text). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = shown(text);
  return node;
}

function formatCount(n) {
  return integerFormat.format(Number(n) || 0);
}

/** Rates: one decimal below 10 so a quiet system does not read as 0. */
function formatRate(n) {
  const value = Number(n) || 0;
  return value < 10 ? decimalFormat.format(value) : integerFormat.format(value);
}

function formatRatio(n) {
  const value = Number(n);
  if (!Number.isFinite(value) || value <= 0) return '—';
  return `${formatRate(value)}×`;
}

function relativeTime(iso, now = Date.now()) {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A <time> showing "2 min ago", with the absolute time on hover; refreshed by a timer. */
function timeElement(iso) {
  const node = el('time', 'relative-time', relativeTime(iso));
  node.setAttribute('datetime', iso);
  node.setAttribute('title', new Date(iso).toLocaleString());
  return node;
}

function refreshRelativeTimes() {
  const now = Date.now();
  for (const node of document.querySelectorAll('time.relative-time')) {
    node.textContent = relativeTime(node.getAttribute('datetime'), now);
  }
}

/** Batches DOM and canvas work into one animation frame, however many events arrive. */
function requestFrame() {
  if (state.frameRequested) return;
  state.frameRequested = true;
  requestAnimationFrame(() => {
    state.frameRequested = false;
    flushLogLines();
    if (state.chartDirty) drawChart();
  });
}

// ---------------------------------------------------------------- REST and toasts

// A server started with an ingest token refuses changes without it (401). The page then asks
// for it once and keeps it in sessionStorage: this tab only, gone when the tab closes, never
// written to a cookie that every request would carry.
const TOKEN_KEY = 'ic-token';

async function api(method, path, body) {
  for (;;) {
    const sent = method !== 'GET' && sessionStorage.getItem(TOKEN_KEY) !== null;
    const response = await send(method, path, body);
    if (response.status !== 401 || method === 'GET') return answer(response);
    const token = await askForToken(sent);
    if (token === null) return answer(response);
    sessionStorage.setItem(TOKEN_KEY, token);
  }
}

function send(method, path, body) {
  const options = { method, headers: { Accept: 'application/json' } };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token && method !== 'GET') options.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  return fetch(path, options);
}

/** The token the person typed, or null when they cancelled; one dialog for every request
 * that is waiting for it. `refused`: the server refused the token this tab had. */
function askForToken(refused) {
  if (state.tokenAsked) return state.tokenAsked;
  const dialog = $('token-dialog');
  const input = $('token-input');
  const note = $('token-note');
  note.dataset.refused = String(refused);
  note.textContent = refused
    ? 'The server refused that token. Changes need its ingest token (IC_INGEST_TOKEN).'
    : 'Changes need the server\'s ingest token (IC_INGEST_TOKEN). This tab keeps it until it is closed.';
  input.value = '';
  state.tokenAsked = new Promise((resolve) => {
    const done = (token) => {
      $('token-form').removeEventListener('submit', submitted);
      $('token-cancel').removeEventListener('click', cancelled);
      dialog.removeEventListener('cancel', cancelled);
      if (dialog.open) dialog.close();
      state.tokenAsked = null;
      resolve(token);
    };
    const submitted = (event) => {
      event.preventDefault();
      done(input.value);
    };
    const cancelled = (event) => {
      event.preventDefault();
      done(null);
    };
    $('token-form').addEventListener('submit', submitted);
    $('token-cancel').addEventListener('click', cancelled);
    dialog.addEventListener('cancel', cancelled);
  });
  dialog.showModal();
  input.focus();
  return state.tokenAsked;
}

async function answer(response) {
  let data = null;
  try {
    data = await response.json();
  } catch {
    // An answer without a JSON body: the status line says enough.
  }
  if (!response.ok) {
    throw new Error(data?.error ?? `${response.status} ${response.statusText}`.trim());
  }
  return data;
}

function showToast(message) {
  const toast = el('div', 'toast');
  toast.append(el('span', 'toast-text', message));
  const close = el('button', 'toast-close', '×');
  close.type = 'button';
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', () => toast.remove());
  toast.append(close);
  $('toasts').append(toast);
  setTimeout(() => toast.remove(), TOAST_MS);
}

/** Runs an API call and reports its failure in a toast instead of the console. */
async function attempt(call) {
  try {
    return await call();
  } catch (error) {
    showToast(error.message || String(error));
    return null;
  }
}

// ---------------------------------------------------------------- stats and demo controls

function renderStats(stats) {
  const status = String(stats.status || '').toUpperCase();
  const badge = $('status');
  if (badge.textContent !== status) badge.textContent = status;
  badge.setAttribute('data-status', status.toLowerCase());

  $('logs-processed').textContent = formatCount(stats.logs_processed);
  $('lines-per-second').textContent = formatRate(stats.lines_per_second);
  $('open-incidents').textContent = formatCount(stats.open_incidents);
  $('noise-reduction').textContent = formatRatio(stats.noise_reduction);
  $('analyzing').hidden = !stats.analyzing;
  // While a switch change is on its way, an older stats event must not flip it back.
  if (!state.demoPending) renderDemo(stats.demo ?? null);
}

function renderDemo(demo) {
  state.demo = demo;
  const button = $('start-stop');
  const meltdown = $('meltdown');
  const available = demo !== null;
  button.disabled = !available;
  meltdown.disabled = !available;
  meltdown.closest('.switch').classList.toggle('unavailable', !available);
  $('demo-note').hidden = available;
  button.textContent = available && demo.running ? 'Stop' : 'Start';
  button.setAttribute('data-running', String(Boolean(demo?.running)));
  meltdown.checked = Boolean(demo?.meltdown);
}

async function setDemo(change) {
  state.demoPending = true;
  const answer = await attempt(() => api('POST', '/api/demo', change));
  state.demoPending = false;
  // On failure, show the switches as they were.
  renderDemo(answer ?? state.demo);
}

// ---------------------------------------------------------------- chart

function addPoint(stats) {
  const now = Date.now();
  state.points.push({
    t: now,
    lines: Number(stats.lines_per_second) || 0,
    errors: Number(stats.errors_per_second) || 0,
  });
  prune(state.points, now);
  prune(state.markers, now);
  state.chartDirty = true;
  requestFrame();
}

function prune(series, now) {
  while (series.length && series[0].t < now - CHART_SPAN_MS) series.shift();
}

function addMarker(incident, t) {
  state.markers.push({ t, id: incident.id, severity: incident.severity });
  state.chartDirty = true;
  requestFrame();
}

/** A round axis maximum (1, 2 or 5 times a power of ten) above the highest value. */
function niceMax(value) {
  const target = Math.max(value, 10) * 1.1;
  const power = 10 ** Math.floor(Math.log10(target));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= target);
}

function chartColors(canvas) {
  const css = getComputedStyle(canvas);
  const read = (name) => css.getPropertyValue(name).trim();
  return {
    grid: read('--chart-grid'),
    axis: read('--chart-axis'),
    lines: read('--chart-lines'),
    errors: read('--chart-errors'),
    Critical: read('--sev-critical'),
    Warning: read('--sev-warning'),
    Info: read('--sev-info'),
  };
}

/** Sizes the backing store to the element and the screen's pixel ratio, so lines stay crisp. */
function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * ratio);
  const height = Math.round(canvas.clientHeight * ratio);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  return ratio;
}

function drawChart() {
  state.chartDirty = false;
  const canvas = $('chart');
  const ratio = fitCanvas(canvas);
  const ctx = canvas.getContext('2d');
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const colors = chartColors(canvas);
  const plot = { left: 44, right: width - 10, top: 10, bottom: height - 22 };
  const now = Date.now();
  const yMax = niceMax(Math.max(0, ...state.points.map((p) => p.lines)));
  const x = (t) => plot.right - ((now - t) / CHART_SPAN_MS) * (plot.right - plot.left);
  const y = (v) => plot.bottom - (v / yMax) * (plot.bottom - plot.top);

  drawAxes(ctx, plot, yMax, y, colors);
  drawMarkers(ctx, plot, x, colors);
  drawSeries(ctx, x, y, 'lines', colors.lines);
  drawSeries(ctx, x, y, 'errors', colors.errors);
}

function drawAxes(ctx, plot, yMax, y, colors) {
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = colors.axis;
  ctx.strokeStyle = colors.grid;
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i += 1) {
    const value = (yMax / 4) * i;
    const py = Math.round(y(value)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(plot.left, py);
    ctx.lineTo(plot.right, py);
    ctx.stroke();
    ctx.fillText(formatCount(value), plot.left - 6, py);
  }
  ctx.textBaseline = 'top';
  for (let minute = 5; minute >= 0; minute -= 1) {
    const px = plot.right - (minute / 5) * (plot.right - plot.left);
    ctx.textAlign = minute === 0 ? 'right' : minute === 5 ? 'left' : 'center';
    ctx.fillText(minute === 0 ? 'now' : `−${minute} min`, px, plot.bottom + 6);
  }
}

function drawMarkers(ctx, plot, x, colors) {
  ctx.save();
  ctx.setLineDash([4, 3]);
  ctx.lineWidth = 1.5;
  for (const marker of state.markers) {
    const px = Math.round(x(marker.t)) + 0.5;
    if (px < plot.left) continue;
    ctx.strokeStyle = colors[marker.severity] || colors.Warning;
    ctx.fillStyle = ctx.strokeStyle;
    ctx.beginPath();
    ctx.moveTo(px, plot.top);
    ctx.lineTo(px, plot.bottom);
    ctx.stroke();
    // A small flag on top, so a marker is visible even under a busy line.
    ctx.beginPath();
    ctx.moveTo(px - 5, plot.top - 6);
    ctx.lineTo(px + 5, plot.top - 6);
    ctx.lineTo(px, plot.top + 2);
    ctx.fill();
  }
  ctx.restore();
}

function drawSeries(ctx, x, y, key, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.lineJoin = 'round';
  ctx.beginPath();
  let previous = null;
  for (const point of state.points) {
    const connected = previous && point.t - previous.t <= CHART_GAP_MS;
    if (connected) ctx.lineTo(x(point.t), y(point[key]));
    else ctx.moveTo(x(point.t), y(point[key]));
    previous = point;
  }
  ctx.stroke();
}

// ---------------------------------------------------------------- incident cards

function compareIncidents(a, b) {
  if (a.status !== b.status) return a.status === 'open' ? -1 : 1;
  const bySeverity = (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3);
  if (bySeverity !== 0) return bySeverity;
  return Date.parse(b.last_seen) - Date.parse(a.last_seen);
}

function cardFor(id) {
  for (const card of $('incidents').children) {
    if (card.getAttribute('data-id') === id) return card;
  }
  return null;
}

function createCard(incident) {
  const card = el('article', 'incident-card');
  card.setAttribute('data-id', incident.id);
  card.addEventListener('click', (event) => {
    // Buttons have their own job; clicks inside the evidence are for selecting text.
    if (event.target.closest('button, .evidence, .silence-form')) return;
    if (window.getSelection()?.toString()) return;
    toggleEvidence(card);
  });
  fillCard(card, incident);
  return card;
}

/** Rebuilds a card's content in place, keeping its open evidence and keyboard focus. */
function fillCard(card, incident) {
  card.setAttribute('data-severity', incident.severity);
  card.setAttribute('data-status', incident.status);
  const evidence = card.querySelector('.evidence');
  const form = card.querySelector('.silence-form');
  const focused = card.contains(document.activeElement)
    ? document.activeElement.getAttribute('data-action')
    : null;
  card.replaceChildren(
    cardHead(incident),
    rootCauseLine(incident),
    labelledLine('impacted', 'Impacted', (incident.impacted_services || []).join(', ')),
    el('p', 'summary', incident.summary),
    cardMeta(incident),
    statusLine(incident),
    cardActions(card, incident, evidence !== null),
  );
  if (form) card.append(form);
  if (evidence) {
    // The incident carries the same evidence as GET /api/incidents/{id}: show the newest.
    if (incident.templates?.length) renderEvidence(evidence, incident);
    card.append(evidence);
  }
  if (focused) card.querySelector(`[data-action="${focused}"]`)?.focus();
}

function cardHead(incident) {
  const head = el('div', 'card-head');
  head.append(el('span', 'severity', incident.severity));
  head.append(el('h3', 'title', incident.title));
  const noise = el('span', 'noise', formatRatio(incident.noise_reduction_ratio));
  noise.setAttribute('title', 'Noise reduction: lines absorbed per template kept');
  head.append(noise);
  return head;
}

function rootCauseLine(incident) {
  const line = el('p', 'root-cause');
  line.append(el('span', 'field-label', 'Root cause'));
  line.append(el('strong', 'service', incident.root_cause?.service));
  line.append(el('code', 'template', incident.root_cause?.template));
  return line;
}

function labelledLine(className, label, text) {
  const line = el('p', className);
  line.append(el('span', 'field-label', label));
  line.append(document.createTextNode(shown(text)));
  return line;
}

function cardMeta(incident) {
  const meta = el('div', 'meta');
  meta.append(el('span', 'counts',
    `${formatCount(incident.lines)} lines · ${formatCount(incident.windows)} windows`));
  const seen = el('span', 'seen');
  seen.append('first seen ', timeElement(incident.opened_at), ' · last seen ',
    timeElement(incident.last_seen));
  meta.append(seen);
  // Who wrote the title and summary: the built-in analyzer, or the LLM that refined them.
  if (incident.analyzer && incident.analyzer !== 'builtin') {
    meta.append(el('span', 'analyzer', `written by ${incident.analyzer}`));
  }
  return meta;
}

function statusLine(incident) {
  const line = el('p', 'status');
  const chip = (text, kind) => {
    const node = el('span', 'chip', text);
    if (kind) node.setAttribute('data-kind', kind);
    line.append(node);
  };
  chip(incident.status, incident.status);
  if (incident.acknowledged_at) chip('acknowledged', 'ack');
  if (incident.reopened > 0) chip(`reopened ${incident.reopened}×`, 'reopened');
  const before = incident.seen_before;
  if (before) {
    const n = before.times_last_7_days;
    chip(`seen before: ${before.last_id}, ${n} ${n === 1 ? 'time' : 'times'} in the last 7 days`,
      'seen-before');
  }
  if (incident.parent) chip(`grouped under ${incident.parent}`, 'parent');
  const silence = state.mutedBy.get(incident.id);
  if (silence) {
    const until = new Date(silence.endsAt).toLocaleString();
    const node = el('span', 'chip', `silenced until ${until}`);
    node.setAttribute('data-kind', 'silenced');
    node.setAttribute('title', shown(`${silence.createdBy}: ${silence.comment}`));
    line.append(node);
  }
  return line;
}

function cardActions(card, incident, evidenceOpen) {
  const actions = el('div', 'actions');
  const button = (label, action, disabled, onClick) => {
    const node = el('button', `button ${action}`, label);
    node.type = 'button';
    node.setAttribute('data-action', action);
    node.disabled = disabled;
    node.addEventListener('click', onClick);
    actions.append(node);
    return node;
  };
  const path = `/api/incidents/${encodeURIComponent(incident.id)}`;
  const settled = Boolean(incident.acknowledged_at) || incident.status === 'resolved';
  button('Acknowledge', 'ack', settled, () => act(`${path}/ack`));
  button('Resolve', 'resolve', incident.status === 'resolved', () => act(`${path}/resolve`));
  button('Silence', 'silence', incident.status === 'resolved', () => toggleSilenceForm(card));
  labelToggle(button('', 'toggle-evidence', false, () => toggleEvidence(card)), evidenceOpen);
  return actions;
}

async function act(path) {
  // The name the Silence form remembers says who acknowledged or resolved, in the timeline.
  const by = localStorage.getItem(AUTHOR_KEY);
  const incident = await attempt(() => api('POST', path, by ? { by } : undefined));
  if (incident) upsertIncident(incident);
}

function upsertIncident(incident) {
  state.incidents.set(incident.id, incident);
  const card = cardFor(incident.id);
  if (card) fillCard(card, incident);
  orderCards(); // creates the card when it is new
}

/** Puts the cards in order, dropping the oldest resolved ones beyond MAX_CARDS. */
function orderCards() {
  const sorted = [...state.incidents.values()].sort(compareIncidents);
  for (const dropped of sorted.splice(MAX_CARDS)) {
    state.incidents.delete(dropped.id);
    cardFor(dropped.id)?.remove();
  }
  const container = $('incidents');
  const cards = new Map([...container.children].map((c) => [c.getAttribute('data-id'), c]));
  sorted.forEach((incident, index) => {
    const card = cards.get(incident.id);
    // Moving a card only when it is out of place keeps hover and focus stable.
    if (card && container.children[index] !== card) {
      container.insertBefore(card, container.children[index] ?? null);
    } else if (!card) {
      container.insertBefore(createCard(incident), container.children[index] ?? null);
    }
  });
  $('no-incidents').hidden = sorted.length > 0;
}

/** Makes the cards exactly the snapshot's, refilling the ones still there (open evidence stays). */
function replaceIncidents(incidents) {
  state.incidents = new Map(incidents.map((incident) => [incident.id, incident]));
  for (const card of [...$('incidents').children]) {
    const incident = state.incidents.get(card.getAttribute('data-id'));
    if (incident) fillCard(card, incident);
    else card.remove();
  }
  orderCards();
}

// ---------------------------------------------------------------- evidence

async function toggleEvidence(card) {
  const open = card.querySelector('.evidence');
  // Looked up on each use: a card refill replaces its buttons.
  const toggle = (isOpen) => labelToggle(card.querySelector('.toggle-evidence'), isOpen);
  if (open) {
    open.remove();
    toggle(false);
    return;
  }
  const evidence = el('div', 'evidence');
  evidence.append(el('p', 'evidence-loading', 'Loading evidence…'));
  card.append(evidence);
  toggle(true);
  const id = card.getAttribute('data-id');
  const incident = await attempt(() => api('GET', `/api/incidents/${encodeURIComponent(id)}`));
  if (!evidence.isConnected) return; // closed while loading
  if (!incident) {
    evidence.remove();
    toggle(false);
    return;
  }
  renderEvidence(evidence, incident);
  evidence.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}

function labelToggle(toggle, open) {
  toggle.textContent = open ? 'Hide evidence' : 'Evidence';
  toggle.setAttribute('aria-expanded', String(open));
}

function renderEvidence(evidence, incident) {
  // Live updates carry no timeline: the one read with the evidence stays.
  const timeline = incident.timeline
    ? timelineList(incident.timeline)
    : evidence.querySelector('.timeline');
  const head = timeline ? [timeline] : [];
  const templates = incident.templates || [];
  if (!templates.length) {
    evidence.replaceChildren(...head,
      el('p', 'evidence-empty', 'No evidence kept for this incident.'));
    return;
  }
  evidence.replaceChildren(...head, ...templates.map(evidenceTemplate));
}

/** What the incident went through, oldest first: opened, escalated, acknowledged, resolved. */
function timelineList(entries) {
  const list = el('ol', 'timeline');
  list.setAttribute('aria-label', 'Timeline');
  for (const entry of entries) {
    const item = el('li', 'timeline-entry');
    item.setAttribute('data-event', entry.event);
    const at = el('time', null, new Date(entry.at).toLocaleString());
    at.setAttribute('datetime', entry.at);
    const what = entry.detail ? `${entry.event}: ${entry.detail}` : entry.event;
    item.append(at, document.createTextNode(shown(what)));
    list.append(item);
  }
  return list;
}

function evidenceTemplate(item) {
  const block = el('section', 'evidence-template');
  const head = el('div', 'evidence-head');
  head.append(el('span', 'evidence-count', `${formatCount(item.count)}×`));
  const level = el('span', 'level', item.level);
  level.setAttribute('data-level', item.level);
  head.append(level);
  head.append(el('span', 'evidence-services', (item.services || []).join(', ')));
  block.append(head, el('code', 'evidence-text', item.template));

  const first = item.first_lines || [];
  const last = item.last_lines || [];
  const samples = el('div', 'samples');
  samples.append(...first.map((line) => el('div', 'sample', line)));
  // When every line fits in first_lines, last_lines repeats them.
  if (item.count > first.length && last.length) {
    samples.append(el('div', 'sample-gap', '…'));
    samples.append(...last.map((line) => el('div', 'sample', line)));
  }
  block.append(samples);
  return block;
}

// ---------------------------------------------------------------- silences

/** A matcher as Alertmanager writes it: service="db", template=~"Pool.*". */
function matcherText(m) {
  const negated = m.isEqual === false;
  const op = m.isRegex ? (negated ? '!~' : '=~') : (negated ? '!=' : '=');
  return `${m.name}${op}"${m.value}"`;
}

async function loadSilences() {
  try {
    state.silences = await api('GET', '/api/silences');
  } catch {
    return; // the next look tries again; the last list stays
  }
  renderSilences();
  applySilences();
}

/** Marks the cards of the incidents an active silence mutes, and unmarks the others. */
function applySilences() {
  const muted = new Map();
  for (const silence of state.silences) {
    if (silence.status?.state !== 'active') continue;
    for (const id of silence.mutes || []) if (!muted.has(id)) muted.set(id, silence);
  }
  const before = state.mutedBy;
  state.mutedBy = muted;
  for (const id of new Set([...before.keys(), ...muted.keys()])) {
    if (before.get(id)?.id === muted.get(id)?.id) continue;
    const incident = state.incidents.get(id);
    const card = cardFor(id);
    if (incident && card) fillCard(card, incident);
  }
}

function renderSilences() {
  const now = Date.now();
  const listed = state.silences.filter((s) =>
    s.status?.state !== 'expired' || now - Date.parse(s.endsAt) < EXPIRED_SHOWN_MS);
  $('silences').replaceChildren(...listed.map(silenceItem));
  $('no-silences').hidden = listed.length > 0;
}

/** ' (recurring, Europe/Berlin)': the zone a schedule's times are in; nothing without one. */
function recurring(schedule) {
  return schedule ? ` (recurring, ${schedule.location ?? 'UTC'})` : '';
}

function silenceItem(silence) {
  const phase = silence.status?.state || 'active';
  const item = el('li', 'silence');
  item.setAttribute('data-id', silence.id);
  item.setAttribute('data-state', phase);
  const head = el('div', 'silence-head');
  head.append(el('span', 'silence-state', phase));
  head.append(el('code', 'silence-matchers', (silence.matchers || []).map(matcherText).join(', ')));
  if (phase !== 'expired') {
    const expire = el('button', 'button expire', 'Expire');
    expire.type = 'button';
    expire.addEventListener('click', () => expireSilence(silence.id));
    head.append(expire);
  }
  const span = phase === 'pending'
    ? `from ${new Date(silence.startsAt).toLocaleString()} until `
    : (phase === 'expired' ? 'ended ' : 'until ');
  const meta = el('p', 'silence-meta',
    `${span}${new Date(silence.endsAt).toLocaleString()}${silence.schedule ? ' (recurring, UTC)' : ''}`
    + ` · by ${silence.createdBy}: ${silence.comment}`);
  const mutes = (silence.mutes || []).length;
  let matched;
  if (mutes) matched = `mutes ${mutes} open ${mutes === 1 ? 'incident' : 'incidents'}`;
  else if (silence.matchedAt) matched = 'has muted an incident';
  else if (phase === 'expired') matched = 'matched nothing in its whole life';
  else matched = 'matches nothing yet';
  const matchedLine = el('p', 'silence-matched', matched);
  matchedLine.setAttribute('data-matched', silence.matchedAt || mutes ? 'yes' : 'never');
  item.append(head, meta, matchedLine);
  return item;
}

async function expireSilence(id) {
  const done = await attempt(() => api('DELETE', `/api/silences/${encodeURIComponent(id)}`));
  if (done) loadSilences();
}

/** The Silence form of a card: prefilled from its incident, with a duration. */
function toggleSilenceForm(card) {
  const open = card.querySelector('.silence-form');
  if (open) {
    open.remove();
    return;
  }
  const incident = state.incidents.get(card.getAttribute('data-id'));
  if (!incident) return;
  const form = el('form', 'silence-form');
  const check = (name, value, checked) => {
    const label = el('label', 'matcher');
    const box = el('input');
    box.type = 'checkbox';
    box.checked = checked;
    box.setAttribute('data-matcher', name);
    box.value = value;
    label.append(box, document.createTextNode(' '), el('code', null, `${name}="${value}"`));
    form.append(label);
  };
  check('service', incident.root_cause?.service ?? '', true);
  if (incident.root_cause?.template) check('template', incident.root_cause.template, false);
  const field = (labelText, input) => {
    const label = el('label', null, labelText);
    form.append(label, input);
    return input;
  };
  const textField = (labelText, name, maxLength) => {
    const input = el('input');
    input.type = 'text';
    input.name = name;
    input.required = true;
    input.maxLength = maxLength;
    return field(labelText, input);
  };
  const duration = el('select');
  duration.name = 'duration';
  for (const [minutes, label] of SILENCE_DURATIONS) {
    const option = el('option', null, label);
    option.value = String(minutes);
    duration.append(option);
  }
  field('For', duration);
  const author = textField('By', 'author', 256);
  author.value = localStorage.getItem(AUTHOR_KEY) || '';
  const comment = textField('Comment', 'comment', 4096);
  comment.placeholder = 'why';
  const actions = el('div', 'form-actions');
  const submit = el('button', 'button', 'Silence');
  submit.type = 'submit';
  submit.setAttribute('data-action', 'silence-submit');
  const cancel = el('button', 'button', 'Cancel');
  cancel.type = 'button';
  cancel.addEventListener('click', () => form.remove());
  actions.append(submit, cancel);
  form.append(actions);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const matchers = [...form.querySelectorAll('input[data-matcher]')]
      .filter((box) => box.checked)
      .map((box) => ({ name: box.getAttribute('data-matcher'), value: box.value,
        isRegex: false, isEqual: true }));
    if (!matchers.length) {
      showToast('Pick at least one matcher.');
      return;
    }
    const startsAt = new Date();
    const endsAt = new Date(startsAt.getTime() + Number(duration.value) * 60000);
    localStorage.setItem(AUTHOR_KEY, author.value);
    const created = await attempt(() => api('POST', '/api/silences', {
      matchers, startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString(),
      createdBy: author.value, comment: comment.value,
    }));
    if (!created) return;
    form.remove();
    showToast(`Silenced until ${endsAt.toLocaleString()}.`);
    loadSilences();
  });
  card.append(form);
  comment.focus();
}

// ---------------------------------------------------------------- log stream

function queueLines(lines) {
  state.pendingLines.push(...lines);
  // Only the newest MAX_LOG_ROWS can ever be shown: drop the rest early.
  const excess = state.pendingLines.length - MAX_LOG_ROWS;
  if (excess > 0) state.pendingLines.splice(0, excess);
  if (!state.streamPaused) requestFrame();
}

function flushLogLines() {
  if (state.streamPaused || !state.pendingLines.length) return;
  const stream = $('log-stream');
  const fragment = document.createDocumentFragment();
  // Newest on top: the queue holds newest last.
  for (let i = state.pendingLines.length - 1; i >= 0; i -= 1) {
    fragment.append(logRow(state.pendingLines[i]));
  }
  state.pendingLines = [];
  stream.prepend(fragment);
  while (stream.childElementCount > MAX_LOG_ROWS) stream.lastElementChild.remove();
}

function logRow(line) {
  const row = el('div', 'log-line');
  const level = String(line.level || 'INFO').toUpperCase();
  row.setAttribute('data-level', level);
  const time = new Date(line.timestamp);
  const stamp = Number.isNaN(time.getTime()) ? '' : time.toLocaleTimeString('en-GB');
  const message = el('span', 'log-message', line.message);
  // Long lines are cut on screen; the whole line shows on hover (as an attribute: still text).
  message.setAttribute('title', shown(line.message ?? ''));
  row.append(
    el('span', 'log-time', stamp),
    el('span', 'log-level', level),
    el('span', 'log-service', line.service),
    message,
  );
  return row;
}

function setStreamPaused(paused) {
  state.streamPaused = paused;
  $('stream-paused').hidden = !paused;
  $('log-stream').classList.toggle('paused', paused);
  if (!paused) requestFrame();
}

// ---------------------------------------------------------------- server-sent events

function setConnection(live) {
  const node = $('connection');
  node.textContent = live ? 'live' : 'reconnecting…';
  node.setAttribute('data-state', live ? 'live' : 'reconnecting');
}

/** Parses an event's data; a malformed one is skipped rather than breaking the page. */
function listen(source, name, handle) {
  source.addEventListener(name, (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(data);
  });
}

function onSnapshot({ stats, incidents = [] }) {
  setConnection(true);
  if (stats) {
    renderStats(stats);
    addPoint(stats);
  }
  replaceIncidents(incidents);
  // Openings in the chart's span that happened while disconnected (or before the page opened).
  const since = Date.now() - CHART_SPAN_MS;
  for (const incident of incidents) {
    const opened = Date.parse(incident.opened_at);
    const known = state.markers.some((m) => m.id === incident.id);
    if (opened >= since && !known) addMarker(incident, opened);
  }
}

function onIncidentEvent({ transition, incident }) {
  if (!incident) return;
  if (transition === 'opened' || transition === 'reopened') addMarker(incident, Date.now());
  upsertIncident(incident);
}

function connect() {
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => setConnection(true));
  source.addEventListener('error', () => {
    setConnection(false);
    // EventSource retries by itself unless the server refused the stream outright.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, RECONNECT_DELAY_MS);
  });
  listen(source, 'snapshot', onSnapshot);
  listen(source, 'stats', (stats) => {
    renderStats(stats);
    addPoint(stats);
  });
  listen(source, 'incident', onIncidentEvent);
  listen(source, 'lines', (lines) => {
    if (Array.isArray(lines)) queueLines(lines);
  });
}

// ---------------------------------------------------------------- start

function start() {
  $('start-stop').addEventListener('click', () => {
    if (state.demo) setDemo({ running: !state.demo.running });
  });
  $('meltdown').addEventListener('change', (event) => setDemo({ meltdown: event.target.checked }));

  const stream = $('log-stream');
  stream.addEventListener('pointerenter', () => setStreamPaused(true));
  stream.addEventListener('pointerleave', () => setStreamPaused(false));

  new ResizeObserver(() => {
    state.chartDirty = true;
    requestFrame();
  }).observe($('chart'));
  setInterval(refreshRelativeTimes, RELATIVE_TIME_REFRESH_MS);
  setInterval(loadSilences, SILENCES_REFRESH_MS);

  connect();
  loadSilences();
}

start();
