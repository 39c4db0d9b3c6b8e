// Checks one Web Push request that twostepd sent, with implementations that
// are not ours: http_ece (the decryption used by the npm web-push package)
// decrypts the aes128gcm body with the subscription's private key and auth
// secret, and jose verifies the VAPID JWT (RFC 8292) with the relay's public
// key. Input: a JSON file from test_webpush.py. Output: one JSON line with
// what was decrypted and the verified claims; exit 1 on any failure.
import { readFileSync } from 'node:fs';
import { createECDH, createPublicKey } from 'node:crypto';
import { createRequire } from 'node:module';
import * as jose from 'jose';

const require = createRequire(import.meta.url);
const ece = require('http_ece');

const b64u = (s) => Buffer.from(s, 'base64url');
const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const headers = Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v]));

function fail(what) {
  console.log(JSON.stringify({ ok: false, error: what }));
  process.exit(1);
}

if (headers['content-encoding'] !== 'aes128gcm') fail('Content-Encoding is not aes128gcm');
if (!/^\d+$/.test(headers.ttl || '')) fail('no TTL header');

// RFC 8291: decrypt as the browser would.
const ua = createECDH('prime256v1');
ua.setPrivateKey(b64u(input.ua_private));
let plaintext;
try {
  plaintext = ece.decrypt(b64u(input.body), {
    version: 'aes128gcm', privateKey: ua, authSecret: b64u(input.auth),
  }).toString('utf8');
} catch (e) {
  fail('http_ece could not decrypt: ' + e.message);
}

// RFC 8292: "vapid t=<jwt>, k=<b64u public key>".
const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(headers.authorization || '');
if (!m) fail('Authorization is not "vapid t=..., k=..."');
const [, token, k] = m;
if (k !== input.vapid_public_key) fail('k= is not the relay\'s VAPID public key');
const point = b64u(k);
const key = createPublicKey({
  key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'),
         y: point.subarray(33, 65).toString('base64url') },
  format: 'jwk',
});
let verified;
try {
  verified = await jose.jwtVerify(token, key, { algorithms: ['ES256'], audience: input.audience });
} catch (e) {
  fail('jose refused the VAPID JWT: ' + e.message);
}
const now = Math.floor(Date.now() / 1000);
if (!(verified.payload.exp > now && verified.payload.exp <= now + 24 * 3600)) fail('exp not within 24 h');
if (!/^(mailto:|https:)/.test(verified.payload.sub || '')) fail('sub is not mailto: or https:');
console.log(JSON.stringify({ ok: true, payload: JSON.parse(plaintext), header: verified.protectedHeader,
                             claims: verified.payload }));
