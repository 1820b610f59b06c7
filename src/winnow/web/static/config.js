// Configuration editor: live validation, save as a new version, dry run. Plain JS, no build.
(function () {
  "use strict";
  const form = document.getElementById("config-form");
  const text = document.getElementById("config-text");
  const status = document.getElementById("config-status");
  const errors = document.getElementById("config-errors");
  const warnings = document.getElementById("config-warnings");
  const saveButton = document.getElementById("config-save");
  let timer = null;
  let seq = 0;

  function items(list) {
    return list.map((e) => { const li = document.createElement("li"); li.textContent = e; return li; });
  }

  function show(list, message, ok, warned) {
    errors.replaceChildren(...items(list));
    // Accepted but ignored or surprising (unknown fields, limits of 0): shown, never blocking.
    warnings.replaceChildren(...items((warned || []).map((w) => "warning: " + w)));
    status.textContent = message;
    status.className = "status-line " + (ok ? "ok" : "error");
    saveButton.disabled = !ok;
  }

  function parse() {
    try {
      return { value: JSON.parse(text.value) };
    } catch (err) {
      return { error: "<json>: " + err.message };
    }
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-With": "winnow" },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (_err) { data = { message: response.statusText }; }
    return { ok: response.ok, status: response.status, data };
  }

  async function validate() {
    const parsed = parse();
    if (parsed.error) { show([parsed.error], "not valid JSON", false); return false; }
    const mine = ++seq;
    const result = await post(form.dataset.validateUrl, { config: parsed.value });
    if (mine !== seq) return false;
    if (result.ok && result.data.valid) {
      show([], "valid: " + (result.data.summary || ""), true, result.data.warnings);
      return true;
    }
    const list = result.data.errors || [result.data.message || "invalid"];
    show(list, list.length + " problem" + (list.length === 1 ? "" : "s"), false);
    return false;
  }

  text.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 250); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!(await validate())) return;
    const result = await post(form.dataset.saveUrl, { config: parse().value });
    if (result.ok) { window.location.reload(); return; }
    show(result.data.errors || [result.data.message], "not saved", false);
  });

  const dryForm = document.getElementById("dry-run-form");
  const dryOut = document.getElementById("dry-run");
  let dryWindow = "24h";

  function cell(tr, value, cls) {
    const td = document.createElement("td");
    td.textContent = value;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function grid(headers, rows, id) {
    const table = document.createElement("table");
    table.className = "grid";
    if (id) table.id = id;
    const head = document.createElement("tr");
    headers.forEach((h, i) => { const th = document.createElement("th"); th.textContent = h; if (i) th.className = "num"; head.appendChild(th); });
    const thead = document.createElement("thead"); thead.appendChild(head); table.appendChild(thead);
    const body = document.createElement("tbody");
    for (const row of rows) {
      const tr = document.createElement("tr");
      row.forEach((v, i) => cell(tr, v, i ? "num" : ""));
      body.appendChild(tr);
    }
    table.appendChild(body);
    return table;
  }

  function figures(run, name) {
    const s = run && run.strategies[name];
    if (!s) return "—";
    return s.collected + " (" + s.matched + " matched, " + s.limited + " limited" +
      (s.batch_full ? ", " + s.batch_full + " batch full" : "") + ")";
  }

  function render(d) {
    const draft = d.draft, saved = d.saved, actual = draft.actual;
    const savedName = d.saved_version === null ? "saved: none" : "saved v" + d.saved_version;
    const names = [...new Set([...Object.keys(draft.strategies), ...Object.keys(saved ? saved.strategies : {}), ...Object.keys(actual.strategies)])];
    const head = document.createElement("p");
    head.id = "dry-run-summary";
    head.textContent = draft.predictions + " predictions from " + draft.since + " to " + draft.until +
      ": this text collects " + draft.collected + ", " + savedName + " collects " + (saved ? saved.collected : "—") +
      ", actually collected " + actual.collected + ".";
    const strategies = grid(
      ["Strategy", "This text", savedName, "Actually"],
      names.map((n) => [n, figures(draft, n), figures(saved, n), figures(actual, n)]),
      "dry-run-strategies");
    const sources = grid(
      ["Source", "This text", savedName, "Actually"],
      Object.keys(draft.per_source).map((n) => [n, draft.per_source[n], saved ? saved.per_source[n] : "—", actual.per_source[n]]),
      "dry-run-sources");
    const notes = document.createElement("ul");
    notes.className = "warnings";
    for (const n of draft.notes) { const li = document.createElement("li"); li.textContent = n; notes.appendChild(li); }
    dryOut.replaceChildren(head, strategies, sources, notes);
  }

  dryForm.querySelectorAll("button[data-window]").forEach((b) => b.addEventListener("click", () => { dryWindow = b.dataset.window; }));
  dryForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (event.submitter && event.submitter.dataset.window) dryWindow = event.submitter.dataset.window;
    const parsed = parse();
    if (parsed.error) { show([parsed.error], "not valid JSON", false); return; }
    dryOut.textContent = "replaying the last " + dryWindow + "…";
    const result = await post(dryForm.dataset.url, { config: parsed.value, window: dryWindow, seed: 0 });
    if (!result.ok) {
      dryOut.replaceChildren();
      show(result.data.errors || [result.data.message], "dry run needs a valid configuration", false);
      return;
    }
    render(result.data);
  });
  validate();
})();
