// twostep approver service worker: keeps the app shell for offline starts,
// and turns a Web Push into a notification. A push carries only
// {"type":"challenge","id":"…"} (and "suppressed": N, the requests the relay
// kept from this phone since its last notification): the page fetches the
// details itself, with its signed request, when the user opens it.
'use strict';

const SHELL = 'twostep-shell-v1';
const SHELL_FILES = ['/', '/app/app.css', '/app/app.js', '/app/manifest.webmanifest',
  '/app/icon.svg', '/app/icon-192.png'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(SHELL_FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// The shell: network first (an upgraded twostepd is seen at once), the cache
// when offline. The API (/v1/) is never cached.
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  const path = url.pathname === '/index.html' ? '/' : url.pathname;
  if (!SHELL_FILES.includes(path)) return;
  event.respondWith(fetch(event.request).then((res) => {
    if (res.ok) {
      const copy = res.clone();
      caches.open(SHELL).then((c) => c.put(path, copy));
    }
    return res;
  }).catch(() => caches.match(path)));
});

self.addEventListener('push', (event) => {
  let msg = null;
  try { msg = event.data ? event.data.json() : null; } catch { msg = null; }
  const id = msg && msg.type === 'challenge' && /^[A-Za-z0-9_-]{22}$/.test(msg.id) ? msg.id : null;
  // Requests the relay kept from this phone since its last notification.
  const held = msg && Number.isInteger(msg.suppressed) && msg.suppressed > 0 ? msg.suppressed : 0;
  const more = held ? ` ${held} further ${held === 1 ? 'request was' : 'requests were'} suppressed.` : '';
  event.waitUntil(self.registration.showNotification('Sign-in request', {
    body: 'Someone is signing in with your account. Open to check the details and approve or deny.' + more,
    tag: id ? 'twostep-' + id : 'twostep',
    data: { id },
    icon: '/app/icon-192.png',
    requireInteraction: true,
  }));
});

// Opens the request: an open window is told (and focused), else a new one.
async function openRequest(id) {
  const url = id ? '/#request=' + id : '/#requests';
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const client = windows.find((c) => new URL(c.url).origin === self.location.origin);
  if (client) {
    client.postMessage({ type: 'open-request', id });
    try { await client.focus(); } catch { /* focus needs the click's activation */ }
    return;
  }
  await self.clients.openWindow(url);
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const id = event.notification.data && event.notification.data.id;
  event.waitUntil(openRequest(id));
});
