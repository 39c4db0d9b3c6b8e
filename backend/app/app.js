// twostep approver: the phone side of push (docs/protocol.md, docs/approver.md).
// Plain JS, no framework, no third-party code; talks only to its own origin.
//
// Keys this device holds (IndexedDB "twostep", store "identity"):
// - a WebAuthn credential (platform authenticator preferred, user
//   verification required): approvals are assertions over the approval
//   digest (section 6), so each approval needs the fingerprint/PIN;
// - a WebCrypto ECDSA P-256 API key, non-extractable: it signs every other
//   device request (section 8.1) with no biometric step.
'use strict';

const PROTOCOL = {
  approval: 'twostep-approval-v1',
  approvalWithContext: 'twostep-approval-v2',
  pair: 'twostep-pair-v1',
  pairKey: 'twostep-pair-key-v1',
  compare: 'twostep-compare-v1',
  deviceScheme: 'TWOSTEP-ECDSA-P256-SHA256',
};
const enc = new TextEncoder();

// ---- encodings (section 2) ------------------------------------------------

function b64u(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (const b of u8) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function unb64u(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new Error('not base64url');
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  if (b64u(out) !== text) throw new Error('not canonical base64url');
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// lp(x): 4-byte big-endian length, then the bytes.
function lp(field) {
  const bytes = typeof field === 'string' ? enc.encode(field) : field;
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)); }

async function hmac(keyBytes, message) {
  const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, message));
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

// ---- protocol computations ------------------------------------------------

// Section 6: what an approval signs. The number comes from the user. A
// challenge with a context (sudo's command, su's target, the location) is
// signed with it (version 2); one without, made by an older module, as
// version 1.
async function approvalDigest(view, number) {
  const n = String(number).padStart(2, '0');
  const c = view.context;
  const context = c ? [lp(c.command), lp(c.target_user), lp(c.location)] : [];
  return sha256(concat(enc.encode(c ? PROTOCOL.approvalWithContext : PROTOCOL.approval), lp(view.id),
    lp(view.nonce), lp(view.host), lp(view.user), lp(view.service), lp(view.rhost), lp(view.tty),
    ...context, lp(n), lp(String(view.expires))));
}

// Section 7 step 4 and 6.
async function pairingProof(secret, pairingId, name, credId, credSpki, apiSpki) {
  return hmac(secret, concat(enc.encode(PROTOCOL.pair), lp(pairingId), lp(name), lp(credId),
    lp(credSpki), lp(apiSpki)));
}

// Proof that this device holds the API key it registers (section 7 step 4).
async function registrationSignature(privateKey, pairingId, name, credId, credSpki, apiSpki) {
  const message = concat(enc.encode(PROTOCOL.pairKey), lp(pairingId), lp(name), lp(credId),
    lp(credSpki), lp(apiSpki));
  return new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, message));
}

async function comparisonCode(secret, credSpki, apiSpki) {
  const mac = await hmac(secret, concat(enc.encode(PROTOCOL.compare), lp(credSpki), lp(apiSpki)));
  const n = new DataView(mac.buffer).getUint32(0) % 1000000;
  return String(n).padStart(6, '0');
}

// ---- local storage: IndexedDB keeps CryptoKey objects as they are ---------

function idb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('twostep', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('identity');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function idbGet(key) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const r = db.transaction('identity').objectStore('identity').get(key);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function idbPut(key, value) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction('identity', 'readwrite');
    tx.objectStore('identity').put(value, key);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

// ---- the device identity ----------------------------------------------------

let identity = null;  // {apiKey: CryptoKeyPair, apiSpki, keyId, credentialId, credentialSpki}

async function loadIdentity() {
  identity = (await idbGet('device')) || null;
  return identity;
}

async function makeApiKey() {
  // Non-extractable: the private key cannot leave this browser profile.
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  return { pair, spki };
}

async function makeCredential(name) {
  const userId = crypto.getRandomValues(new Uint8Array(16));
  const cred = await navigator.credentials.create({
    publicKey: {
      rp: { name: 'twostep' },  // rp.id: the origin's host (protocol section 6)
      user: { id: userId, name: 'twostep approver', displayName: name },
      challenge: crypto.getRandomValues(new Uint8Array(32)),  // no attestation is checked
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }],  // ES256 only
      authenticatorSelection: { residentKey: 'discouraged', userVerification: 'required' },
      hints: ['client-device'],  // platform authenticator preferred; a security key still works
      attestation: 'none',
      timeout: 120000,
    },
  });
  if (!cred || typeof cred.response.getPublicKey !== 'function') {
    throw new Error('this browser cannot give the credential\u2019s public key (update it)');
  }
  if (cred.response.getPublicKeyAlgorithm() !== -7) throw new Error('the authenticator did not make an ES256 key');
  const spki = new Uint8Array(cred.response.getPublicKey());
  return { id: new Uint8Array(cred.rawId), spki };
}

// ---- signed device requests (section 8.1) ----------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || ('HTTP ' + status));
    this.status = status;
    this.code = body && body.error;
  }
}

async function signedHeaders(method, path, query, body) {
  const ts = String(Math.floor(Date.now() / 1000));
  const nonce = b64u(crypto.getRandomValues(new Uint8Array(16)));
  const canonical = [PROTOCOL.deviceScheme, method, path, query, hex(await sha256(body)), ts, nonce,
    identity.keyId].join('\n');
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, identity.apiKey.privateKey,
    enc.encode(canonical));
  return {
    'X-Twostep-Device': identity.keyId, 'X-Twostep-Timestamp': ts,
    'X-Twostep-Nonce': nonce, 'X-Twostep-Signature': b64u(sig),
  };
}

async function api(method, path, { query = '', body, signed = true, signal } = {}) {
  const raw = body === undefined ? new Uint8Array(0) : enc.encode(JSON.stringify(body));
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (signed) Object.assign(headers, await signedHeaders(method, path, query, raw));
  const res = await fetch(path + (query ? '?' + query : ''), {
    method, headers, body: body === undefined ? undefined : raw, signal,
    credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
  });
  if (signed && method === 'GET' && path === '/v1/device/events') {
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
    return res;
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// ---- small UI helpers --------------------------------------------------------

const $ = (id) => document.getElementById(id);

function say(text, isError = false) {
  const s = $('status');
  s.textContent = text || '';
  s.classList.toggle('error', !!isError);
}

function when(seconds) {
  if (!seconds) return 'never';
  return new Date(seconds * 1000).toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium' });
}

const SERVICE_NAMES = { sshd: 'SSH login (sshd)', sudo: 'sudo', su: 'su', login: 'console login' };

const STATE_TEXT = {
  approved: ['Approved.', 'ok'],
  denied: ['Denied.', 'bad'],
  reported: ['Reported: push requests for this account are blocked until an administrator clears them.', 'bad'],
  expired: ['Expired: the computer stopped waiting. Sign in again if it was you.', 'bad'],
  cancelled: ['Cancelled: the computer gave up, or a newer request replaced this one.', 'bad'],
};

// ---- views -------------------------------------------------------------------

const VIEWS = ['pair', 'requests', 'devices', 'activity', 'help'];

function show(view) {
  if ($('view-' + view).hidden) say('');  // a message belongs to the view it was said in
  for (const v of VIEWS) $('view-' + v).hidden = v !== view;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (view === 'devices') loadDevices();
  if (view === 'activity') loadActivity();
}

function route() {
  const hash = location.hash.slice(1);
  if (hash.startsWith('pair=')) return startPairing(hash.slice(5));
  if (hash.startsWith('request=')) {
    show('requests');
    return openRequest(hash.slice(8));
  }
  const view = VIEWS.includes(hash) && hash !== 'pair' ? hash : 'requests';
  show(view);
}

// ---- pairing (section 7) ------------------------------------------------------

function guessName() {
  const ua = navigator.userAgent;
  const android = /Android [\d.]+; ([^;)]+)/.exec(ua);
  if (android && !/^K$/.test(android[1])) return android[1].trim().slice(0, 64);
  if (/iPhone/.test(ua)) return 'iPhone';
  if (/iPad/.test(ua)) return 'iPad';
  if (/Android/.test(ua)) return 'Android phone';
  return 'This browser';
}

let pairing = null;  // {id, secret, context}: the pairing this view shows, and only it
let pairingLinks = 0;  // counts #pair= links opened: a slower earlier one must not show

// A new #pair= link replaces whatever an earlier one left on the view: its
// code, its wait, its secret.
function resetPairView() {
  if (pairing) pairing.secret.fill(0);
  pairing = null;
  pairingLinks += 1;
  $('pair-context').textContent = 'Reading the pairing request\u2026';
  $('pair-form').hidden = true;
  $('pair-submit').disabled = false;
  $('pair-code-box').hidden = true;
  $('pair-code').textContent = '';
  $('pair-code').removeAttribute('aria-label');
  $('pair-wait').textContent = 'Waiting for the terminal to confirm\u2026';
}

async function startPairing(fragment) {
  show('pair');
  resetPairView();
  const link = pairingLinks;
  const [id, secretText] = fragment.split('.');
  let secret;
  try {
    secret = unb64u(secretText || '');
    if (!/^[A-Za-z0-9_-]{22}$/.test(id) || secret.length !== 32) throw new Error('bad');
  } catch {
    $('pair-context').textContent = 'This pairing link is damaged. Scan the QR code again.';
    return;
  }
  // The secret stays in memory only; take it out of the address bar and history.
  history.replaceState(null, '', location.pathname + '#pair');
  try {
    const ctx = await api('GET', '/v1/pairings/' + id, { signed: false });
    if (ctx.status !== 'open') throw new ApiError(409, { error: 'already_registered', message: 'already used' });
    if (link !== pairingLinks) return;  // another link was opened meanwhile
    pairing = { id, secret, context: ctx };
    $('pair-context').textContent = `Pair this device to approve sign-ins of ${ctx.user} on ${ctx.host}.`;
    $('pair-name').value = guessName();
    $('pair-form').hidden = false;
    $('pair-name').focus();
  } catch (e) {
    if (link !== pairingLinks) return;
    const why = e.code === 'expired' ? 'This pairing has expired.'
      : e.code === 'already_registered' ? 'This pairing was already used.'
      : e.code === 'not_found' ? 'No such pairing.' : 'The server could not be reached.';
    $('pair-context').textContent = why + ' Run twostep-enroll --push again for a new QR code.';
  }
}

async function submitPairing(event) {
  event.preventDefault();
  const name = $('pair-name').value.trim();
  if (!name || enc.encode(name).length > 64) {
    say('Give this device a name of at most 64 bytes.', true);
    return;
  }
  const button = $('pair-submit');
  button.disabled = true;
  const current = pairing;
  try {
    // The same phone pairs with further hosts or users under the same keys.
    if (!(await loadIdentity())) {
      say('Confirm with your fingerprint, face or screen lock…');
      const credential = await makeCredential(name);
      const apiKey = await makeApiKey();
      const keyId = b64u((await sha256(apiKey.spki)).slice(0, 16));
      identity = { apiKey: apiKey.pair, apiSpki: apiKey.spki, keyId,
        credentialId: credential.id, credentialSpki: credential.spki, created: Date.now() };
      await idbPut('device', identity);
    }
    const proof = await pairingProof(current.secret, current.id, name, identity.credentialId,
      identity.credentialSpki, identity.apiSpki);
    const signature = await registrationSignature(identity.apiKey.privateKey, current.id, name,
      identity.credentialId, identity.credentialSpki, identity.apiSpki);
    await api('POST', `/v1/pairings/${current.id}/device`, {
      signed: false,
      body: {
        name, credential_id: b64u(identity.credentialId),
        credential_public_key: b64u(identity.credentialSpki),
        api_public_key: b64u(identity.apiSpki), proof: b64u(proof), api_signature: b64u(signature),
      },
    });
    const code = await comparisonCode(current.secret, identity.credentialSpki, identity.apiSpki);
    current.secret.fill(0);
    if (pairing !== current) return;  // another link was opened meanwhile
    $('pair-form').hidden = true;
    $('pair-code').textContent = code.slice(0, 3) + '\u2009' + code.slice(3);
    $('pair-code').setAttribute('aria-label', 'Comparison code ' + code.split('').join(' '));
    $('pair-code-box').hidden = false;
    say('');
    $('pair-code').focus?.();
    waitForConfirmation(current);
  } catch (e) {
    if (pairing !== current) return;
    button.disabled = false;
    say(e.name === 'NotAllowedError'
      ? 'Pairing needs your fingerprint, face or screen lock. Try again.'
      : 'Pairing failed: ' + e.message, true);
  }
}

// The device is active once the enroll tool confirms (section 7 step 6): the
// pairing's own status says so. (A record of this key for the same host and
// user may exist already, from pinning this phone in another secret file, so
// the device list cannot tell.) Nothing says "Paired" before that.
async function waitForConfirmation(current) {
  const ctx = current.context;
  const stillShown = () => pairing === current;
  for (let i = 0; i < 600 && stillShown(); i++) {
    let status = null;
    try {
      status = (await api('GET', '/v1/pairings/' + current.id, { signed: false })).status;
    } catch (e) {
      if (e.code === 'expired' || e.code === 'not_found') break;
    }
    if (!stillShown()) return;
    if (status === 'confirmed') {
      $('pair-wait').textContent = 'Paired. This device can now approve sign-ins of ' +
        `${ctx.user} on ${ctx.host}.`;
      $('unpaired').hidden = true;
      pairing = null;
      history.replaceState(null, '', location.pathname + '#requests');
      show('requests');
      say('Paired with ' + ctx.host + '.');
      startEvents(true);
      updateNotifyBox();
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (stillShown()) $('pair-wait').textContent = 'The terminal did not confirm. Run twostep-enroll --push again.';
}

// ---- requests ------------------------------------------------------------------

const requests = new Map();  // challenge id -> {view, element}

function renderRequest(view, highlight = false) {
  let entry = requests.get(view.id);
  if (!entry) {
    const el = $('request-template').content.firstElementChild.cloneNode(true);
    el.id = 'request-' + view.id;
    const input = el.querySelector('.number');
    input.id = 'number-' + view.id;
    el.querySelector('label').htmlFor = input.id;
    el.setAttribute('aria-labelledby', 'title-' + view.id);
    el.querySelector('.request-title').id = 'title-' + view.id;
    el.querySelector('form').addEventListener('submit', (ev) => { ev.preventDefault(); approve(view.id); });
    el.querySelector('.deny').addEventListener('click', () => decide(view.id, 'deny'));
    el.querySelector('.report').addEventListener('click', () => decide(view.id, 'report'));
    entry = { view, element: el };
    requests.set(view.id, entry);
    $('requests-list').prepend(el);
  }
  entry.view = view;
  if (view.status !== 'pending') entry.note = '';  // the outcome replaces any earlier hint
  const el = entry.element;
  const fill = (field, text) => { el.querySelector(`[data-field="${field}"]`).textContent = text; };
  fill('user', view.user);
  fill('host', view.host);
  fill('service', SERVICE_NAMES[view.service] || view.service);
  fill('rhost', view.rhost || 'this computer');
  fill('tty', view.tty || '\u2014');
  // The signed context: shown only when the login has it.
  for (const field of ['command', 'target_user', 'location']) {
    const text = (view.context && view.context[field]) || '';
    fill(field, text);
    el.querySelector(`[data-row="${field}"]`).hidden = !text;
    el.querySelector(`[data-field="${field}"]`).hidden = !text;
  }
  fill('created', when(view.created));
  updateState(entry);
  if (highlight) {
    el.classList.add('highlight');
    el.querySelector(view.status === 'pending' ? '.number' : '.request-title').focus?.();
  }
  showWaiting();
}

const WAITING = 'A sign-in request is waiting.';

// "No request is waiting" and the waiting notice say the same thing from
// the same facts (pending and not past its expiry), so they cannot disagree.
function showWaiting() {
  const now = Math.floor(Date.now() / 1000);
  const waiting = [...requests.values()].some((r) => r.view.status === 'pending' && now < r.view.expires);
  $('requests-empty').hidden = waiting;
  if (!waiting && $('status').textContent === WAITING) say('');
}

function updateState(entry) {
  const { view, element } = entry;
  const now = Math.floor(Date.now() / 1000);
  const status = view.status === 'pending' && now >= view.expires ? 'expired' : view.status;
  const state = element.querySelector('[data-field="state"]');
  const [text, cls] = STATE_TEXT[status] || ['', ''];
  if (status === 'expired') entry.note = '';
  state.textContent = entry.note || text;
  state.className = 'state ' + (entry.noteClass || cls);
  const pending = status === 'pending';
  for (const c of element.querySelectorAll('input, button')) c.disabled = !pending || entry.busy;
  element.querySelector('form').hidden = !pending;
  showWaiting();
}

function setNote(id, note, noteClass) {
  const entry = requests.get(id);
  if (!entry) return;
  entry.note = note;
  entry.noteClass = noteClass;
  updateState(entry);
}

async function approve(id) {
  const entry = requests.get(id);
  const input = entry.element.querySelector('.number');
  const typed = input.value.trim();
  if (!/^[0-9]{1,2}$/.test(typed)) {
    setNote(id, 'Type the two-digit number shown on the computer.', 'bad');
    input.focus();
    return;
  }
  entry.busy = true;
  setNote(id, 'Confirm with your fingerprint, face or screen lock…', '');
  try {
    const digest = await approvalDigest(entry.view, Number(typed));
    const cred = await navigator.credentials.get({
      publicKey: {
        challenge: digest,
        allowCredentials: [{ type: 'public-key', id: identity.credentialId }],
        userVerification: 'required',
        timeout: 60000,
      },
    });
    const r = cred.response;
    const view = await api('POST', `/v1/device/challenges/${id}/decision`, {
      body: {
        decision: 'approve',
        assertion: {
          credential_id: b64u(cred.rawId), authenticator_data: b64u(r.authenticatorData),
          client_data_json: b64u(r.clientDataJSON), signature: b64u(r.signature),
        },
      },
    });
    entry.busy = false;
    entry.note = '';
    renderRequest(view);
    say('Approved. The computer checks the number you typed.');
  } catch (e) {
    entry.busy = false;
    if (e.name === 'NotAllowedError') {
      setNote(id, 'Not approved: the fingerprint, face or screen-lock check did not succeed.', 'bad');
    } else if (e.code === 'already_decided' || e.code === 'expired') {
      setNote(id, '', '');
      refreshRequest(id);
    } else {
      setNote(id, 'Not approved: ' + e.message, 'bad');
    }
  }
}

async function decide(id, decision) {
  const entry = requests.get(id);
  entry.busy = true;
  updateState(entry);
  try {
    const view = await api('POST', `/v1/device/challenges/${id}/decision`, { body: { decision } });
    entry.busy = false;
    entry.note = '';
    renderRequest(view);
    say(decision === 'deny' ? 'Denied.' : 'Reported. Tell your administrator.');
  } catch (e) {
    entry.busy = false;
    setNote(id, 'Failed: ' + e.message, 'bad');
    refreshRequest(id);
  }
}

async function refreshRequest(id) {
  try {
    renderRequest(await api('GET', '/v1/device/challenges/' + id));
  } catch { /* shown by the stream's next update */ }
}

// From a notification: /#request=<id>.
async function openRequest(id) {
  if (!/^[A-Za-z0-9_-]{22}$/.test(id) || !(await loadIdentity())) return;
  try {
    renderRequest(await api('GET', '/v1/device/challenges/' + id), true);
  } catch (e) {
    say(e.code === 'not_found' ? 'That request is not for this device.' : 'Could not load the request: ' + e.message, true);
  }
}

// Requests the relay kept from this phone (its notification bound, or a
// cooldown after unanswered or denied ones): said once the stream is open.
async function showSuppressed() {
  try {
    const { suppressed } = await api('GET', '/v1/device/challenges');
    const count = suppressed && Number.isInteger(suppressed.count) ? suppressed.count : 0;
    const note = $('requests-suppressed');
    note.hidden = count === 0;
    if (count === 0) return;
    const since = new Date(suppressed.since * 1000).toLocaleString();
    note.textContent = `${count} further sign-in ${count === 1 ? 'request was' : 'requests were'} ` +
      `suppressed since ${since}: too many came at once. If they were not yours, ` +
      'someone may have your password.';
  } catch { /* the list itself comes from the stream */ }
}

// ---- the event stream (fetch streaming: EventSource cannot sign) ---------------

let streamAbort = null;

async function startEvents(restart = false) {
  if (!identity) return;
  if (streamAbort && !restart) return;
  if (streamAbort) streamAbort.abort();
  const abort = new AbortController();
  streamAbort = abort;
  let delay = 1000;
  while (!abort.signal.aborted) {
    try {
      const res = await api('GET', '/v1/device/events', { signal: abort.signal });
      delay = 1000;
      document.body.dataset.stream = 'open';
      document.body.dataset.streamOpens = String(Number(document.body.dataset.streamOpens || 0) + 1);
      // The stream replays only pending requests: what changed while it was
      // down (a phone asleep, a network change) is fetched.
      for (const [id, entry] of requests) if (entry.view.status === 'pending') refreshRequest(id);
      showSuppressed();
      await readEvents(res.body.getReader(), abort.signal);
    } catch (e) {
      if (abort.signal.aborted) return;
      if (e.status === 401 || e.status === 403) {
        document.body.dataset.stream = 'refused';
        $('unpaired').hidden = false;
        return;
      }
    }
    document.body.dataset.stream = 'closed';
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 30000);
  }
}

async function readEvents(reader, signal) {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data = [];
  while (!signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    if (buffer.length > 1 << 20) throw new Error('event stream line too long');
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (data.length) dispatch(event, data.join('\n'));
        event = 'message';
        data = [];
      } else if (line.startsWith(':')) {
        // keep-alive comment
      } else if (line.startsWith('event:')) {
        event = line.slice(6).trim();
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
    }
  }
}

function dispatch(event, text) {
  let view;
  try { view = JSON.parse(text); } catch { return; }
  if (!view || typeof view.id !== 'string') return;
  if (event === 'challenge' || (event === 'update' && requests.has(view.id))) {
    renderRequest(view);
    if (event === 'challenge' && document.hidden === false) say(WAITING);
  }
}

// Expiry shows without a server event; and a pending card is looked at
// again now and then, in case the stream missed its update.
setInterval(() => { for (const entry of requests.values()) updateState(entry); }, 1000);
setInterval(() => {
  if (document.hidden) return;
  for (const [id, entry] of requests) if (entry.view.status === 'pending' && !entry.busy) refreshRequest(id);
}, 20000);

// ---- devices and activity --------------------------------------------------------

async function loadDevices() {
  const list = $('devices-list');
  list.setAttribute('aria-busy', 'true');
  if (!(await loadIdentity())) {
    list.setAttribute('aria-busy', 'false');
    list.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'This device is not paired.' }));
    return;
  }
  try {
    const { devices } = await api('GET', '/v1/device/self');
    list.replaceChildren(...devices.map(deviceCard));
    if (!devices.length) list.append(Object.assign(document.createElement('li'), { textContent: 'No active pairing.' }));
    list.setAttribute('aria-busy', 'false');
  } catch (e) {
    list.setAttribute('aria-busy', 'false');
    if (e.status === 401 || e.status === 403) {  // every pairing of this key is removed
      list.replaceChildren(Object.assign(document.createElement('li'),
        { textContent: 'No active pairing: this device approves nothing.' }));
      return;
    }
    say('Could not load devices: ' + e.message, true);
  }
}

function deviceCard(d) {
  const li = document.createElement('li');
  li.className = 'card';
  const h = document.createElement('h3');
  h.textContent = d.name;
  const facts = document.createElement('dl');
  facts.className = 'facts';
  for (const [k, v] of [['Account', `${d.user} on ${d.host}`], ['Added', when(d.created)], ['Last used', when(d.last_used)]]) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    facts.append(dt, dd);
  }
  const form = document.createElement('form');
  const inputId = 'rename-' + d.device_id;
  const label = Object.assign(document.createElement('label'), { textContent: 'Rename', htmlFor: inputId });
  const input = Object.assign(document.createElement('input'), { id: inputId, value: d.name, maxLength: 64, required: true });
  const buttons = document.createElement('div');
  buttons.className = 'buttons';
  const save = Object.assign(document.createElement('button'), { type: 'submit', textContent: 'Save name' });
  const remove = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Remove this device', className: 'danger' });
  remove.setAttribute('aria-label', `Remove this device from ${d.user} on ${d.host}`);
  buttons.append(save, remove);
  form.append(label, input, buttons);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('PATCH', '/v1/device/self/' + d.device_id, { body: { name: input.value.trim() } });
      h.textContent = input.value.trim();
      say('Renamed.');
    } catch (e) { say('Rename failed: ' + e.message, true); }
  });
  remove.addEventListener('click', async () => {
    if (remove.dataset.armed !== 'yes') {
      remove.dataset.armed = 'yes';
      remove.textContent = 'Press again to remove';
      return;
    }
    try {
      await api('DELETE', '/v1/device/self/' + d.device_id);
      say(`Removed: this device no longer approves sign-ins of ${d.user} on ${d.host}.`);
      loadDevices();
    } catch (e) { say('Remove failed: ' + e.message, true); }
  });
  li.append(h, facts, form);
  return li;
}

async function loadActivity() {
  const list = $('activity-list');
  list.setAttribute('aria-busy', 'true');  // what is shown is stale until the answer
  if (!(await loadIdentity())) { list.setAttribute('aria-busy', 'false'); return; }
  try {
    const { activity } = await api('GET', '/v1/device/activity', { query: 'limit=50' });
    list.replaceChildren(...activity.map((v) => {
      const li = document.createElement('li');
      const outcome = document.createElement('span');
      outcome.className = 'outcome';
      outcome.textContent = v.status;
      li.append(outcome, ` \u2014 ${v.user} on ${v.host}, ${SERVICE_NAMES[v.service] || v.service}` +
        (v.rhost ? ` from ${v.rhost}` : '') + `, ${when(v.created)}`);
      return li;
    }));
    if (!activity.length) list.append(Object.assign(document.createElement('li'), { textContent: 'Nothing yet.' }));
  } catch (e) {
    say('Could not load activity: ' + e.message, true);
  }
  list.setAttribute('aria-busy', 'false');
}

// ---- notifications (Web Push) -----------------------------------------------------

function notificationsPossible() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function isIos() { return /iPhone|iPad|iPod/.test(navigator.userAgent); }

function standalone() {
  return matchMedia('(display-mode: standalone)').matches || navigator.standalone === true;
}

async function updateNotifyBox() {
  const box = $('notify-box');
  if (!identity) { box.hidden = true; return; }
  if (!notificationsPossible()) {
    box.hidden = false;
    $('notify-button').hidden = true;
    $('notify-text').textContent = isIos() && !standalone()
      ? 'For notifications on iPhone and iPad (iOS 16.4 or later), add twostep to the home screen: Share, then Add to Home Screen.'
      : 'This browser cannot show notifications; requests appear while this page is open.';
    return;
  }
  const reg = await navigator.serviceWorker.ready;
  const sub = await reg.pushManager.getSubscription();
  box.hidden = Notification.permission === 'granted' && !!sub;
}

async function enableNotifications() {
  try {
    if ((await Notification.requestPermission()) !== 'granted') {
      say('Notifications are off. Requests still appear while this page is open.');
      return;
    }
    const { vapid_public_key: key } = await api('GET', '/v1/push/key', { signed: false });
    const reg = await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: unb64u(key) });
    await api('POST', '/v1/device/push', {
      body: { endpoint: sub.endpoint, p256dh: b64u(sub.getKey('p256dh')), auth: b64u(sub.getKey('auth')) },
    });
    say('Notifications are on.');
  } catch (e) {
    say('Notifications could not be turned on (' + e.message + '). Requests still appear while this page is open.', true);
  }
  updateNotifyBox();
}

// ---- start ---------------------------------------------------------------------------

async function main() {
  $('pair-form').addEventListener('submit', submitPairing);
  $('notify-button').addEventListener('click', enableNotifications);
  window.addEventListener('hashchange', route);
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
    navigator.serviceWorker.addEventListener('message', (ev) => {
      if (ev.data && ev.data.type === 'open-request' && typeof ev.data.id === 'string') {
        location.hash = 'request=' + ev.data.id;
      }
    });
  }
  await loadIdentity();
  $('unpaired').hidden = !!identity;
  route();
  if (identity) {
    startEvents();
    updateNotifyBox();
  }
  document.body.dataset.ready = 'yes';
}

main();
