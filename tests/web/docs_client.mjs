// A minimal phone client for twostep push, written from docs/protocol.md
// alone, with the WebCrypto API (globalThis.crypto.subtle) and fetch, and no
// project code: it checks that the protocol document is enough for a third
// party. Its "authenticator" is a WebCrypto P-256 key that makes WebAuthn
// assertions the way section 6 describes them.
//
// usage: node docs_client.mjs
// One JSON command per line on stdin, one answer per line on stdout
// ("= {...}"): {"op": "pair", "url", "name"}, {"op": "confirmed"},
// {"op": "self"}, {"op": "next"}, {"op": "approve", "id", "number"},
// {"op": "deny", "id"}, {"op": "quit"}. Errors answer {"error": "..."}.
import readline from 'node:readline';

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();

// ---- section 2: b64u, lp ----------------------------------------------------

const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
function unb64u(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new Error('not b64u: ' + text);
  const out = new Uint8Array(Buffer.from(text, 'base64url'));
  if (b64u(out) !== text) throw new Error('not canonical b64u: ' + text);
  return out;
}
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const bytesOf = (x) => (typeof x === 'string' ? enc.encode(x) : x);
function lp(x) {
  const b = bytesOf(x);
  const out = new Uint8Array(4 + b.length);
  new DataView(out.buffer).setUint32(0, b.length);
  out.set(b, 4);
  return out;
}
const sha256 = async (b) => new Uint8Array(await subtle.digest('SHA-256', b));
const hex = (b) => Buffer.from(b).toString('hex');
async function hmac(key, message) {
  const k = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, message));
}
const ECDSA = { name: 'ECDSA', hash: 'SHA-256' };
const signP1363 = async (key, message) => new Uint8Array(await subtle.sign(ECDSA, key, message));

// WebAuthn signatures are DER (section 6 step 4); WebCrypto gives r || s.
function derOfP1363(sig) {
  const integer = (half) => {
    let i = 0;
    while (i < half.length - 1 && half[i] === 0) i++;
    let v = half.slice(i);
    if (v[0] & 0x80) v = concat(new Uint8Array([0]), v);
    return concat(new Uint8Array([0x02, v.length]), v);
  };
  const body = concat(integer(sig.slice(0, 32)), integer(sig.slice(32)));
  return concat(new Uint8Array([0x30, body.length]), body);
}

// ---- this phone ----------------------------------------------------------------

const phone = { origin: null, api: null, apiSpki: null, keyId: null, cred: null, credSpki: null,
  credId: null, counter: 0, pairing: null, seen: new Set() };

async function makeKeys() {
  // Section 7 step 4: the API key is non-extractable; only its public half leaves.
  phone.api = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  phone.apiSpki = new Uint8Array(await subtle.exportKey('spki', phone.api.publicKey));
  phone.keyId = b64u((await sha256(phone.apiSpki)).slice(0, 16));  // section 8.1
  phone.cred = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  phone.credSpki = new Uint8Array(await subtle.exportKey('spki', phone.cred.publicKey));
  phone.credId = globalThis.crypto.getRandomValues(new Uint8Array(16));
}

// ---- HTTP: section 8.1's signed requests, or none ----------------------------------

class ApiError extends Error {
  constructor(status, body) { super(`HTTP ${status} ${body && body.error}`); this.status = status; this.body = body; }
}

async function call(method, path, { query = '', body, signed = true, stream = false } = {}) {
  const raw = body === undefined ? new Uint8Array(0) : enc.encode(JSON.stringify(body));
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (signed) {
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = b64u(globalThis.crypto.getRandomValues(new Uint8Array(16)));
    const canonical = ['TWOSTEP-ECDSA-P256-SHA256', method, path, query, hex(await sha256(raw)), ts, nonce,
      phone.keyId].join('\n');
    Object.assign(headers, {
      'X-Twostep-Device': phone.keyId, 'X-Twostep-Timestamp': ts, 'X-Twostep-Nonce': nonce,
      'X-Twostep-Signature': b64u(await signP1363(phone.api.privateKey, enc.encode(canonical))),
    });
  }
  const res = await fetch(phone.origin + path + (query ? '?' + query : ''),
    { method, headers, body: body === undefined ? undefined : raw });
  if (stream && res.ok) return res;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// ---- section 7: pairing ----------------------------------------------------------

async function pair({ url, name }) {
  const at = url.indexOf('/#pair=');
  const [id, secretText] = url.slice(at + '/#pair='.length).split('.');
  const secret = unb64u(secretText);
  if (secret.length !== 32) throw new Error('the pairing secret is not 32 bytes');
  phone.origin = url.slice(0, at);  // the API is at the approver origin (section 7 step 2)
  if (!phone.api) await makeKeys();
  const context = await call('GET', '/v1/pairings/' + id, { signed: false });
  if (context.status !== 'open') throw new Error('pairing is ' + context.status);
  const fields = concat(lp(id), lp(name), lp(phone.credId), lp(phone.credSpki), lp(phone.apiSpki));
  const proof = await hmac(secret, concat(enc.encode('twostep-pair-v1'), fields));
  const signature = await signP1363(phone.api.privateKey, concat(enc.encode('twostep-pair-key-v1'), fields));
  const view = await call('POST', `/v1/pairings/${id}/device`, {
    signed: false,
    body: { name, credential_id: b64u(phone.credId), credential_public_key: b64u(phone.credSpki),
      api_public_key: b64u(phone.apiSpki), proof: b64u(proof), api_signature: b64u(signature) },
  });
  const mac = await hmac(secret, concat(enc.encode('twostep-compare-v1'), lp(phone.credSpki), lp(phone.apiSpki)));
  const code = String(new DataView(mac.buffer).getUint32(0) % 1000000).padStart(6, '0');
  phone.pairing = id;
  return { context, status: view.status, code };
}

// Step 7: the pairing's own status says when the terminal confirmed.
async function confirmed() {
  for (let i = 0; i < 120; i++) {
    const view = await call('GET', '/v1/pairings/' + phone.pairing, { signed: false });
    if (view.status === 'confirmed') return { view };
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the terminal did not confirm');
}

// ---- section 8.2: the event stream, one new challenge at a time ----------------------

async function next() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 30000);
  try {
    const res = await call('GET', '/v1/device/events', { stream: true });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let event = 'message';
    let data = [];
    abort.signal.addEventListener('abort', () => reader.cancel());
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trim());
        else if (line === '') {
          if (event === 'challenge' && data.length) {
            const view = JSON.parse(data.join('\n'));
            if (!phone.seen.has(view.id)) {
              phone.seen.add(view.id);
              reader.cancel();
              return { view };
            }
          }
          event = 'message';
          data = [];
        }
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

// ---- section 6: the approval ---------------------------------------------------------

async function approve({ id, number }) {
  const v = await call('GET', '/v1/device/challenges/' + id);
  // Digest version 2 when the view has a context (protocol version 3), else 1.
  const c = v.context;
  const context = c ? [lp(c.command), lp(c.target_user), lp(c.location)] : [];
  const digest = await sha256(concat(enc.encode(c ? 'twostep-approval-v2' : 'twostep-approval-v1'),
    lp(v.id), lp(v.nonce), lp(v.host), lp(v.user), lp(v.service), lp(v.rhost), lp(v.tty), ...context,
    lp(String(number).padStart(2, '0')), lp(String(v.expires))));
  const rpId = new URL(phone.origin).hostname;
  phone.counter += 1;
  const counter = new Uint8Array(4);
  new DataView(counter.buffer).setUint32(0, phone.counter);
  const authenticatorData = concat(await sha256(enc.encode(rpId)), new Uint8Array([0x05]), counter);
  const clientData = enc.encode(JSON.stringify({ type: 'webauthn.get', challenge: b64u(digest),
    origin: phone.origin, crossOrigin: false }));
  const signed = concat(authenticatorData, await sha256(clientData));
  const signature = derOfP1363(await signP1363(phone.cred.privateKey, signed));
  const view = await call('POST', `/v1/device/challenges/${id}/decision`, {
    body: { decision: 'approve', assertion: { credential_id: b64u(phone.credId),
      authenticator_data: b64u(authenticatorData), client_data_json: b64u(clientData),
      signature: b64u(signature) } },
  });
  return { view };
}

const deny = async ({ id }) => ({ view: await call('POST', `/v1/device/challenges/${id}/decision`,
  { body: { decision: 'deny' } }) });
const self = async () => call('GET', '/v1/device/self');

// ---- the command loop ----------------------------------------------------------------

const ops = { pair, confirmed, next, approve, deny, self };
const reply = (answer) => process.stdout.write('= ' + JSON.stringify(answer) + '\n');
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const command = JSON.parse(line);
  if (command.op === 'quit') break;
  try {
    if (!ops[command.op]) throw new Error('unknown op ' + command.op);
    reply(await ops[command.op](command));
  } catch (e) {
    reply({ error: e.message, body: e.body || null });
  }
}
process.exit(0);
