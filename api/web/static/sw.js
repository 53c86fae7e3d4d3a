// G-Share service worker: the app shell, and the Android share target.
//
// What it keeps (docs/web.md, docs/security.md): only the static files
// under content-hashed names (/static/name.<hash>.ext), which never change
// and hold no data. Pages and API answers are never cached: they carry
// document names and contents, and a phone is often shared. A page that
// cannot be fetched gets a short offline notice instead.
//
// The share target: Android posts the shared files to /app/share; the
// worker keeps them in the browser (Cache Storage "gshare-share") and
// opens /app/share, where the user picks the folder and app.js uploads
// them through tus (resumable), then deletes them. Logging out deletes
// them too.
'use strict';

var STATIC = 'gshare-static-v1';
var SHARE = 'gshare-share';
var hashed = /^\/static\/.+\.[0-9a-f]{10}\.[a-z0-9]+$/;

self.addEventListener('install', function () { self.skipWaiting(); });

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf('gshare-static-') === 0 && k !== STATIC;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function offline() {
  return new Response('<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
    '<title>G-Share</title><p lang="lo">ບໍ່ມີການເຊື່ອມຕໍ່. ກະລຸນາລອງໃໝ່.</p><p lang="en">No connection. Try again.</p>',
    { status: 503, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' } });
}

// receiveShare keeps the shared files and opens the page that uploads
// them. Earlier shares not yet uploaded stay.
function receiveShare(request) {
  return request.formData().then(function (form) {
    var files = form.getAll('file').filter(function (f) { return f && typeof f !== 'string'; });
    return caches.open(SHARE).then(function (cache) {
      var stamp = Date.now();
      return Promise.all(files.map(function (f, i) {
        var key = '/app/share/pending/' + stamp + '-' + i;
        return cache.put(key, new Response(f, { headers: {
          'Content-Type': f.type || 'application/octet-stream',
          'X-Name': encodeURIComponent(f.name || ('shared-' + stamp + '-' + i)),
          'X-Modified': String(f.lastModified || stamp)
        } }));
      }));
    });
  }).then(function () {
    return Response.redirect('/app/share', 303);
  }, function () {
    return Response.redirect('/app/share?failed=1', 303);
  });
}

self.addEventListener('fetch', function (event) {
  var req = event.request;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.method === 'POST' && url.pathname === '/app/share') {
    event.respondWith(receiveShare(req));
    return;
  }
  if (req.method !== 'GET') return;
  if (hashed.test(url.pathname)) {
    // Cache first: a hashed name is the same bytes forever.
    event.respondWith(caches.open(STATIC).then(function (cache) {
      return cache.match(req).then(function (hit) {
        return hit || fetch(req).then(function (res) {
          if (res.ok) cache.put(req, res.clone());
          return res;
        });
      });
    }));
    return;
  }
  if (req.mode === 'navigate' && (url.pathname === '/' || url.pathname === '/login' || url.pathname.indexOf('/app/') === 0)) {
    // Network only for pages (never stored); offline, a notice.
    event.respondWith(fetch(req).catch(offline));
  }
  // Everything else (API, downloads, share links, tus) goes to the
  // network untouched: the worker never sees a document.
});
