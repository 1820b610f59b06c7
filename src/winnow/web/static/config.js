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
  dryForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parsed = parse();
    if (parsed.error) { show([parsed.error], "not valid JSON", false); return; }
    const n = parseInt(document.getElementById("dry-run-n").value, 10) || 200;
    dryOut.textContent = "running…";
    const result = await post(dryForm.dataset.url, { config: parsed.value, n });
    if (!result.ok) {
      dryOut.replaceChildren();
      show(result.data.errors || [result.data.message], "dry run needs a valid configuration", false);
      return;
    }
    const d = result.data;
    const table = document.createElement("table");
    table.className = "grid";
    table.innerHTML = "<thead><tr><th>Strategy</th><th>Type</th><th class=num>Would match</th><th class=num>Expected taken</th></tr></thead>";
    const body = document.createElement("tbody");
    for (const s of d.strategies) {
      const tr = document.createElement("tr");
      for (const [value, cls] of [[s.name, ""], [s.type, ""], [s.matched + " / " + d.predictions, "num"], [s.expected.toFixed(1), "num"]]) {
        const td = document.createElement("td"); td.textContent = value; if (cls) td.className = cls; tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    table.appendChild(body);
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = d.predictions + " stored predictions looked at; " + d.matched_any +
      " matched at least one strategy; " + d.skipped + " had no stored prediction.";
    dryOut.replaceChildren(table, note);
  });
  validate();
})();
