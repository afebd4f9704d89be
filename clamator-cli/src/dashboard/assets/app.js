// clamator dashboard: the live parts of the pages. Served from the dashboard itself (the
// Content-Security-Policy allows no other script). Text from Redis is only ever set with
// textContent here; the overview's HTML comes escaped from the server.
"use strict";

(function () {
  function overview(el) {
    const source = new EventSource(el.dataset.live);
    source.addEventListener("overview", function (e) {
      el.innerHTML = e.data;
      el.dataset.updates = String(Number(el.dataset.updates || "0") + 1);
    });
  }

  function text(v) {
    if (v === undefined || v === null) return "-";
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  function clock(ms) {
    const d = new Date(ms);
    return isNaN(d) ? "-" : d.toISOString().substring(11, 23);
  }

  function tail(table) {
    const body = table.querySelector("tbody");
    const max = Number(table.dataset.max || "200");
    const status = document.getElementById("tail-status");
    const skippedEl = document.getElementById("tail-skipped");
    const pause = document.getElementById("pause");
    let paused = false;
    let skipped = 0;
    let dropped = 0;
    function note() {
      const parts = [];
      if (skipped) parts.push(skipped + " not shown while paused");
      if (dropped) parts.push(dropped + " missed (the page fell behind)");
      skippedEl.textContent = parts.join("; ");
    }
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      table.dataset.paused = paused ? "yes" : "no";
    });
    const source = new EventSource(table.dataset.live);
    source.addEventListener("open", function () { status.textContent = "live"; });
    source.addEventListener("error", function () { status.textContent = "reconnecting…"; });
    source.addEventListener("dropped", function (e) { dropped += Number(e.data) || 0; note(); });
    source.addEventListener("tail", function (e) {
      let ev;
      try { ev = JSON.parse(e.data); } catch (_) { return; }
      if (ev.kind === "status" || ev.kind === "error") {
        status.textContent = ev.message;
        return;
      }
      if (paused) { skipped += 1; note(); return; }
      const row = document.createElement("tr");
      row.className = "outcome-" + text(ev.outcome).replace(/[^A-Za-z]/g, "");
      const result = ev.error ? text(ev.error.code) + " " + text(ev.error.message) : ev.result;
      [clock(ev.at), ev.kind, ev.method, ev.rpcId, ev.params, ev.outcome,
        ev.latencyMs === undefined ? "-" : ev.latencyMs + " ms", result].forEach(function (v) {
        const cell = document.createElement("td");
        cell.textContent = text(v);
        row.appendChild(cell);
      });
      body.insertBefore(row, body.firstChild);
      while (body.rows.length > max) body.deleteRow(body.rows.length - 1);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const live = document.getElementById("live");
    if (live && live.dataset.live) overview(live);
    const t = document.getElementById("tail");
    if (t && t.dataset.live) tail(t);
  });
})();
