// G-Share previews (docs/web.md#previews): the "Preview" item of a file's
// menu opens a dialog showing an image's large thumbnail (made and sealed
// by the server), a PDF's pages drawn by the vendored PDF.js from the
// document's own download URL, or the first 64 KiB of a text file. Every
// preview is a request the server authorises and audits as a read. Escape
// closes the dialog and focus returns to the file's menu button. Images in
// the list show their small thumbnail, and the file icon if there is none.
const dialog = document.getElementById('preview-dialog');

let M = {};
try { M = JSON.parse(document.getElementById('messages').textContent || '{}'); } catch (e) { M = {}; }
function t(key, ...args) {
  return (M[key] || key).replace(/\{(\d)\}/g, (_, i) => args[+i]);
}
function encPath(p) { return p.split('/').map(encodeURIComponent).join('/'); }

// The most a text preview shows.
const TEXT_LIMIT = 64 * 1024;

// A list thumbnail that fails (not an image after all, too large) gives
// way to the file icon beneath it.
document.addEventListener('error', (e) => {
  const img = e.target;
  if (img instanceof HTMLImageElement && img.classList.contains('thumb')) img.classList.add('broken');
}, true);

if (dialog) {
  const body = document.getElementById('preview-body');
  const title = document.getElementById('preview-title');
  const download = document.getElementById('preview-download');
  const pages = document.getElementById('preview-pages');
  const pageLabel = document.getElementById('preview-page');
  const prev = document.getElementById('preview-prev');
  const next = document.getElementById('preview-next');
  let returnTo = null; // what gets focus back when the dialog closes
  let current = null;  // the open PDF: { doc, page, rendering }
  let generation = 0;  // ends the work of a preview closed or replaced

  document.getElementById('preview-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    generation++;
    if (current) { current.doc.destroy(); current = null; }
    body.replaceChildren();
    pages.hidden = true;
    if (returnTo && document.contains(returnTo)) returnTo.focus();
    returnTo = null;
  });

  document.addEventListener('click', (e) => {
    const item = e.target.closest('.menu-items .preview');
    if (!item) return;
    const row = item.closest('tr');
    const menu = item.closest('details');
    returnTo = menu ? menu.querySelector('summary') : item;
    open(row.dataset.path, row.dataset.name, item.dataset.kind);
  });

  function message(text, cls) {
    const p = document.createElement('p');
    p.className = cls || 'muted';
    p.textContent = text;
    return p;
  }

  // failure shows why a preview is not there, with the file icon.
  function failure(status) {
    let text = t('js_preview_none');
    if (status === 413) text = t('js_preview_too_large');
    if (status === 401 || status === 403) text = t('js_preview_denied');
    const box = document.createElement('div');
    box.className = 'preview-none';
    box.innerHTML = '<svg class="icon file big" viewBox="0 0 24 24" aria-hidden="true"><path d="M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm7 1.5V9h5.5"/></svg>';
    box.appendChild(message(text, 'error'));
    body.replaceChildren(box);
    body.dataset.state = 'failed';
  }

  function open(path, name, kind) {
    const gen = ++generation;
    const url = '/api/v1/files' + encPath(path);
    title.textContent = name;
    download.href = url;
    body.replaceChildren(message(t('js_loading')));
    body.dataset.state = 'loading';
    body.dataset.kind = kind;
    pages.hidden = true;
    if (!dialog.open) dialog.showModal();
    document.getElementById('preview-close').focus();
    const done = () => { if (gen === generation) body.dataset.state = 'shown'; };
    const failed = (status) => { if (gen === generation) failure(status); };
    if (kind === 'image') showImage(path, name, gen, done, failed);
    else if (kind === 'pdf') showPDF(url, gen, done, failed);
    else showText(url, gen, done, failed);
  }

  function showImage(path, name, gen, done, failed) {
    const src = '/api/v1/thumbnails' + encPath(path) + '?size=large';
    const img = new Image();
    img.alt = t('js_preview_image', name);
    img.className = 'preview-image';
    img.addEventListener('load', () => {
      if (gen !== generation) return;
      body.replaceChildren(img);
      done();
    });
    // An <img> does not tell why it failed: ask once more for the status
    // (a refusal is cheap, and is audited like the first).
    img.addEventListener('error', () => {
      fetch(src, { credentials: 'same-origin' }).then((res) => failed(res.status), () => failed(0));
    });
    img.src = src;
  }

  function showText(url, gen, done, failed) {
    fetch(url, { credentials: 'same-origin', headers: { Range: 'bytes=0-' + (TEXT_LIMIT - 1) } }).then((res) => {
      if (res.status === 416) { // an empty file: no range to send
        const pre = document.createElement('pre');
        pre.className = 'preview-text';
        body.replaceChildren(pre);
        done();
        return null;
      }
      if (!res.ok) { failed(res.status); return null; }
      let total = 0;
      const range = res.headers.get('Content-Range');
      if (res.status === 206 && range) total = +range.split('/')[1];
      return res.arrayBuffer().then((buf) => {
        if (gen !== generation) return;
        const cut = total > buf.byteLength;
        // stream: a UTF-8 sequence cut by the limit is dropped, not shown
        // as a replacement character; then the last, maybe partial,
        // grapheme cluster (a Lao syllable) goes too.
        let text = new TextDecoder('utf-8').decode(buf, { stream: cut });
        if (cut && typeof Intl.Segmenter === 'function') {
          const segs = Array.from(new Intl.Segmenter(document.documentElement.lang || 'en', { granularity: 'grapheme' }).segment(text));
          if (segs.length > 1) text = text.slice(0, segs[segs.length - 1].index);
        }
        const pre = document.createElement('pre');
        pre.className = 'preview-text';
        pre.textContent = text;
        const parts = [pre];
        if (cut) parts.push(message(t('js_preview_cut'), 'muted preview-cut'));
        body.replaceChildren(...parts);
        done();
      });
    }).catch(() => failed(0));
  }

  function showPDF(url, gen, done, failed) {
    import(dialog.dataset.pdfjs).then((pdfjs) => {
      pdfjs.GlobalWorkerOptions.workerSrc = dialog.dataset.pdfjsWorker;
      // Ranges only as pages need them (a long report on a slow link),
      // and no WebAssembly: the page's CSP allows none.
      const task = pdfjs.getDocument({ url: url, withCredentials: true, disableAutoFetch: true, disableStream: true, useWasm: false });
      return task.promise.then((doc) => {
        if (gen !== generation) { doc.destroy(); return; }
        current = { doc: doc, page: 1, rendering: null };
        const canvas = document.createElement('canvas');
        canvas.className = 'preview-canvas';
        canvas.setAttribute('role', 'img');
        canvas.setAttribute('aria-label', title.textContent);
        body.replaceChildren(canvas);
        pages.hidden = doc.numPages < 2;
        return render(canvas, 1).then(done);
      });
    }).catch((err) => {
      failed(err && err.status ? err.status : 0);
    });
  }

  // render draws page n of the open PDF to fit the dialog's width.
  function render(canvas, n) {
    const c = current;
    if (!c) return Promise.resolve();
    if (c.rendering) c.rendering.cancel();
    return c.doc.getPage(n).then((page) => {
      c.page = n;
      pageLabel.textContent = t('js_preview_page', n, c.doc.numPages);
      prev.disabled = n <= 1;
      next.disabled = n >= c.doc.numPages;
      const width = Math.max(body.clientWidth, 280);
      const base = page.getViewport({ scale: 1 });
      const ratio = window.devicePixelRatio || 1;
      const viewport = page.getViewport({ scale: width / base.width * ratio });
      canvas.width = Math.floor(viewport.width);
      canvas.height = Math.floor(viewport.height);
      canvas.style.width = Math.floor(viewport.width / ratio) + 'px';
      c.rendering = page.render({ canvas: canvas, viewport: viewport });
      return c.rendering.promise.then(() => { c.rendering = null; canvas.dataset.page = String(n); }, (err) => {
        if (err && err.name === 'RenderingCancelledException') return;
        throw err;
      });
    });
  }
  function turn(by) {
    if (!current) return;
    const canvas = body.querySelector('canvas');
    const n = current.page + by;
    if (canvas && n >= 1 && n <= current.doc.numPages) render(canvas, n).catch(() => failure(0));
  }
  prev.addEventListener('click', () => turn(-1));
  next.addEventListener('click', () => turn(1));
  // Page Down / Page Up (and the arrow keys) turn the pages of a PDF.
  dialog.addEventListener('keydown', (e) => {
    if (!current) return;
    if (e.key === 'ArrowRight' || e.key === 'PageDown') { e.preventDefault(); turn(1); }
    if (e.key === 'ArrowLeft' || e.key === 'PageUp') { e.preventDefault(); turn(-1); }
  });
}
