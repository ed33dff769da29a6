// NetWorkSpaces web UI: live updates and delete confirmation.
// Pages are rendered (and escaped) by the server; this script only swaps
// in fresh server-rendered <main> contents and never builds HTML itself.
(function () {
  'use strict';
  const main = document.getElementById('main');
  const live = document.getElementById('live');
  const dialog = document.getElementById('confirm');

  function setLive(state, text) {
    live.className = 'live ' + state;
    live.textContent = text;
  }

  // ----- live updates: one EventSource per page, refetch <main> on change
  let busy = false;
  let again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const url = new URL(window.location.href);
      url.searchParams.set('fragment', '1');
      const r = await fetch(url, { headers: { Accept: 'text/html' }, cache: 'no-store' });
      if (r.status === 401 || r.status === 403) { setLive('off', 'not allowed'); return; }
      const html = await r.text();
      main.innerHTML = html;  // server-rendered and escaped
      const now = new Date();
      main.dataset.updated = String(now.getTime());
      setLive('on', 'live · ' + now.toLocaleTimeString());
    } catch (e) {
      setLive('off', 'offline');
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  window.nwsRefresh = refresh;

  const events = document.body.dataset.events;
  if (events && window.EventSource) {
    const source = new EventSource(events);
    source.addEventListener('ready', function () { setLive('on', 'live'); });
    source.addEventListener('change', refresh);
    source.onerror = function () { setLive('off', 'reconnecting'); };
  } else {
    setLive('off', 'static');
  }

  // ----- deletion: confirm in a dialog, then POST with confirm=yes
  let pending = null;
  document.addEventListener('submit', function (ev) {
    const form = ev.target.closest('form[data-confirm]');
    if (!form || !dialog || typeof dialog.showModal !== 'function') return;
    ev.preventDefault();
    pending = form;
    dialog.querySelector('.msg').textContent = form.dataset.confirm;
    dialog.returnValue = '';
    dialog.showModal();
  });
  if (dialog) {
    dialog.addEventListener('close', async function () {
      const form = pending;
      pending = null;
      if (!form || dialog.returnValue !== 'delete') return;
      const body = new URLSearchParams(new FormData(form));
      body.set('confirm', 'yes');
      try {
        const r = await fetch(form.action, {
          method: 'POST',
          body: body,
          headers: { Accept: 'application/json' },
        });
        if (!r.ok) {
          const err = await r.json().catch(function () { return {}; });
          window.alert('Not deleted: ' + (err.message || r.status));
          return;
        }
      } catch (e) {
        window.alert('Not deleted: ' + e);
        return;
      }
      if (form.dataset.after) {
        window.location.assign(form.dataset.after);
      } else {
        refresh();
      }
    });
  }
})();
