// The operator page's script and style, served by the status server as
// /page.js and /page.css (the page's Content-Security-Policy allows no inline
// script or style). No build step: what is here is what the browser runs.

/** Every second, fetch the server-rendered fragment and swap it in; mark the page stale when that fails. */
export const PAGE_JS = `'use strict';
(function () {
  var main = document.getElementById('page');
  if (!main || !window.fetch) return;
  function tick() {
    fetch('/fragment', { cache: 'no-store', credentials: 'omit' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.text(); })
      .then(function (html) { main.innerHTML = html; document.body.classList.remove('stale'); })
      .catch(function () { document.body.classList.add('stale'); })
      .then(function () { setTimeout(tick, 1000); });
  }
  setTimeout(tick, 1000);
})();
`;

export const PAGE_CSS = `:root{color-scheme:light dark;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--info:#0969da;--dim:#6e7781;--line:#d0d7de}
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;padding:0 1rem 2rem;max-width:80rem}
h1{font-size:1.4rem;margin:.8rem 0 0}h2{font-size:1.1rem;margin:1.4rem 0 .4rem;border-bottom:1px solid var(--line)}h3{font-size:1rem;margin:.8rem 0 .3rem}
header p{margin:0}
table{border-collapse:collapse;width:100%;margin:.2rem 0}th,td{text-align:left;padding:.2rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;font-size:.85rem}
.mono,code{font-family:ui-monospace,monospace;font-size:.9em}
.dim{color:var(--dim)}.bad{color:var(--bad)}.warn{color:var(--warn)}
.b{display:inline-block;padding:0 .4rem;border-radius:.6rem;font-size:.8rem;font-weight:600;border:1px solid currentColor}
.b.ok{color:var(--ok)}.b.bad{color:var(--bad)}.b.warn{color:var(--warn)}.b.info{color:var(--info)}.b.dim{color:var(--dim)}
.banner{margin:.8rem 0;padding:.5rem .8rem;border-radius:.3rem;border:2px solid var(--ok);color:var(--ok)}
.banner.bad{border-color:var(--bad);color:var(--bad);font-weight:600}.banner ul{margin:.2rem 0 0;padding-left:1.2rem}
tr.failed td{background:rgba(207,34,46,.08)}
ol.timeline{margin:0;padding-left:1.2rem}
body.stale::before{content:"connection to the agent lost: showing the last state it sent";display:block;padding:.4rem;background:var(--bad);color:#fff;text-align:center}
footer{margin-top:2rem;font-size:.85rem}
`;
