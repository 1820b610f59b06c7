// Labeling view: canvas editor for boxes, polygons, keypoints and class labels. Plain JS, no build.
// Image coordinates are pixels of the stored image; the view maps them to the canvas (zoom, pan).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("label-data").textContent);
  const canvas = document.getElementById("canvas");
  const ctx = canvas.getContext("2d");
  const stage = document.getElementById("stage");
  const hud = document.getElementById("hud");
  const statusLine = document.getElementById("save-status");
  const isClassification = data.task === "classification" || data.task === "multi-label-classification";
  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075"];
  const HANDLE = 6;

  const state = { objects: data.objects || [], labels: data.labels || [] };
  const classes = data.classes.slice();
  let current = 0;           // current class index for new objects
  let selected = -1;         // index into state.objects
  let tool = "select";
  const view = { s: 1, ox: 0, oy: 0 };
  let drag = null;           // active gesture
  let spaceDown = false;
  let polygonDraft = null;   // points of a polygon being drawn
  let saved = JSON.stringify(state);
  const history = [JSON.stringify(state)];
  let hIndex = 0;

  const img = new Image();
  img.onload = () => { resize(); fit(); };
  img.src = data.image.url;

  // ------------------------------------------------------------------ helpers
  const colorOf = (name) => {
    const i = classes.indexOf(name);
    return PALETTE[(i < 0 ? classes.length : i) % PALETTE.length];
  };
  const toScreen = (x, y) => [x * view.s + view.ox, y * view.s + view.oy];
  const toImage = (x, y) => [(x - view.ox) / view.s, (y - view.oy) / view.s];
  const clampX = (x) => Math.min(Math.max(x, 0), data.image.width);
  const clampY = (y) => Math.min(Math.max(y, 0), data.image.height);
  const dirty = () => JSON.stringify(state) !== saved;

  function normalizeBox(o) {
    const x1 = Math.min(o.x1, o.x2), x2 = Math.max(o.x1, o.x2);
    const y1 = Math.min(o.y1, o.y2), y2 = Math.max(o.y1, o.y2);
    o.x1 = x1; o.x2 = x2; o.y1 = y1; o.y2 = y2;
  }
  function boxFromPoints(o) {
    const xs = o.points.map((p) => p[0]), ys = o.points.map((p) => p[1]);
    o.x1 = Math.min(...xs); o.x2 = Math.max(...xs); o.y1 = Math.min(...ys); o.y2 = Math.max(...ys);
  }

  function commit() {
    const snap = JSON.stringify(state);
    if (snap === history[hIndex]) return;
    history.splice(hIndex + 1);
    history.push(snap);
    hIndex = history.length - 1;
    renderSide();
  }
  function restore(snap) {
    const s = JSON.parse(snap);
    state.objects = s.objects; state.labels = s.labels;
    if (selected >= state.objects.length) selected = -1;
    renderSide(); draw();
  }
  function undo() { if (hIndex > 0) { hIndex -= 1; restore(history[hIndex]); } }
  function redo() { if (hIndex < history.length - 1) { hIndex += 1; restore(history[hIndex]); } }

  // ------------------------------------------------------------------ view
  function resize() {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(stage.clientWidth * dpr);
    canvas.height = Math.round(stage.clientHeight * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    draw();
  }
  function fit() {
    const w = stage.clientWidth, h = stage.clientHeight;
    view.s = Math.min(w / data.image.width, h / data.image.height) * 0.95;
    view.ox = (w - data.image.width * view.s) / 2;
    view.oy = (h - data.image.height * view.s) / 2;
    draw();
  }
  function zoomAt(factor, sx, sy) {
    const [ix, iy] = toImage(sx, sy);
    view.s = Math.min(Math.max(view.s * factor, 0.02), 40);
    view.ox = sx - ix * view.s; view.oy = sy - iy * view.s;
    draw();
  }

  // ------------------------------------------------------------------ drawing
  function draw() {
    const w = stage.clientWidth, h = stage.clientHeight;
    ctx.clearRect(0, 0, w, h);
    if (img.complete && img.naturalWidth) {
      const [x, y] = toScreen(0, 0);
      ctx.imageSmoothingEnabled = view.s < 2;
      ctx.drawImage(img, x, y, data.image.width * view.s, data.image.height * view.s);
    }
    state.objects.forEach((o, i) => drawObject(o, i === selected));
    if (polygonDraft) {
      ctx.strokeStyle = colorOf(classes[current]); ctx.lineWidth = 2; ctx.setLineDash([5, 4]);
      ctx.beginPath();
      polygonDraft.forEach((p, k) => { const [x, y] = toScreen(p[0], p[1]); if (k) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
      ctx.stroke(); ctx.setLineDash([]);
    }
    if (drag && drag.kind === "draw") {
      const [x1, y1] = toScreen(drag.x0, drag.y0), [x2, y2] = toScreen(drag.x1, drag.y1);
      ctx.strokeStyle = colorOf(classes[current]); ctx.lineWidth = 2; ctx.setLineDash([5, 4]);
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1); ctx.setLineDash([]);
    }
    if (isClassification && state.labels.length) {
      ctx.font = "bold 16px system-ui, sans-serif";
      const text = state.labels.join(", ");
      ctx.fillStyle = "rgba(0,0,0,.6)"; ctx.fillRect(8, 8, ctx.measureText(text).width + 16, 28);
      ctx.fillStyle = "#fff"; ctx.fillText(text, 16, 28);
    }
    hud.textContent = Math.round(view.s * 100) + "% · " + tool + (dirty() ? " · unsaved" : "");
  }

  function drawObject(o, isSelected) {
    const color = colorOf(o.cls);
    const [x1, y1] = toScreen(o.x1, o.y1), [x2, y2] = toScreen(o.x2, o.y2);
    ctx.lineWidth = isSelected ? 3 : 2;
    ctx.strokeStyle = color;
    if (o.points) {
      ctx.beginPath();
      o.points.forEach((p, k) => { const [x, y] = toScreen(p[0], p[1]); if (k) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
      ctx.closePath();
      ctx.fillStyle = color + (isSelected ? "55" : "30"); ctx.fill(); ctx.stroke();
      if (isSelected) o.points.forEach((p) => handle(...toScreen(p[0], p[1]), color));
    } else {
      if (isSelected) { ctx.fillStyle = color + "30"; ctx.fillRect(x1, y1, x2 - x1, y2 - y1); }
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      if (isSelected) boxHandles(o).forEach((hd) => handle(hd.x, hd.y, color));
    }
    (o.keypoints || []).forEach((k) => {
      if (!k.v) return;
      const [x, y] = toScreen(k.x, k.y);
      ctx.beginPath(); ctx.arc(x, y, 4, 0, Math.PI * 2);
      ctx.fillStyle = color; ctx.fill(); ctx.lineWidth = 1.5; ctx.strokeStyle = "#fff"; ctx.stroke();
    });
    ctx.font = "12px system-ui, sans-serif";
    const label = o.cls || "?";
    const tw = ctx.measureText(label).width + 8;
    ctx.fillStyle = color; ctx.fillRect(x1, y1 - 16, tw, 16);
    ctx.fillStyle = "#fff"; ctx.fillText(label, x1 + 4, y1 - 4);
  }
  function handle(x, y, color) {
    ctx.fillStyle = "#fff"; ctx.strokeStyle = color; ctx.lineWidth = 1.5;
    ctx.fillRect(x - HANDLE / 2, y - HANDLE / 2, HANDLE, HANDLE);
    ctx.strokeRect(x - HANDLE / 2, y - HANDLE / 2, HANDLE, HANDLE);
  }
  function boxHandles(o) {
    const [x1, y1] = toScreen(o.x1, o.y1), [x2, y2] = toScreen(o.x2, o.y2);
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
    return [
      { id: "nw", x: x1, y: y1 }, { id: "n", x: mx, y: y1 }, { id: "ne", x: x2, y: y1 }, { id: "e", x: x2, y: my },
      { id: "se", x: x2, y: y2 }, { id: "s", x: mx, y: y2 }, { id: "sw", x: x1, y: y2 }, { id: "w", x: x1, y: my },
    ];
  }

  // ------------------------------------------------------------------ hit testing
  const near = (ax, ay, bx, by, r) => Math.abs(ax - bx) <= r && Math.abs(ay - by) <= r;
  function hitHandle(sx, sy) {
    if (selected < 0) return null;
    const o = state.objects[selected];
    for (const [k, kp] of (o.keypoints || []).entries()) {
      const [x, y] = toScreen(kp.x, kp.y);
      if (kp.v && near(sx, sy, x, y, 7)) return { kind: "keypoint", index: k };
    }
    if (o.points) {
      for (const [k, p] of o.points.entries()) {
        const [x, y] = toScreen(p[0], p[1]);
        if (near(sx, sy, x, y, 7)) return { kind: "vertex", index: k };
      }
      return null;
    }
    for (const hd of boxHandles(o)) if (near(sx, sy, hd.x, hd.y, 7)) return { kind: "resize", handle: hd.id };
    return null;
  }
  function insidePolygon(points, x, y) {
    let inside = false;
    for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
      const [xi, yi] = points[i], [xj, yj] = points[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function hitObject(ix, iy) {
    let best = -1, bestArea = Infinity;
    state.objects.forEach((o, i) => {
      const inBox = ix >= o.x1 && ix <= o.x2 && iy >= o.y1 && iy <= o.y2;
      const hit = o.points ? inBox && insidePolygon(o.points, ix, iy) : inBox;
      const area = (o.x2 - o.x1) * (o.y2 - o.y1);
      if (hit && area < bestArea) { best = i; bestArea = area; }  // smallest wins: nested boxes stay reachable
    });
    return best;
  }
  function edgeAt(o, sx, sy) {
    for (let i = 0; i < o.points.length; i++) {
      const [ax, ay] = toScreen(...o.points[i]), [bx, by] = toScreen(...o.points[(i + 1) % o.points.length]);
      const len2 = (bx - ax) ** 2 + (by - ay) ** 2 || 1;
      const t = Math.max(0, Math.min(1, ((sx - ax) * (bx - ax) + (sy - ay) * (by - ay)) / len2));
      const px = ax + t * (bx - ax), py = ay + t * (by - ay);
      if ((sx - px) ** 2 + (sy - py) ** 2 < 49) return i;
    }
    return -1;
  }

  // ------------------------------------------------------------------ pointer
  const pos = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  canvas.addEventListener("mousedown", (e) => {
    canvas.focus();
    const [sx, sy] = pos(e);
    const [ix, iy] = toImage(sx, sy);
    if (spaceDown || e.button === 1 || e.button === 2) { drag = { kind: "pan", sx, sy, ox: view.ox, oy: view.oy }; return; }
    if (isClassification) { drag = { kind: "pan", sx, sy, ox: view.ox, oy: view.oy }; return; }
    if (tool === "box") { drag = { kind: "draw", x0: clampX(ix), y0: clampY(iy), x1: clampX(ix), y1: clampY(iy) }; return; }
    if (tool === "polygon") {
      if (polygonDraft && polygonDraft.length >= 3) {
        const [fx, fy] = toScreen(...polygonDraft[0]);
        if (near(sx, sy, fx, fy, 8)) { finishPolygon(); return; }
      }
      polygonDraft = (polygonDraft || []).concat([[clampX(ix), clampY(iy)]]);
      draw(); return;
    }
    const h = hitHandle(sx, sy);
    if (h && h.kind === "vertex" && e.altKey) {
      const o = state.objects[selected];
      if (o.points.length > 3) { o.points.splice(h.index, 1); boxFromPoints(o); commit(); draw(); }
      return;
    }
    if (h) { drag = Object.assign({ ix, iy, orig: JSON.parse(JSON.stringify(state.objects[selected])) }, h); return; }
    const hit = hitObject(ix, iy);
    if (hit >= 0) {
      selected = hit;
      drag = { kind: "move", ix, iy, orig: JSON.parse(JSON.stringify(state.objects[hit])) };
      renderSide(); draw(); return;
    }
    selected = -1; renderSide();
    drag = { kind: "pan", sx, sy, ox: view.ox, oy: view.oy };
    draw();
  });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const [sx, sy] = pos(e);
    const [ix, iy] = toImage(sx, sy);
    if (drag.kind === "pan") { view.ox = drag.ox + sx - drag.sx; view.oy = drag.oy + sy - drag.sy; draw(); return; }
    if (drag.kind === "draw") { drag.x1 = clampX(ix); drag.y1 = clampY(iy); draw(); return; }
    const o = state.objects[selected];
    const dx = ix - drag.ix, dy = iy - drag.iy, orig = drag.orig;
    if (drag.kind === "move") {
      const mx = Math.min(Math.max(dx, -orig.x1), data.image.width - orig.x2);
      const my = Math.min(Math.max(dy, -orig.y1), data.image.height - orig.y2);
      o.x1 = orig.x1 + mx; o.x2 = orig.x2 + mx; o.y1 = orig.y1 + my; o.y2 = orig.y2 + my;
      if (orig.points) o.points = orig.points.map((p) => [p[0] + mx, p[1] + my]);
      if (orig.keypoints) o.keypoints = orig.keypoints.map((k) => Object.assign({}, k, { x: k.x + mx, y: k.y + my }));
    } else if (drag.kind === "resize") {
      const hd = drag.handle;
      if (hd.includes("w")) o.x1 = clampX(orig.x1 + dx);
      if (hd.includes("e")) o.x2 = clampX(orig.x2 + dx);
      if (hd.includes("n")) o.y1 = clampY(orig.y1 + dy);
      if (hd.includes("s")) o.y2 = clampY(orig.y2 + dy);
    } else if (drag.kind === "vertex") {
      o.points[drag.index] = [clampX(orig.points[drag.index][0] + dx), clampY(orig.points[drag.index][1] + dy)];
      boxFromPoints(o);
    } else if (drag.kind === "keypoint") {
      const k = o.keypoints[drag.index];
      k.x = clampX(orig.keypoints[drag.index].x + dx); k.y = clampY(orig.keypoints[drag.index].y + dy);
    }
    draw();
  });
  window.addEventListener("mouseup", () => {
    if (!drag) return;
    const d = drag; drag = null;
    if (d.kind === "draw") {
      const o = { cls: classes[current] || "object", x1: d.x0, y1: d.y0, x2: d.x1, y2: d.y1 };
      normalizeBox(o);
      if ((o.x2 - o.x1) * view.s >= 4 && (o.y2 - o.y1) * view.s >= 4) {
        if (data.task === "keypoint-detection") o.keypoints = defaultKeypoints(o);
        // segmentation stores polygons: a drawn box becomes a four-corner polygon to refine
        if (data.task === "instance-segmentation") o.points = [[o.x1, o.y1], [o.x2, o.y1], [o.x2, o.y2], [o.x1, o.y2]];
        state.objects.push(o); selected = state.objects.length - 1; commit();
      }
    } else if (d.kind !== "pan") {
      const o = state.objects[selected];
      if (o && !o.points) normalizeBox(o);
      commit();
    }
    draw();
  });
  canvas.addEventListener("dblclick", (e) => {
    if (tool === "polygon" && polygonDraft) { finishPolygon(); return; }
    if (selected < 0) return;
    const o = state.objects[selected];
    if (!o.points) return;
    const [sx, sy] = pos(e);
    const edge = edgeAt(o, sx, sy);
    if (edge >= 0) { const [ix, iy] = toImage(sx, sy); o.points.splice(edge + 1, 0, [ix, iy]); commit(); draw(); }
  });
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [sx, sy] = pos(e);
    zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, sx, sy);
  }, { passive: false });
  window.addEventListener("resize", () => { resize(); });

  function defaultKeypoints(o) {
    const names = data.keypoint_names || [];
    return names.map((name, id) => ({ id, name, v: 2, x: o.x1 + ((id + 1) * (o.x2 - o.x1)) / (names.length + 1), y: (o.y1 + o.y2) / 2 }));
  }
  function finishPolygon() {
    if (polygonDraft && polygonDraft.length >= 3) {
      const o = { cls: classes[current] || "object", points: polygonDraft };
      boxFromPoints(o); state.objects.push(o); selected = state.objects.length - 1; commit();
    }
    polygonDraft = null; draw();
  }

  // ------------------------------------------------------------------ side panel
  function setClass(index) {
    if (index < 0 || index >= classes.length) return;
    current = index;
    const name = classes[index];
    if (isClassification) {
      if (data.multi_label) {
        state.labels = state.labels.includes(name) ? state.labels.filter((c) => c !== name) : state.labels.concat([name]);
      } else {
        state.labels = [name];
      }
      commit();
    } else if (selected >= 0) {
      state.objects[selected].cls = name; commit();
    }
    renderSide(); draw();
  }
  function renderSide() {
    const list = document.getElementById("classes");
    list.replaceChildren(...classes.map((name, i) => {
      const li = document.createElement("li");
      li.dataset.cls = name;
      const on = isClassification ? state.labels.includes(name) : (selected >= 0 ? state.objects[selected].cls === name : i === current);
      li.className = (i === current && !isClassification ? "current " : "") + (on ? "on" : "");
      li.innerHTML = '<span class="key"></span><span class="swatch"></span><span class="name"></span>';
      li.querySelector(".key").textContent = i < 9 ? String(i + 1) : "";
      li.querySelector(".swatch").style.background = colorOf(name);
      li.querySelector(".name").textContent = name;
      li.addEventListener("click", () => setClass(i));
      return li;
    }));
    const objects = document.getElementById("objects");
    if (objects) {
      objects.replaceChildren(...state.objects.map((o, i) => {
        const li = document.createElement("li");
        li.className = i === selected ? "selected" : "";
        const a = document.createElement("span"); a.textContent = (i + 1) + ". " + o.cls;
        const b = document.createElement("span"); b.className = "muted";
        b.textContent = Math.round(o.x2 - o.x1) + "×" + Math.round(o.y2 - o.y1);
        li.append(a, b);
        li.addEventListener("click", () => { selected = i; renderSide(); draw(); });
        return li;
      }));
    }
    document.querySelectorAll("#tools button").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
  }
  document.querySelectorAll("#tools button").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
  function setTool(name) {
    if (isClassification) return;
    if (name === "polygon" && data.task !== "instance-segmentation") return;
    tool = name; polygonDraft = null; renderSide(); draw();
  }
  document.getElementById("new-class").addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.preventDefault(); e.target.blur(); canvas.focus(); }  // back to shortcuts
  });
  document.getElementById("add-class").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("new-class");
    const name = input.value.trim();
    if (name && !classes.includes(name)) classes.push(name);
    input.value = "";
    if (name) setClass(classes.indexOf(name));
    renderSide();
  });

  // ------------------------------------------------------------------ server calls
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-With": "winnow" },
      body: JSON.stringify(body),
    });
    let payload = {};
    try { payload = await response.json(); } catch (_err) { payload = { message: response.statusText }; }
    if (!response.ok) throw new Error(payload.message || ("HTTP " + response.status));
    return payload;
  }
  function say(text, ok) { statusLine.textContent = text; statusLine.className = "status-line " + (ok ? "ok" : "error"); }
  function go(url) { if (url) window.location.href = url; }
  function leave(url) { if (!url) return; if (dirty() && !window.confirm("Discard unsaved changes?")) return; saved = JSON.stringify(state); go(url); }

  async function save() {
    const body = isClassification ? { labels: state.labels } : {
      objects: state.objects.map((o) => {
        const out = { class: o.cls, x1: o.x1, y1: o.y1, x2: o.x2, y2: o.y2 };
        if (o.points) out.points = o.points;
        if (o.keypoints) out.keypoints = o.keypoints;
        return out;
      }),
    };
    try {
      await post(data.save_url, body);
      saved = JSON.stringify(state);
      say("saved", true);
      document.getElementById("status-badge").textContent = "labeled";
      window.dispatchEvent(new CustomEvent("winnow:saved"));
      go(data.next_url || data.done_url);
    } catch (err) { say("not saved: " + err.message, false); }
  }
  async function setStatus(status) {
    try {
      await post(data.status_url, { status });
      saved = JSON.stringify(state);
      say(status, true);
      go(data.next_url || data.done_url);
    } catch (err) { say(err.message, false); }
  }
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("reject").addEventListener("click", () => setStatus("rejected"));
  const reviewButton = document.getElementById("accept-review");
  if (reviewButton) reviewButton.addEventListener("click", () => setStatus("reviewed"));
  const sendBackButton = document.getElementById("send-back");
  if (sendBackButton) sendBackButton.addEventListener("click", () => setStatus("unlabeled"));
  document.getElementById("next").addEventListener("click", (e) => { e.preventDefault(); leave(data.next_url); });
  document.getElementById("prev").addEventListener("click", (e) => { e.preventDefault(); leave(data.prev_url); });

  // ------------------------------------------------------------------ keyboard
  window.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
    const ctrl = e.ctrlKey || e.metaKey;
    const key = e.key;
    if (key === " ") { spaceDown = true; e.preventDefault(); return; }
    if (ctrl && (key === "z" || key === "Z")) { e.preventDefault(); if (e.shiftKey) redo(); else undo(); return; }
    if (ctrl && (key === "y" || key === "Y")) { e.preventDefault(); redo(); return; }
    if (ctrl) return;
    if (/^[1-9]$/.test(key)) { setClass(Number(key) - 1); return; }
    switch (key) {
      case "ArrowRight": case "d": leave(data.next_url); break;
      case "ArrowLeft": case "a": leave(data.prev_url); break;
      case "Enter": case "s": e.preventDefault(); save(); break;
      case "x": setStatus("rejected"); break;
      case "r": if (reviewButton) setStatus("reviewed"); break;
      case "u": if (sendBackButton) setStatus("unlabeled"); break;
      case "Delete": case "Backspace":
        if (selected >= 0) { state.objects.splice(selected, 1); selected = -1; commit(); draw(); }
        e.preventDefault(); break;
      case "Escape": polygonDraft = null; selected = -1; renderSide(); draw(); break;
      case "Tab":
        e.preventDefault();
        if (state.objects.length) { selected = (selected + (e.shiftKey ? -1 : 1) + state.objects.length) % state.objects.length; renderSide(); draw(); }
        break;
      case "v": setTool("select"); break;
      case "b": setTool("box"); break;
      case "p": setTool("polygon"); break;
      case "0": fit(); break;
      case "+": case "=": zoomAt(1.25, stage.clientWidth / 2, stage.clientHeight / 2); break;
      case "-": zoomAt(0.8, stage.clientWidth / 2, stage.clientHeight / 2); break;
      default: break;
    }
  });
  window.addEventListener("keyup", (e) => { if (e.key === " ") spaceDown = false; });
  window.addEventListener("beforeunload", (e) => { if (dirty()) { e.preventDefault(); e.returnValue = ""; } });

  renderSide();
  resize();
  // For tests and the curious: read-only access to the editor's state and view.
  window.labeler = { state, view, toScreen, classes, get selected() { return selected; }, get ready() { return img.complete && img.naturalWidth > 0; } };
})();
