// G-Share web app: resumable uploads (tus-js-client) and the actions that
// call the REST API. Pages work without it for reading; it only adds what
// a plain page cannot do. No inline script anywhere (the CSP forbids it).
(function () {
  'use strict';

  var M = {};
  try { M = JSON.parse(document.getElementById('messages').textContent || '{}'); } catch (e) { M = {}; }
  // t returns the catalogue text of key with {0}, {1}… filled in.
  function t(key) {
    var args = Array.prototype.slice.call(arguments, 1);
    return (M[key] || key).replace(/\{(\d)\}/g, function (_, i) { return args[+i]; });
  }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : '';
  var lang = document.documentElement.lang || 'en';
  var numFmt = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });

  function bytes(n) {
    var units = ['B', 'KB', 'MB', 'GB', 'TB'], u = 0;
    while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
    return numFmt.format(n) + ' ' + units[u];
  }
  function duration(s) {
    if (!isFinite(s) || s < 0) return '…';
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    return (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(sec).padStart(2, '0');
  }
  // encPath escapes each segment of a document path for a URL.
  function encPath(p) { return p.split('/').map(encodeURIComponent).join('/'); }

  function api(method, url, body) {
    var opts = { method: method, credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var err = new Error((data && data.error) || res.statusText);
          err.status = res.status;
          throw err;
        }
        return data;
      });
    });
  }

  // Dialogs: a name prompt and a confirmation, both <dialog> elements of
  // the page, so they are translated and styled like the rest.
  function ask(label, value) {
    var d = document.getElementById('name-dialog');
    var input = document.getElementById('name-input');
    document.getElementById('name-label').textContent = label;
    input.value = value || '';
    d.returnValue = '';
    var from = document.activeElement;
    d.showModal();
    input.focus();
    return new Promise(function (resolve) {
      d.addEventListener('close', function () {
        refocus(from);
        resolve(d.returnValue === 'ok' && input.value.trim() ? input.value.trim() : null);
      }, { once: true });
    });
  }
  function confirmDialog(text) {
    var d = document.getElementById('confirm-dialog');
    if (!d) return Promise.resolve(window.confirm(text));
    document.getElementById('confirm-text').textContent = text;
    d.returnValue = '';
    var from = document.activeElement;
    d.showModal();
    return new Promise(function (resolve) {
      d.addEventListener('close', function () { refocus(from); resolve(d.returnValue === 'ok'); }, { once: true });
    });
  }
  // refocus puts the focus back where a dialog was opened from once it
  // closes: on the control itself, or, when that was an item of a row's
  // menu (closed since), on the menu's button.
  function refocus(from) {
    if (!from || !from.isConnected || from === document.body) return;
    var menu = from.closest && from.closest('details.menu');
    if (menu && !menu.open) from = menu.querySelector('summary');
    if (from && from.focus) from.focus();
  }
  // Focus after a reload: an action that reloads the page names the
  // entry to focus next (the renamed file, the new folder) here.
  var focusKey = 'gshare_focus';
  function focusAfterReload(path) {
    try { sessionStorage.setItem(focusKey, path); } catch (e) { /* storage off */ }
  }
  function fail(err) { window.alert(t('js_error', err.message)); }

  // ---- Uploads ----

  var uploader = document.getElementById('uploader');
  if (uploader && window.tus) setupUploads(uploader);

  function setupUploads(zone) {
    var folder = zone.dataset.folder.replace(/\/$/, '');
    var chunk = parseInt(zone.dataset.chunk, 10) || 8 * 1024 * 1024;
    var list = document.getElementById('upload-list');
    var totalBox = document.getElementById('upload-total');
    var totalBar = document.getElementById('total-progress');
    var totalText = document.getElementById('total-text');
    var items = [];

    function refreshTotal() {
      var sent = 0, size = 0, done = 0, speed = 0;
      items.forEach(function (it) {
        if (it.state === 'cancelled') return;
        sent += it.sent; size += it.file.size;
        if (it.state === 'done') done++;
        if (it.state === 'uploading') speed += it.speed;
      });
      var active = items.filter(function (it) { return it.state !== 'cancelled'; }).length;
      totalBox.hidden = active === 0;
      totalBar.value = size ? sent / size * 100 : 100;
      var left = speed > 0 ? (size - sent) / speed : Infinity;
      totalText.textContent = t('js_total', done, active, bytes(sent) + ' / ' + bytes(size)) +
        (speed > 0 ? ' · ' + bytes(speed) + '/s · ' + t('js_time_left', duration(left)) : '');
      if (active > 0 && done === active && !zone.dataset.reloading) {
        zone.dataset.reloading = '1';
        setTimeout(function () { window.location.reload(); }, 800);
      }
    }

    function add(file, rel) {
      var dest = folder + '/' + (rel || file.name);
      var li = document.createElement('li');
      li.className = 'upload';
      var name = document.createElement('span');
      name.className = 'upload-name';
      name.textContent = rel || file.name;
      name.id = 'upload-name-' + items.length;
      // The bar is named by the file, and the row's buttons say which
      // file they pause or cancel (for screen readers).
      var bar = document.createElement('progress');
      bar.max = 100; bar.value = 0;
      bar.setAttribute('aria-labelledby', name.id);
      var status = document.createElement('span');
      status.className = 'upload-status';
      status.textContent = t('js_uploading');
      var pause = document.createElement('button');
      pause.type = 'button'; pause.className = 'small pause'; pause.textContent = t('js_pause');
      var cancel = document.createElement('button');
      cancel.type = 'button'; cancel.className = 'small danger cancel'; cancel.textContent = t('js_cancel');
      pause.setAttribute('aria-describedby', name.id);
      cancel.setAttribute('aria-describedby', name.id);
      li.append(name, bar, status, pause, cancel);
      list.appendChild(li);
      var it = { file: file, dest: dest, sent: 0, speed: 0, state: 'uploading', lastT: Date.now(), lastSent: 0 };
      items.push(it);

      var up = new window.tus.Upload(file, {
        endpoint: '/api/v1/uploads/',
        chunkSize: chunk,
        retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
        metadata: { path: dest, filename: file.name },
        headers: { 'X-CSRF-Token': csrf },
        // The destination is part of the fingerprint: the same file sent
        // to two folders is two uploads. Chosen again after a reload, a
        // file resumes from the offset the server acknowledged.
        fingerprint: function (f) {
          return Promise.resolve(['gshare', dest, f.size, f.lastModified].join('|'));
        },
        removeFingerprintOnSuccess: true,
        onProgress: function (sent, total) {
          var now = Date.now(), dt = (now - it.lastT) / 1000;
          if (dt >= 0.5) {
            var inst = (sent - it.lastSent) / dt;
            it.speed = it.speed ? it.speed * 0.7 + inst * 0.3 : inst;
            it.lastT = now; it.lastSent = sent;
          }
          it.sent = sent;
          bar.value = total ? sent / total * 100 : 100;
          var left = it.speed > 0 ? (total - sent) / it.speed : Infinity;
          status.textContent = bytes(sent) + ' / ' + bytes(total) +
            (it.speed > 0 ? ' · ' + bytes(it.speed) + '/s · ' + t('js_time_left', duration(left)) : '');
          refreshTotal();
        },
        onSuccess: function () {
          it.state = 'done'; it.sent = file.size; bar.value = 100;
          status.textContent = t('js_done');
          li.classList.add('done');
          pause.remove(); cancel.remove();
          refreshTotal();
        },
        onError: function (err) {
          it.state = 'failed';
          var msg = err && err.originalResponse ? err.originalResponse.getBody() : String(err);
          try { msg = JSON.parse(msg).error || msg; } catch (e) { /* not JSON */ }
          status.textContent = t('js_failed') + ': ' + msg;
          li.classList.add('failed');
          pause.textContent = t('js_resume');
          refreshTotal();
        }
      });
      pause.addEventListener('click', function () {
        if (it.state === 'uploading') {
          up.abort();
          it.state = 'paused'; it.speed = 0;
          status.textContent = t('js_paused') + ' · ' + bytes(it.sent) + ' / ' + bytes(file.size);
          pause.textContent = t('js_resume');
        } else {
          it.state = 'uploading'; it.lastT = Date.now(); it.lastSent = it.sent;
          li.classList.remove('failed');
          up.start();
          pause.textContent = t('js_pause');
        }
        refreshTotal();
      });
      cancel.addEventListener('click', function () {
        up.abort(true).catch(function () { /* already gone */ });
        it.state = 'cancelled';
        li.remove();
        refreshTotal();
      });
      up.findPreviousUploads().then(function (prev) {
        if (prev.length) {
          up.resumeFromPreviousUpload(prev[0]);
          li.classList.add('resumed');
        }
        up.start();
      });
      refreshTotal();
    }

    function addFiles(files) {
      Array.prototype.forEach.call(files, function (f) { add(f, f.webkitRelativePath || ''); });
    }
    document.getElementById('upload-input').addEventListener('change', function (e) { addFiles(e.target.files); e.target.value = ''; });
    document.getElementById('upload-folder-input').addEventListener('change', function (e) { addFiles(e.target.files); e.target.value = ''; });

    // Drag and drop, folders included (walked through the entries API).
    function walk(entry, prefix) {
      if (entry.isFile) {
        entry.file(function (f) { add(f, prefix + f.name); });
      } else if (entry.isDirectory) {
        var reader = entry.createReader();
        var more = function () {
          reader.readEntries(function (entries) {
            if (!entries.length) return;
            entries.forEach(function (e) { walk(e, prefix + entry.name + '/'); });
            more();
          });
        };
        more();
      }
    }
    ['dragenter', 'dragover'].forEach(function (ev) {
      document.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add('over'); });
    });
    ['dragleave', 'drop'].forEach(function (ev) {
      document.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.remove('over'); });
    });
    document.addEventListener('drop', function (e) {
      var dt = e.dataTransfer;
      if (!dt) return;
      if (dt.items && dt.items.length && dt.items[0].webkitGetAsEntry) {
        Array.prototype.forEach.call(dt.items, function (item) {
          var entry = item.webkitGetAsEntry();
          if (entry) walk(entry, '');
        });
      } else {
        addFiles(dt.files);
      }
    });
  }

  // ---- Folder actions ----

  var newFolder = document.getElementById('new-folder');
  if (newFolder) {
    newFolder.addEventListener('click', function () {
      ask(t('js_new_folder_name')).then(function (name) {
        if (!name) return;
        var folder = newFolder.dataset.folder.replace(/\/$/, '');
        api('POST', '/api/v1/folders' + encPath(folder + '/' + name)).then(function () {
          focusAfterReload(folder + '/' + name);
          window.location.reload();
        }, fail);
      });
    });
  }

  document.querySelectorAll('#listing tbody tr').forEach(bindRow);
  // "Share this folder": the same dialog as a file's Share, for the folder
  // shown (the button is there only for those who may make links).
  var shareFolder = document.getElementById('share-folder');
  if (shareFolder) {
    shareFolder.addEventListener('click', function () {
      openShare(shareFolder.dataset.path, shareFolder.dataset.name);
    });
  }

  // bindRow wires a folder row's menu actions (rows loaded later too).
  function bindRow(row) {
    var path = row.dataset.path, name = row.dataset.name;
    var parent = path.slice(0, path.lastIndexOf('/'));
    function on(cls, fn) {
      var b = row.querySelector('button.' + cls);
      if (b) b.addEventListener('click', fn);
    }
    // The menu's items are reached with arrows, not Tab (see setupList).
    row.querySelectorAll('[role=menuitem]').forEach(function (x) { x.tabIndex = -1; });
    on('rename', function () {
      ask(t('js_rename_to'), name).then(function (to) {
        if (!to || to === name) return;
        api('POST', '/api/v1/move', { from: path, to: parent + '/' + to }).then(function () {
          focusAfterReload(parent + '/' + to);
          window.location.reload();
        }, fail);
      });
    });
    on('move', function () {
      ask(t('js_move_to'), parent).then(function (dest) {
        if (!dest) return;
        api('POST', '/api/v1/move', { from: path, to: dest.replace(/\/$/, '') + '/' + name }).then(function () { window.location.reload(); }, fail);
      });
    });
    on('delete', function () {
      confirmDialog(t('js_confirm_delete', name)).then(function (ok) {
        if (!ok) return;
        api('DELETE', '/api/v1/files' + encPath(path)).then(function () {
          // The focus goes to the row that takes this one's place.
          var near = row.nextElementSibling || row.previousElementSibling;
          if (near) focusAfterReload(near.dataset.path);
          window.location.reload();
        }, fail);
      });
    });
    on('share', function () { openShare(path, name); });
  }

  function openShare(path, name) {
    var d = document.getElementById('share-dialog');
    var exp = document.getElementById('share-expires');
    var result = document.getElementById('share-result');
    var url = document.getElementById('share-url');
    var errBox = document.getElementById('share-error');
    document.getElementById('share-name').textContent = name;
    var week = new Date(Date.now() + 7 * 24 * 3600 * 1000);
    exp.value = week.toISOString().slice(0, 10);
    exp.min = new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 10);
    document.getElementById('share-password').value = '';
    result.hidden = true; errBox.hidden = true;
    var create = document.getElementById('share-create');
    create.onclick = function () {
      var body = { path: path, expires: exp.value + 'T23:59:59+07:00' };
      var pw = document.getElementById('share-password').value;
      if (pw) body.password = pw;
      api('POST', '/api/v1/shares', body).then(function (s) {
        url.value = s.url;
        result.hidden = false;
        url.select();
      }, function (err) {
        errBox.textContent = t('js_error', err.message);
        errBox.hidden = false;
      });
    };
    document.getElementById('share-copy').onclick = function (e) {
      var btn = e.target;
      var done = function () { btn.textContent = t('js_copied'); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(url.value).then(done, function () { url.select(); document.execCommand('copy'); done(); });
      } else {
        url.select(); document.execCommand('copy'); done();
      }
    };
    var from = document.activeElement;
    d.addEventListener('close', function () { refocus(from); }, { once: true });
    d.showModal();
  }

  // ---- Versions ----

  var versions = document.getElementById('versions');
  if (versions) {
    versions.querySelectorAll('button.restore').forEach(function (b) {
      b.addEventListener('click', function () {
        confirmDialog(b.textContent + ' ' + b.dataset.version + '?').then(function (ok) {
          if (!ok) return;
          api('POST', '/api/v1/restore' + encPath(versions.dataset.path) + '?version=' + b.dataset.version)
            .then(function () { window.location.reload(); }, fail);
        });
      });
    });
  }

  // ---- Trash ----

  // After a restore the page reloads with the focus on the next entry's
  // "restore", or on the page's content when the trash is empty.
  var trashFocus = null;
  if (document.body.dataset.page === 'trash') {
    try { trashFocus = sessionStorage.getItem(focusKey); sessionStorage.removeItem(focusKey); } catch (e) { /* storage off */ }
  }
  var trash = document.getElementById('trash');
  if (trashFocus && trashFocus.indexOf('trash:') === 0) {
    var again = trash && trash.querySelector('tr[data-id="' + trashFocus.slice(6) + '"] button.trash-restore');
    var mainEl = document.getElementById('main');
    if (again) again.focus(); else if (mainEl) mainEl.focus();
  }
  if (trash) {
    trash.querySelectorAll('tbody tr').forEach(function (row) {
      var url = '/api/v1/trash/' + encodeURIComponent(trash.dataset.dept) + '/' + row.dataset.id;
      var restore = row.querySelector('button.trash-restore');
      if (restore) restore.addEventListener('click', function () {
        api('POST', url + '/restore').then(function (res) {
          restore.textContent = t('js_restored_to', res.path);
          var near = row.nextElementSibling || row.previousElementSibling;
          focusAfterReload('trash:' + (near ? near.dataset.id : ''));
          setTimeout(function () { window.location.reload(); }, 800);
        }, fail);
      });
      var purge = row.querySelector('button.trash-purge');
      if (purge) purge.addEventListener('click', function () {
        confirmDialog(t('js_confirm_purge', row.dataset.name)).then(function (ok) {
          if (!ok) return;
          api('DELETE', url).then(function () { window.location.reload(); }, fail);
        });
      });
    });
  }

  // ---- Generic API forms and buttons (account, admin) ----

  document.querySelectorAll('form.api-form').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var body = {};
      new FormData(form).forEach(function (v, k) {
        if (k !== 'csrf_token' && v !== '') body[k] = v;
      });
      var url = form.dataset.url;
      if (form.dataset.urlTemplate) {
        url = form.dataset.urlTemplate.replace(/\{(\w+)\}/g, function (_, k) {
          var v = body[k]; delete body[k]; return encodeURIComponent(v || '');
        });
      }
      var status = form.querySelector('.status');
      api(form.dataset.method, url, body).then(function (res) {
        form.reset();
        if (form.dataset.show && res && res[form.dataset.show]) {
          var shown = res[form.dataset.show];
          if (Array.isArray(shown)) shown = shown.join('  ·  ');
          status.textContent = t('js_token_shown_once', shown);
          status.classList.add('secret');
          if (res.qr && /^data:image\/png;base64,/.test(res.qr)) {
            var img = document.createElement('img');
            img.src = res.qr; img.alt = t('js_qr_alt'); img.className = 'qr';
            status.appendChild(document.createElement('br'));
            status.appendChild(img);
          }
          return;
        }
        status.textContent = form.dataset.done || t('js_saved');
        if (form.dataset.reload) setTimeout(function () { window.location.reload(); }, 500);
      }, function (err) {
        status.textContent = t('js_error', err.message);
      });
    });
  });

  document.querySelectorAll('button.api-action').forEach(function (b) {
    b.addEventListener('click', function () {
      var go = b.dataset.confirm ? confirmDialog(b.dataset.confirm) : Promise.resolve(true);
      go.then(function (ok) {
        if (!ok) return;
        var body = b.dataset.body ? JSON.parse(b.dataset.body) : undefined;
        api(b.dataset.method, b.dataset.url, body).then(function () { window.location.reload(); }, fail);
      });
    });
  });

  // ---- Security keys (WebAuthn) ----
  // The server's options carry binary fields as base64url; the browser
  // wants ArrayBuffers, and its answer goes back as base64url again.

  function fromB64u(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), b = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
    return b.buffer;
  }
  function toB64u(buf) {
    var b = new Uint8Array(buf), s = '';
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function keyIDs(list) {
    (list || []).forEach(function (c) { c.id = fromB64u(c.id); });
  }

  function registerKey(name) {
    return api('POST', '/api/v1/me/2fa/keys/begin', { name: name }).then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = fromB64u(pk.challenge);
      pk.user.id = fromB64u(pk.user.id);
      keyIDs(pk.excludeCredentials);
      return navigator.credentials.create({ publicKey: pk });
    }).then(function (cred) {
      var r = cred.response;
      return api('POST', '/api/v1/me/2fa/keys', {
        id: cred.id, rawId: toB64u(cred.rawId), type: cred.type,
        response: { clientDataJSON: toB64u(r.clientDataJSON), attestationObject: toB64u(r.attestationObject),
          transports: r.getTransports ? r.getTransports() : [] }
      });
    });
  }

  function useKey() {
    return api('POST', '/api/v1/login/2fa/key/begin').then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = fromB64u(pk.challenge);
      keyIDs(pk.allowCredentials);
      return navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      var r = cred.response;
      return api('POST', '/api/v1/login/2fa/key', {
        id: cred.id, rawId: toB64u(cred.rawId), type: cred.type,
        response: { authenticatorData: toB64u(r.authenticatorData), clientDataJSON: toB64u(r.clientDataJSON),
          signature: toB64u(r.signature), userHandle: r.userHandle ? toB64u(r.userHandle) : '' }
      });
    });
  }

  var useKeyButton = document.getElementById('use-key');
  if (useKeyButton) {
    useKeyButton.addEventListener('click', function () {
      var status = document.getElementById('key-status');
      status.textContent = t('js_key_touch');
      useKey().then(function () {
        window.location.assign(useKeyButton.dataset.next || '/app/');
      }, function (err) { status.textContent = t('js_error', err.message); });
    });
  }

  var keyForm = document.getElementById('key-form');
  if (keyForm) {
    keyForm.addEventListener('submit', function (e) {
      e.preventDefault();
      var status = keyForm.querySelector('.status');
      status.textContent = t('js_key_touch');
      registerKey(keyForm.elements.name.value).then(function (res) {
        if (res && res.recovery_codes && res.recovery_codes.length) {
          status.textContent = t('js_token_shown_once', res.recovery_codes.join('  ·  '));
          status.classList.add('secret');
          var next = document.getElementById('key-continue');
          if (next) next.hidden = false;
          return;
        }
        if (keyForm.dataset.next) { window.location.assign(keyForm.dataset.next); return; }
        window.location.reload();
      }, function (err) { status.textContent = t('js_error', err.message); });
    });
  }

  // --- Installable app (docs/web.md): the service worker, and the page
  // the Android share target opens.

  if ('serviceWorker' in navigator && window.isSecureContext) {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(function () { /* the app works without it */ });
  }

  // Logging out forgets shared files not yet uploaded: a phone is often
  // shared.
  var logoutForm = document.querySelector('form[action="/app/logout"]');
  if (logoutForm && window.caches) {
    logoutForm.addEventListener('submit', function () { caches.delete('gshare-share'); });
  }

  var shareForm = document.getElementById('share-target');
  if (shareForm) setupShareTarget(shareForm);

  function setupShareTarget(form) {
    var list = document.getElementById('shared-files');
    var none = document.getElementById('shared-none');
    var status = document.getElementById('share-status');
    var chunk = parseInt(form.dataset.chunk, 10) || 8 * 1024 * 1024;
    var pending = []; // {key, file, li, bar}

    function load() {
      if (!window.caches) { none.hidden = false; return Promise.resolve(); }
      return caches.open('gshare-share').then(function (cache) {
        return cache.keys().then(function (reqs) {
          return Promise.all(reqs.map(function (req) {
            return cache.match(req).then(function (res) {
              return res.blob().then(function (blob) {
                var name = decodeURIComponent(res.headers.get('X-Name') || 'shared');
                var mod = parseInt(res.headers.get('X-Modified'), 10) || 0;
                return { key: req, file: new File([blob], name, { type: blob.type, lastModified: mod }) };
              });
            });
          }));
        });
      }).then(function (items) {
        pending = items;
        list.textContent = '';
        items.forEach(function (it) {
          var li = document.createElement('li');
          li.className = 'upload';
          var name = document.createElement('span');
          name.className = 'upload-name';
          name.textContent = it.file.name + ' · ' + bytes(it.file.size);
          it.bar = document.createElement('progress');
          it.bar.max = 100; it.bar.value = 0;
          li.append(name, it.bar);
          it.li = li;
          list.appendChild(li);
        });
        none.hidden = items.length > 0;
      });
    }

    function forget(it) {
      return caches.open('gshare-share').then(function (cache) { return cache.delete(it.key); });
    }

    function upload(it, dest) {
      return new Promise(function (resolve, reject) {
        var up = new window.tus.Upload(it.file, {
          endpoint: '/api/v1/uploads/',
          chunkSize: chunk,
          retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
          metadata: { path: dest, filename: it.file.name },
          headers: { 'X-CSRF-Token': csrf },
          fingerprint: function (f) {
            return Promise.resolve(['gshare', dest, f.size, f.lastModified].join('|'));
          },
          removeFingerprintOnSuccess: true,
          onProgress: function (sent, total) { it.bar.value = total ? sent / total * 100 : 100; },
          onSuccess: function () { it.li.classList.add('done'); forget(it).then(resolve, resolve); },
          onError: function (err) {
            var msg = err && err.originalResponse ? err.originalResponse.getBody() : String(err);
            try { msg = JSON.parse(msg).error || msg; } catch (e) { /* not JSON */ }
            it.li.classList.add('failed');
            reject(new Error(msg));
          }
        });
        up.findPreviousUploads().then(function (prev) {
          if (prev.length) up.resumeFromPreviousUpload(prev[0]);
          up.start();
        });
      });
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var folder = document.getElementById('share-folder').value.trim().replace(/^\/+|\/+$/g, '');
      var base = '/' + document.getElementById('share-dept').value + (folder ? '/' + folder : '');
      status.textContent = t('js_uploading');
      pending.reduce(function (p, it) {
        return p.then(function () { return upload(it, base + '/' + it.file.name); });
      }, Promise.resolve()).then(function () {
        status.textContent = t('js_done');
        window.location.href = '/app/files' + encPath(base) + '/';
      }, function (err) {
        status.textContent = t('js_failed') + ': ' + err.message;
      });
    });

    document.getElementById('share-discard').addEventListener('click', function () {
      Promise.all(pending.map(forget)).then(load);
    });

    load();
  }

  // ---- Folder lists: row menus, keyboard, selection, more pages ----
  // One line per entry; actions in a <details> menu per row. Arrow keys
  // move between rows, Enter opens the entry, the menu button is the
  // next Tab stop, Escape closes the menu. Checked rows can be zipped
  // (the form posts to /api/v1/zip), moved or deleted together.

  var listing = document.getElementById('listing');
  if (listing) setupList(listing);

  function setupList(table) {
    var tbody = table.tBodies[0];
    var selectAll = document.getElementById('select-all');
    var count = document.getElementById('bulk-count');
    var bulk = document.getElementById('bulk');
    var hint = count ? count.textContent : '';

    function rows() { return Array.prototype.slice.call(tbody.rows); }
    function checked() {
      return rows().filter(function (r) {
        var c = r.querySelector('td.sel input');
        return c && c.checked;
      });
    }
    function refresh() {
      var n = checked().length;
      if (count) count.textContent = n ? t('js_selected', n) : hint;
      if (bulk) bulk.classList.toggle('active', n > 0);
      ['bulk-download', 'bulk-move', 'bulk-delete'].forEach(function (id) {
        var b = document.getElementById(id);
        if (b) b.disabled = n === 0;
      });
      if (selectAll) {
        selectAll.checked = n > 0 && n === rows().length;
        selectAll.indeterminate = n > 0 && n < rows().length;
      }
      rows().forEach(function (r) {
        var c = r.querySelector('td.sel input');
        r.classList.toggle('selected', !!(c && c.checked));
      });
    }
    if (selectAll) selectAll.addEventListener('change', function () {
      rows().forEach(function (r) {
        var c = r.querySelector('td.sel input');
        if (c) c.checked = selectAll.checked;
      });
      refresh();
    });
    tbody.addEventListener('change', function (e) {
      if (e.target.matches('td.sel input')) refresh();
    });

    // Roving focus: one row is in the Tab order, with its own controls
    // (checkbox, link, menu button); arrows move it. So Tab goes from
    // the row through its controls and on past the list, however long.
    var active = null;
    function tabbable(r, on) {
      r.tabIndex = on ? 0 : -1;
      r.querySelectorAll('td.sel input, td.name a, summary').forEach(function (c) {
        if (on) c.removeAttribute('tabindex'); else c.tabIndex = -1;
      });
    }
    function activate(r) {
      if (!r || r === active) return;
      if (active) tabbable(active, false);
      tabbable(r, true);
      active = r;
    }
    function focusRow(r) {
      if (!r) return;
      activate(r);
      r.focus();
    }
    rows().forEach(function (r) { tabbable(r, false); });
    activate(tbody.rows[0]);
    var want = null;
    try { want = sessionStorage.getItem(focusKey); sessionStorage.removeItem(focusKey); } catch (e) { /* storage off */ }
    if (want) focusRow(rows().filter(function (r) { return r.dataset.path === want; })[0]);
    function closeMenus(except) {
      table.querySelectorAll('details.menu[open]').forEach(function (d) {
        if (d !== except) d.open = false;
      });
    }
    tbody.addEventListener('keydown', function (e) {
      var row = e.target.closest('tr');
      if (!row) return;
      var menu = e.target.closest('details.menu');
      if (e.key === 'Escape' && menu) {
        menu.open = false;
        menu.querySelector('summary').focus();
        e.preventDefault();
        return;
      }
      // In an open menu (ARIA menu pattern): arrows, Home and End move
      // between its items, which are not Tab stops; Tab closes it and
      // goes on from its button.
      if (menu && menu.open && ['ArrowDown', 'ArrowUp', 'Home', 'End'].indexOf(e.key) >= 0) {
        var items = Array.prototype.slice.call(menu.querySelectorAll('[role=menuitem]'));
        var i = items.indexOf(document.activeElement), n = items.length;
        var next = { ArrowDown: (i + 1) % n, ArrowUp: (i - 1 + n) % n, Home: 0, End: n - 1 }[e.key];
        if (items[next]) items[next].focus();
        e.preventDefault();
        return;
      }
      if (menu && menu.open && e.key === 'Tab') {
        menu.open = false;
        menu.querySelector('summary').focus();
        return;
      }
      if (e.target !== row) return;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        focusRow(e.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling);
        e.preventDefault();
      } else if (e.key === 'Home' || e.key === 'End') {
        focusRow(e.key === 'Home' ? tbody.rows[0] : tbody.rows[tbody.rows.length - 1]);
        e.preventDefault();
      } else if (e.key === 'Enter') {
        window.location.href = row.dataset.url;
        e.preventDefault();
      } else if (e.key === ' ') {
        var c = row.querySelector('td.sel input');
        if (c) { c.checked = !c.checked; refresh(); }
        e.preventDefault();
      }
    });
    tbody.addEventListener('focusin', function (e) {
      activate(e.target.closest('tr'));
    });
    // One menu open at a time; opening one focuses its first item.
    tbody.addEventListener('toggle', function (e) {
      var d = e.target;
      if (!d.matches || !d.matches('details.menu') || !d.open) return;
      closeMenus(d);
      var first = d.querySelector('[role=menuitem]');
      if (first) first.focus();
    }, true);
    document.addEventListener('click', function (e) {
      if (!e.target.closest('details.menu')) closeMenus(null);
    });
    // An action chosen closes its menu.
    tbody.addEventListener('click', function (e) {
      var item = e.target.closest('[role=menuitem]');
      if (item) { var d = item.closest('details'); if (d) d.open = false; }
    });

    var parentOf = function (p) { return p.slice(0, p.lastIndexOf('/')); };
    var bulkMove = document.getElementById('bulk-move');
    if (bulkMove) bulkMove.addEventListener('click', function () {
      var sel = checked();
      if (!sel.length) return;
      ask(t('js_move_n_to', sel.length), parentOf(sel[0].dataset.path)).then(function (dest) {
        if (!dest) return;
        dest = dest.replace(/\/$/, '');
        sequential(sel, function (r) {
          return api('POST', '/api/v1/move', { from: r.dataset.path, to: dest + '/' + r.dataset.name });
        });
      });
    });
    var bulkDelete = document.getElementById('bulk-delete');
    if (bulkDelete) bulkDelete.addEventListener('click', function () {
      var sel = checked();
      if (!sel.length) return;
      confirmDialog(t('js_confirm_delete_n', sel.length)).then(function (ok) {
        if (!ok) return;
        sequential(sel, function (r) { return api('DELETE', '/api/v1/files' + encPath(r.dataset.path)); });
      });
    });
    // sequential runs fn on each row in turn, then reloads; the first
    // failure stops and is shown (what was done stays done).
    function sequential(sel, fn) {
      bulk.classList.add('busy');
      sel.reduce(function (p, r) { return p.then(function () { return fn(r); }); }, Promise.resolve())
        .then(function () { window.location.reload(); }, function (err) { fail(err); window.location.reload(); });
    }

    // More pages: the next page's rows are fetched (the same server
    // rendering) and appended when the "more" link nears the screen.
    var more = document.getElementById('more');
    var loading = false;
    function loadMore() {
      if (loading || !more) return;
      loading = true;
      more.textContent = t('js_loading');
      fetch(more.getAttribute('href'), { credentials: 'same-origin' }).then(function (res) {
        if (!res.ok) throw new Error(res.statusText);
        return res.text();
      }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var next = doc.getElementById('listing');
        if (next) Array.prototype.slice.call(next.tBodies[0].rows).forEach(function (r) {
          var row = document.importNode(r, true);
          tabbable(row, false);
          tbody.appendChild(row);
          bindRow(row);
        });
        var nextMore = doc.getElementById('more');
        if (nextMore) {
          more.setAttribute('href', nextMore.getAttribute('href'));
          more.textContent = nextMore.textContent;
        } else {
          more.parentNode.remove();
          more = null;
        }
        loading = false;
        refresh();
      }).catch(function (err) { loading = false; fail(err); });
    }
    if (more) {
      more.addEventListener('click', function (e) { e.preventDefault(); loadMore(); });
      if ('IntersectionObserver' in window) {
        new IntersectionObserver(function (es) {
          if (es.some(function (x) { return x.isIntersecting; })) loadMore();
        }, { rootMargin: '600px' }).observe(more.parentNode);
      }
    }
    refresh();
  }
})();

// Sharing (the Links page): create a link to a file or folder, or a file
// request, through POST /api/v1/shares, and show its URL once.
(function () {
  'use strict';
  var form = document.getElementById('links-form');
  if (!form) return;
  var M = {};
  try { M = JSON.parse(document.getElementById('messages').textContent || '{}'); } catch (e) { M = {}; }
  function t(key) {
    var args = Array.prototype.slice.call(arguments, 1);
    return (M[key] || key).replace(/\{(\d)\}/g, function (_, i) { return args[+i]; });
  }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var requestOnly = form.querySelector('.request-only');
  function showKind() {
    requestOnly.hidden = !document.getElementById('kind-request').checked;
  }
  form.querySelectorAll('input[name="kind"]').forEach(function (r) { r.addEventListener('change', showKind); });
  showKind();
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var f = new FormData(form), body = { path: f.get('path'), expires: f.get('expires') };
    if (f.get('password')) body.password = f.get('password');
    if (f.get('kind') === 'request') {
      body.kind = 'request';
      if (f.get('label')) body.label = f.get('label');
      // Limits are asked in MB (10^6 bytes, as sizes are shown).
      if (+f.get('max_file_mb') > 0) body.max_file = Math.round(+f.get('max_file_mb') * 1e6);
      if (+f.get('max_total_mb') > 0) body.max_total = Math.round(+f.get('max_total_mb') * 1e6);
    }
    var status = form.querySelector('.status'), out = document.getElementById('links-url');
    fetch('/api/v1/shares', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrfMeta ? csrfMeta.content : '', 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) throw new Error((data && data.error) || res.statusText);
        return data;
      });
    }).then(function (data) {
      status.textContent = t('js_share_created');
      out.value = data.url;
      out.hidden = false;
      out.focus();
      out.select();
    }, function (err) {
      status.textContent = t('js_error', err.message);
    });
  });
})();

// File requests (the visitor's page /r/{token}): each chosen file is one
// tus upload to /api/v1/uploads/, resumable like the folder uploader,
// carrying the link's token (and password) in headers and the visitor's
// name and note in Upload-Metadata. The server picks the name it lands
// under and never shows what else is in the folder.
(function () {
  'use strict';
  var form = document.getElementById('request-form');
  if (!form || !window.tus) return;
  var M = {};
  try { M = JSON.parse(document.getElementById('messages').textContent || '{}'); } catch (e) { M = {}; }
  function t(key) {
    var args = Array.prototype.slice.call(arguments, 1);
    return (M[key] || key).replace(/\{(\d)\}/g, function (_, i) { return args[+i]; });
  }
  var token = decodeURIComponent(window.location.pathname.split('/')[2] || '');
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var status = document.getElementById('request-status');
  var list = document.getElementById('request-progress');
  var chunk = +form.dataset.chunk || 8 << 20;
  var maxFile = +form.dataset.maxFile || 0;
  function send(file, who, note, pw) {
    var li = document.createElement('li');
    li.textContent = file.name + ' …';
    list.appendChild(li);
    if (maxFile && file.size > maxFile) {
      li.textContent = file.name + ': ' + t('js_request_too_large');
      return Promise.resolve(false);
    }
    var headers = { 'X-GShare-Request': token };
    if (pw) headers['X-GShare-Request-Password'] = pw;
    if (csrfMeta) headers['X-CSRF-Token'] = csrfMeta.content;
    return new Promise(function (resolve) {
      var up = new window.tus.Upload(file, {
        endpoint: '/api/v1/uploads/',
        chunkSize: chunk,
        retryDelays: [0, 1000, 3000, 5000, 10000],
        headers: headers,
        metadata: { filename: file.name, uploader: who, note: note },
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        onProgress: function (sent, total) {
          li.textContent = file.name + ' ' + Math.floor(sent * 100 / (total || 1)) + '%';
        },
        onError: function (err) {
          var msg = err && err.originalResponse ? err.originalResponse.getBody() : String(err);
          try { msg = JSON.parse(msg).error || msg; } catch (e) { /* plain text */ }
          li.textContent = file.name + ': ' + t('js_error', msg);
          resolve(false);
        },
        onSuccess: function () {
          li.textContent = file.name + ' ✓';
          li.classList.add('done');
          resolve(true);
        }
      });
      up.findPreviousUploads().then(function (prev) {
        if (prev.length) up.resumeFromPreviousUpload(prev[0]);
        up.start();
      });
    });
  }
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var files = document.getElementById('request-files').files;
    var who = document.getElementById('request-name').value.trim();
    var note = document.getElementById('request-note').value.trim();
    var pwEl = document.getElementById('request-password');
    var pw = pwEl ? pwEl.value : '';
    status.textContent = t('js_request_sending');
    var chain = Promise.resolve(true), ok = true;
    Array.prototype.forEach.call(files, function (f) {
      chain = chain.then(function () { return send(f, who, note, pw); }).then(function (r) { ok = ok && r; });
    });
    chain.then(function () {
      status.textContent = ok ? t('js_request_done') : t('js_request_some_failed');
      if (ok) form.querySelector('#request-files').value = '';
    });
  });
})();
