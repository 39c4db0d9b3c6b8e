// The browser half of the approver test (test_approver.py drives it): Debian's
// headless Chromium through playwright-core (pinned in package-lock.json),
// with CDP's virtual WebAuthn authenticator as the fingerprint.
//
//   node approver_e2e.mjs ORIGIN PROFILE_DIR ARTIFACT_DIR
//
// One step per line on stdin, as JSON {"op": ..., ...}; one answer per step on
// stdout, as "= " + JSON ({"error": ...} when the step failed). Other output
// lines are log. The steps only act and report what the page shows; the
// checks are test_approver.py's. Exits when stdin closes or on {"op":"quit"};
// exit 77 (before any answer) when playwright-core cannot be loaded.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [origin, profile, artifacts] = process.argv.slice(2);
const CHROMIUM = '/usr/bin/chromium';
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.log('SKIP: playwright-core missing (run scripts/npm-setup): ' + e.message);
  process.exit(77);
}
mkdirSync(artifacts, { recursive: true });

let context, page, cdp, authenticatorId;
const problems = [];
const seen = new Set();  // request cards already handed out
const card = (id) => page.locator('#request-' + id);
const shot = (name, fullPage = false) => page.screenshot({ path: join(artifacts, name), fullPage });
const waitState = (id, text, timeout) =>
  card(id).locator('[data-field="state"]', { hasText: text }).waitFor({ timeout });

const steps = {
  async start() {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 360, height: 780 },
      deviceScaleFactor: 2,
      isMobile: false,
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(15000);
    page.on('console', (m) => {
      // 401s are expected: polling before the terminal confirms, and after removal.
      if (/Failed to load resource: .* 40[13]/.test(m.text())) return;
      if (m.type() === 'error' || /Content Security Policy/.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:')) {
        problems.push('request to another origin: ' + u);
      }
    });
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
        hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    }));
    return {};
  },

  // Opens the pairing URL the terminal printed, names the device, registers.
  async pair({ url, name }) {
    await page.goto(url);
    await page.locator('#pair-form').waitFor({ state: 'visible' });
    const shown = { context: await page.textContent('#pair-context'), address: page.url() };
    await page.fill('#pair-name', name);
    await shot('pairing.png');
    await page.click('#pair-submit');
    await page.locator('#pair-code-box').waitFor({ state: 'visible' });
    shown.code = (await page.textContent('#pair-code')).replace(/\D/g, '');
    await shot('pairing-code.png');
    return shown;
  },

  // Another pairing link opened in the app that is already open (the hash
  // changes, the page stays): the view starts clean, and from here on every
  // "Paired" the page says is recorded, to compare with the terminal.
  async pairAgain({ url, name }) {
    await page.evaluate(() => {
      window.pairedSaid = [];
      const note = () => {
        for (const id of ['status', 'pair-wait']) {
          const text = document.getElementById(id).textContent;
          if (/Paired/.test(text)) window.pairedSaid.push(id + ': ' + text);
        }
      };
      new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const fragment = url.slice(url.indexOf('#'));
    await page.evaluate((f) => { location.hash = f; }, fragment);
    await page.locator('#pair-form').waitFor({ state: 'visible' });
    const fresh = {
      codeBoxVisible: await page.locator('#pair-code-box').isVisible(),
      code: await page.textContent('#pair-code'),
      wait: await page.textContent('#pair-wait'),
    };
    await page.fill('#pair-name', name);
    await page.click('#pair-submit');
    await page.locator('#pair-code-box').waitFor({ state: 'visible' });
    return { fresh, code: (await page.textContent('#pair-code')).replace(/\D/g, '') };
  },

  // What the page has said about being paired, and where it is.
  async pairedSaid() {
    return { said: await page.evaluate(() => window.pairedSaid), hash: await page.evaluate(() => location.hash),
      wait: await page.textContent('#pair-wait') };
  },

  // The requests view's two statements about waiting requests.
  async waiting() {
    return { status: await page.textContent('#status'),
      empty: await page.locator('#requests-empty').isVisible(),
      pending: await page.locator('#requests-list li.request form:visible').count() };
  },

  // After the terminal confirms: the request list with its event stream.
  async paired() {
    await page.waitForFunction(() => location.hash === '#requests' && document.body.dataset.stream === 'open',
      null, { timeout: 20000 });
    const extractable = await page.evaluate(() => new Promise((resolve, reject) => {
      const r = indexedDB.open('twostep', 1);
      r.onerror = () => reject(r.error);
      r.onsuccess = () => {
        const g = r.result.transaction('identity').objectStore('identity').get('device');
        g.onsuccess = () => resolve(g.result.apiKey.privateKey.extractable);
      };
    }));
    return { extractable };
  },

  // The next request card that appears (the login just sent its push).
  async request() {
    const handle = await page.waitForFunction((known) => {
      const el = [...document.querySelectorAll('#requests-list li.request')].find((e) => !known.includes(e.id));
      return el ? el.id.slice('request-'.length) : null;
    }, [...seen], { timeout: 20000 });
    const id = await handle.jsonValue();
    seen.add('request-' + id);
    const facts = {};
    for (const f of ['user', 'host', 'service', 'rhost', 'tty', 'created', 'state']) {
      facts[f] = await card(id).locator(`[data-field="${f}"]`).textContent();
    }
    // The signed context: shown only when the login has it (null: hidden).
    for (const f of ['command', 'target_user', 'location']) {
      const field = card(id).locator(`[data-field="${f}"]`);
      facts[f] = (await field.isVisible()) ? await field.textContent() : null;
    }
    return { id, facts, number: await card(id).locator('input.number').inputValue(),
      label: await card(id).locator('label').textContent() };
  },

  // Types the number and approves; waits for the card's verdict.
  async approve({ id, number, expect, screenshot }) {
    await card(id).locator('input.number').fill(number);
    if (screenshot) await shot(screenshot);
    await card(id).locator('button.approve').click();
    await waitState(id, expect);
    return { state: await card(id).locator('[data-field="state"]').textContent() };
  },

  async deny({ id }) {
    await card(id).locator('button.deny').click();
    await waitState(id, 'Denied');
    return {};
  },

  async report({ id }) {
    await card(id).locator('button.report').click();
    await waitState(id, 'Reported');
    return {};
  },

  // Waits for a card's state to match `pattern` (a RegExp source).
  async state({ id, pattern, timeout }) {
    await waitState(id, new RegExp(pattern), timeout);
    return { state: await card(id).locator('[data-field="state"]').textContent(),
      buttons: await card(id).locator('form').isVisible() };
  },

  async verified({ value }) {
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: value });
    return {};
  },

  // A push for request `id` delivered to the service worker (CDP), its
  // notification, and the notification's click.
  async notify({ id }) {
    await context.grantPermissions(['notifications'], { origin });
    const registrations = [];
    const swLog = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
    cdp.on('ServiceWorker.workerErrorReported', (e) => swLog.push('error: ' + JSON.stringify(e.errorMessage)));
    cdp.on('ServiceWorker.workerVersionUpdated', (e) => swLog.push(...e.versions.map((v) =>
      `version ${v.versionId} reg ${v.registrationId} ${v.runningStatus}/${v.status}`)));
    await cdp.send('ServiceWorker.enable');
    await page.evaluate(() => navigator.serviceWorker.ready);
    for (let i = 0; i < 50 && !registrations.some((r) => r.scopeURL === origin + '/'); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const registration = registrations.find((r) => r.scopeURL === origin + '/');
    if (!registration) throw new Error('no service worker registration for scope /');
    await page.goto(origin + '/#activity');
    await page.locator('#view-activity').waitFor({ state: 'visible' });
    const deliver = () => cdp.send('ServiceWorker.deliverPushMessage', {
      origin, registrationId: registration.registrationId, data: JSON.stringify({ type: 'challenge', id }),
    });
    await deliver();
    let shown = null;
    for (let i = 0; i < 200 && !shown; i++) {
      if (i === 50) {
        // CDP's delivery is test tooling, not the app: say so if it needed a second try.
        console.log('# no notification after 5 s; delivering the push again');
        await deliver();
      }
      shown = await page.evaluate(async (want) => {
        const reg = await navigator.serviceWorker.ready;
        const n = (await reg.getNotifications()).find((x) => x.data && x.data.id === want);
        return n ? { title: n.title, body: n.body, tag: n.tag } : null;
      }, id);
      if (!shown) await new Promise((r) => setTimeout(r, 100));
    }
    if (!shown) throw new Error('no notification; service worker: ' + swLog.join('; '));
    const worker = context.serviceWorkers().find((w) => w.url() === origin + '/sw.js');
    if (!worker) throw new Error('playwright does not see the service worker');
    // CDP cannot click an OS notification: dispatch the click event the
    // browser would dispatch, with the notification the worker showed.
    await worker.evaluate(async (want) => {
      const [n] = await self.registration.getNotifications({ tag: 'twostep-' + want });
      self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
    }, id);
    await page.waitForFunction((want) => location.hash === '#request=' + want, id);
    await card(id).waitFor({ state: 'visible' });
    return { shown, highlighted: await card(id).evaluate((el) => el.classList.contains('highlight')),
      rhost: await card(id).locator('[data-field="rhost"]').textContent() };
  },

  // Devices: what is listed, then a rename.
  async devices({ name }) {
    await page.goto(origin + '/#devices');
    const dev = page.locator('#devices-list[aria-busy="false"] li').first();
    await dev.waitFor();
    const listed = await dev.textContent();
    await dev.locator('input').fill(name);
    await dev.locator('button[type="submit"]').click();
    await page.locator('#status', { hasText: 'Renamed' }).waitFor();
    await shot('devices.png', true);
    return { listed };
  },

  async activity() {
    await page.goto(origin + '/#activity');
    await page.locator('#activity-list[aria-busy="false"] li').first().waitFor();
    const entries = await page.locator('#activity-list li').allTextContents();
    await shot('activity.png', true);
    return { entries };
  },

  // Help text, widths at 360 px and controls without a label.
  async layout() {
    await page.goto(origin + '/#help');
    const help = await page.textContent('#view-help');
    const widths = {};
    for (const view of ['requests', 'devices', 'activity', 'help']) {
      await page.goto(origin + '/#' + view);
      await page.locator('#view-' + view).waitFor({ state: 'visible' });
      widths[view] = await page.evaluate(() => document.documentElement.scrollWidth);
    }
    await page.goto(origin + '/#devices');
    await page.locator('#devices-list li').first().waitFor();
    const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, button')]
      .filter((el) => el.offsetParent !== null)
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
      .map((el) => el.outerHTML));
    return { help, widths, unlabeled };
  },

  async remove() {
    const remove = page.locator('#devices-list li').first().locator('button.danger');
    await remove.click();
    await remove.click();  // the second click confirms
    await page.locator('#status', { hasText: 'Removed' }).waitFor();
    return {};
  },

  // The service worker's shell cache: the app starts offline.
  async offline() {
    await context.setOffline(true);
    await page.reload();
    const result = { title: await page.title(), nav: await page.locator('nav').isVisible() };
    await context.setOffline(false);
    return result;
  },

  async problems() { return { problems }; },

  // A screenshot of the page as it is (docs/images).
  async screenshot({ name }) {
    await shot(name);
    return {};
  },
};

async function quit(code) {
  if (context) await context.close().catch(() => {});
  process.exit(code);
}

const reply = (answer) => process.stdout.write('= ' + JSON.stringify(answer) + '\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { op, ...args } = JSON.parse(line);
  if (op === 'quit') { reply({}); await quit(0); }
  try {
    if (!steps[op]) throw new Error('no such step: ' + op);
    reply(await steps[op](args));
  } catch (e) {
    reply({ error: String(e.stack || e) });
  }
}
await quit(0);
