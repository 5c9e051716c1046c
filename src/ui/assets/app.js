// Kiln web UI: keeps the live sections of a page current. A page that has an
// element with data-poll="URL" gets that URL's JSON every 2 seconds; every
// element with data-live="KEY" is replaced by the server-rendered (and
// server-escaped) HTML in json.html[KEY]. Pages work without this script.
(() => {
  const root = document.querySelector('[data-poll]');
  if (root === null) return;
  const url = root.getAttribute('data-poll');
  const status = document.querySelector('[data-live-status]');
  const intervalMs = 2000;
  let updates = 0;

  async function refresh() {
    try {
      const response = await fetch(url, {
        headers: { accept: 'application/json' },
        cache: 'no-store',
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      for (const element of document.querySelectorAll('[data-live]')) {
        const html = data.html?.[element.getAttribute('data-live')];
        if (typeof html === 'string' && element.innerHTML !== html) element.innerHTML = html;
      }
      updates++;
      root.setAttribute('data-updates', String(updates));
      if (status !== null) {
        status.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every 2 seconds.`;
        status.classList.remove('stale');
      }
    } catch (error) {
      if (status !== null) {
        status.textContent = `Live updates paused (${error.message}); retrying.`;
        status.classList.add('stale');
      }
    } finally {
      // A hidden tab polls less often; nobody is looking.
      setTimeout(refresh, document.hidden ? intervalMs * 5 : intervalMs);
    }
  }

  setTimeout(refresh, intervalMs);
})();
