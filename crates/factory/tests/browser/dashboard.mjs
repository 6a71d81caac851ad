// The dashboard in a real browser: Debian's chromium, driven through playwright-core
// (which never downloads a browser of its own). Run by crates/factory/tests/dashboard.rs,
// which starts `factory up` on a definition (base → lib → app → tool; base → broken,
// which fails and blocks victim-a and victim-b) and passes:
//   FACTORY_URL          where it serves
//   FACTORY_TOKEN        an admin token, for POST /api/v1/components/NAME/rebuild
//   FACTORY_CHROMIUM     the browser
//   FACTORY_SCREENSHOTS  where the screenshots go
// The script prints CHANGE when it is ready to watch a wave; the Rust side then changes
// base's source. It exits non-zero at the first assertion that fails.

import { chromium } from 'playwright-core';
import path from 'node:path';

const base = process.env.FACTORY_URL.replace(/\/$/, '');
const shots = process.env.FACTORY_SCREENSHOTS;
const STEP_MS = 60_000;

const problems = [];

function assert(condition, message) {
  if (!condition) throw new Error('assertion failed: ' + message);
}

async function shot(page, name) {
  const file = path.join(shots, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  console.log('screenshot ' + file);
}

async function overviewFollowsTheWave(page) {
  await page.goto(base + '/');
  await page.waitForSelector('#live-status[data-state="live"]', { timeout: STEP_MS });
  const groups = await page.textContent('#failures');
  assert(/broken\s+failed/.test(groups) && groups.includes('2 builds blocked'), 'the root cause group: ' + groups);
  await shot(page, '01-overview-idle');
  // Sampled in the page itself: if it reloaded, the samples would be gone.
  await page.evaluate(() => {
    // Counts from the running wave's card, and the components in the build slots.
    const sample = () => {
      const count = (state) => {
        const n = document.querySelector(`#running [data-count="${state}"] .n`);
        return n ? Number(n.textContent) : 0;
      };
      const slots = [...document.querySelectorAll('#slots tbody tr td:nth-child(2)')];
      return {
        waiting: count('waiting'),
        building: count('building'),
        succeeded: count('succeeded'),
        slots: slots.map((td) => td.textContent.trim()),
        waves: document.querySelectorAll('#running .wave-card').length,
      };
    };
    window.__notReloaded = true;
    window.__samples = [];
    window.__sampler = setInterval(() => window.__samples.push(sample()), 100);
  });
  console.log('CHANGE');
  await page.waitForSelector('#running .wave-card', { timeout: STEP_MS });
  await page.waitForFunction(() => window.__samples.some((s) => s.slots.includes('lib')), null, { timeout: STEP_MS });
  await shot(page, '02-overview-running');
  await page.waitForFunction(
    () => {
      const last = window.__samples[window.__samples.length - 1];
      return last && last.succeeded >= 2 && !last.slots.includes('lib');
    },
    null,
    { timeout: STEP_MS },
  );
  const samples = await page.evaluate(() => window.__samples);
  assert(await page.evaluate(() => window.__notReloaded === true), 'the overview never reloaded');
  const waited = samples.findIndex((s) => s.waves > 0 && s.waiting > 0 && !s.slots.includes('lib'));
  const ran = samples.findIndex((s, i) => i > waited && s.slots.includes('lib'));
  const done = samples.findIndex((s, i) => i > ran && s.succeeded >= 2 && !s.slots.includes('lib'));
  assert(waited >= 0 && ran > waited && done > ran, 'lib waited, ran, then succeeded: ' + JSON.stringify(samples.slice(-5)));
  console.log(`overview: lib waiting at sample ${waited}, building at ${ran}, done at ${done}, no reload`);
  const wave = await page.getAttribute('#running .wave-card', 'data-wave');
  return wave;
}

async function storyShowsWhyAJobWaits(page, wave) {
  await page.click(`#wave-${wave} h3 a`);
  await page.waitForURL(`**/waves/${wave}`);
  const tool = 'tr[data-job="tool"]';
  await page.waitForSelector(`${tool}[data-state="waiting"]`, { timeout: STEP_MS });
  await page.click(`${tool} details.why summary`);
  const panel = `${tool} details.why[open] .why-body`;
  await page.waitForSelector(panel);
  const why = await page.textContent(panel);
  assert(/Waiting for 1 of its 1 input/.test(why) && why.includes('app'), 'tool waits for app: ' + why);
  await shot(page, '03-story-why-waiting');
  await whyFromTheApi(page);
  // The panel stays open while the page follows the wave.
  await page.waitForSelector(`tr[data-job="app"][data-state="building"]`, { timeout: STEP_MS });
  assert(await page.isVisible(panel) || !(await page.isVisible(tool)), 'the why panel stayed open');
  return await page.getAttribute('tr[data-job="app"] td a[href^="/builds/"]', 'href');
}

// Where the server answers GET /api/v1/builds/{id}/why, a build's panel shows that
// answer (here a stand-in, markup included, which must stay text).
async function whyFromTheApi(page) {
  const broken = await page.getAttribute('tr[data-job="broken"] td a[href^="/builds/"]', 'href');
  const id = Number(broken.split('/').pop());
  const answer = {
    build: id + 1,
    state: 'blocked',
    summary: 'blocked by broken, which failed <img src=x onerror="window.__pwned=2">',
    reasons: [{ kind: 'blocked_by', build: id, component: 'broken', detail: '<b>exit 1</b>' }],
  };
  await page.route('**/api/v1/builds/*/why', (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(answer) }),
  );
  const victim = 'tr[data-job="victim-a"]';
  await page.click(`${victim} details.why summary`);
  const box = `${victim} .why-api[data-source="api"]`;
  await page.waitForSelector(box, { timeout: STEP_MS });
  const text = await page.textContent(box);
  assert(text.includes('blocked by broken, which failed <img'), 'the summary, as text: ' + text);
  assert(text.includes('blocked by') && text.includes('<b>exit 1</b>'), 'the reasons: ' + text);
  assert((await page.$$(`${box} img, ${box} b`)).length === 0, 'no element made from the answer');
  assert((await page.$$(`${box} a[href="/builds/${id}"]`)).length === 1, 'the blocking build is a link');
  assert(await page.evaluate(() => window.__pwned === undefined), 'nothing from the answer ran');
  await shot(page, '03b-story-why-from-api');
  await page.unrouteAll();
  await page.click(`${victim} details.why summary`);
}

async function logGrowsLive(page, href) {
  await page.click(`tr[data-job="app"] td a[href="${href}"]`);
  await page.waitForURL('**' + href);
  await page.waitForFunction(() => document.querySelector('#log').textContent.includes('compiling unit 1 of 10'), null, { timeout: STEP_MS });
  const lines = () => page.evaluate(() => (document.querySelector('#log').textContent.match(/compiling unit \d+ of 10/g) || []).length);
  const first = await lines();
  await shot(page, '04-build-log-following');
  await page.waitForFunction(() => document.querySelector('#log').textContent.includes('compiling unit 10 of 10'), null, { timeout: STEP_MS });
  const last = await lines();
  assert(first < last && last === 10, `the log grew while watched: ${first} then ${last} lines`);
  const text = await page.textContent('#log');
  for (let i = 1; i <= 10; i++) {
    const n = text.split(`compiling unit ${i} of 10\n`).length - 1;
    assert(n === 1, `line ${i} once (what the page came with, then the stream), not ${n} times`);
  }
  await page.waitForSelector('#build-state[data-state="succeeded"]', { timeout: STEP_MS });
  const log = await page.textContent('#log');
  assert(log.includes('<script>window.__pwned = 1</script>'), 'the markup in the log is shown as text');
  assert(await page.evaluate(() => window.__pwned === undefined), 'the markup in the log did not run');
  console.log(`build page: the log grew from ${first} to ${last} lines, each line once; the state went to succeeded without a reload`);
  await shot(page, '05-build-succeeded');
}

async function failureShowsWhatItBlocked(page, wave) {
  await page.goto(`${base}/waves/${wave}`);
  await page.waitForSelector('h1 .state[data-state="finished"]', { timeout: STEP_MS });
  await shot(page, '06-story-finished');
  await page.goto(base + '/');
  await page.waitForSelector('#live-status[data-state="live"]', { timeout: STEP_MS });
  const groups = () => page.$$eval('#failures li.group', (items) => items.map((i) => i.textContent));
  const before = (await groups()).filter((g) => /broken\s+failed/.test(g)).length;
  const response = await fetch(base + '/api/v1/components/broken/rebuild', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + process.env.FACTORY_TOKEN },
  });
  assert(response.status === 202, 'the rebuild is accepted: ' + response.status);
  await page.waitForFunction(
    (n) => [...document.querySelectorAll('#failures li.group')].filter((g) => /broken\s+failed/.test(g.textContent)).length > n,
    before,
    { timeout: STEP_MS },
  );
  const now = await groups();
  assert(now[0].includes('2 builds blocked'), 'the newest group says what it blocked: ' + now[0]);
  console.log('overview: a new failure appeared live as "' + now[0].replace(/\s+/g, ' ').trim().slice(0, 80) + '"');
  await shot(page, '07-overview-root-causes');
}

async function blockedAndBrokenBuilds(page) {
  await page.click('#failures li.group .blocked-list a');
  await page.waitForSelector('#why-section');
  const why = await page.textContent('#why-section');
  assert(why.includes('Root cause') && why.includes('broken'), 'a blocked build names its root: ' + why);
  await shot(page, '08-build-blocked-why');
  // The server's own text names the root; once the why engine answers, its reasons do.
  await page.click('#why-section .root a[href^="/builds/"]:visible, #why-section .why-api a[href^="/builds/"]:visible >> nth=0');
  await page.waitForSelector('#log .log-stderr');
  const stderr = await page.textContent('#log .log-stderr');
  assert(stderr.includes('<b>undefined reference</b>'), 'stderr shown as text: ' + stderr);
  assert((await page.$$('#log b')).length === 0, 'no element made from the log');
  await shot(page, '09-build-failed');
}

async function componentAndGraph(page) {
  await page.goto(base + '/components/lib');
  await page.waitForSelector('#history tbody tr');
  await shot(page, '10-component');
  await page.click('#about a[href="/graph/lib"]');
  await page.waitForSelector('svg.graph');
  const nodes = await page.$$eval('svg.graph a', (links) => links.map((a) => a.getAttribute('href')));
  for (const node of ['/graph/base', '/graph/app', '/graph/tool', '/graph/lib']) {
    assert(nodes.includes(node), `the graph links ${node}: ${nodes}`);
  }
  await shot(page, '11-graph');
  // Keyboard: the first Tab reaches the skip link, Enter moves to the content.
  await page.keyboard.press('Tab');
  assert((await page.evaluate(() => document.activeElement.textContent)) === 'Skip to content', 'skip link first');
  await page.keyboard.press('Enter');
  assert(await page.evaluate(() => document.activeElement.id === 'main'), 'the skip link moves focus to main');
  await page.click('svg.graph a[href="/graph/base"]');
  await page.waitForURL('**/graph/base');
}

const browser = await chromium.launch({
  executablePath: process.env.FACTORY_CHROMIUM,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.on('pageerror', (e) => problems.push('page error: ' + e.message));
page.on('console', (m) => {
  // A refused script or style (the page's CSP) would show here; a 404 of the probe for
  // /why is expected where the server has no such route.
  if (m.type() === 'error' && !/status of 404/.test(m.text())) problems.push('console: ' + m.text());
});
let failed = false;
try {
  const wave = await overviewFollowsTheWave(page);
  const app = await storyShowsWhyAJobWaits(page, wave);
  await logGrowsLive(page, app);
  await failureShowsWhatItBlocked(page, wave);
  await blockedAndBrokenBuilds(page);
  await componentAndGraph(page);
  assert(problems.length === 0, 'no errors in the pages: ' + problems.join('\n'));
  console.log('ALL PASSED');
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
  console.error('problems seen: ' + JSON.stringify(problems));
  try {
    await shot(page, '99-failure');
    console.error((await page.content()).slice(0, 20000));
  } catch (_) {
    // The page itself is gone.
  }
}
await browser.close();
process.exit(failed ? 1 : 0);
