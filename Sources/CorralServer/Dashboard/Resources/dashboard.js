"use strict";
const sessions = new Map();
let selected = null, ended = 0, tokenWaiters = [];
const $ = (id) => document.getElementById(id);

function headers(token = sessionStorage.getItem("corral-token")) {
  return token ? { "Authorization": "Bearer " + token } : {};
}
function askToken() {
  $("token").style.display = "flex";
  $("token-input").focus();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("corral-token", $("token-input").value.trim());
  $("token").style.display = "none";
  tokenWaiters.splice(0).forEach((resolve) => resolve());
});
async function api(path, options = {}) {
  for (;;) {
    const token = sessionStorage.getItem("corral-token");
    const response = await fetch(path, { ...options, headers: { ...headers(token), ...(options.headers || {}) } });
    if (response.status === 401) {
      // Refused for the token it went out with: a request sent before the operator gave one
      // (the page's first requests) goes again with it, without asking a second time.
      if (sessionStorage.getItem("corral-token") === token) await askToken();
      continue;
    }
    return response;
  }
}

const fmtDuration = (s) => {
  s = Math.max(0, Math.floor(s));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
};
const fmtBytes = (b) => b == null ? "–" : b < 1024 ? b + " B" : b < 1048576 ? (b / 1024).toFixed(1) + " KiB" : (b / 1048576).toFixed(1) + " MiB";
const text = (value) => document.createTextNode(value == null ? "–" : String(value));

// Rows are built once per session and then updated in place: a row rebuilt under the
// pointer would swallow a click on its End button.
const rows = new Map();
function buildRow(id) {
  const row = document.createElement("tr");
  row.className = "session";
  row.dataset.id = id;
  for (let i = 0; i < 8; i++) row.appendChild(document.createElement("td"));
  row.cells[2].appendChild(document.createElement("span"));
  for (let i = 3; i <= 7; i++) row.cells[i].className = "num";
  const action = document.createElement("td");
  const button = document.createElement("button");
  button.className = "end";
  button.textContent = "End";
  button.dataset.id = id;
  button.addEventListener("click", (event) => { event.stopPropagation(); endSession(id); });
  action.appendChild(button);
  row.appendChild(action);
  row.addEventListener("click", () => select(id));
  return row;
}
function setText(cell, value) {
  const shown = value == null ? "–" : String(value);
  if (cell.textContent !== shown) cell.textContent = shown;
}

function render() {
  const body = $("sessions");
  const now = Date.now();
  const counts = { starting: 0, running: 0, stopping: 0 };
  const list = [...sessions.values()].sort((a, b) => a.started_at < b.started_at ? -1 : 1);
  for (const [id, row] of rows) {
    if (!sessions.has(id)) { row.remove(); rows.delete(id); }
  }
  list.forEach((s, index) => {
    counts[s.status] = (counts[s.status] || 0) + 1;
    let row = rows.get(s.session_id);
    if (!row) { row = buildRow(s.session_id); rows.set(s.session_id, row); }
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    row.classList.toggle("selected", s.session_id === selected);
    const cells = row.cells;
    setText(cells[0], s.session_id);
    setText(cells[1], s.agent);
    const chip = cells[2].firstChild;
    chip.className = "status " + s.status;
    setText(chip, s.status);
    setText(cells[3], fmtDuration((now - Date.parse(s.started_at)) / 1000));
    setText(cells[4], fmtDuration((Date.parse(s.expires_at) - now) / 1000));
    setText(cells[5], (s.pid ?? "–") + " / " + (s.pgid ?? "–"));
    setText(cells[6], s.processes);
    setText(cells[7], fmtBytes(s.memory_bytes) + (s.pss_bytes === undefined ? "" : " · PSS " + fmtBytes(s.pss_bytes)));
  });
  $("empty").style.display = list.length ? "none" : "block";
  $("count-active").textContent = list.length;
  for (const key of ["starting", "running", "stopping"]) $("count-" + key).textContent = counts[key] || 0;
  $("count-ended").textContent = ended;
}

async function refresh() {
  try {
    const response = await api("/api/sessions?usage=true");
    if (!response.ok) throw new Error((await response.json()).error || response.status);
    const data = await response.json();
    sessions.clear();
    for (const s of data.sessions) sessions.set(s.session_id, s);
    $("error").textContent = "";
    render();
  } catch (error) {
    $("error").textContent = "Cannot list sessions: " + error.message;
  }
  refreshIdle();
  refreshTemplates();
}

// Templates sessions are forked from: how many are ready, their forks and what they hold.
async function refreshTemplates() {
  try {
    const response = await api("/api/templates");
    if (!response.ok) return;
    const templates = (await response.json()).templates;
    const ready = templates.filter((t) => t.state === "ready").length;
    const forks = templates.reduce((sum, t) => sum + t.forks, 0);
    const memory = templates.reduce((sum, t) => sum + (t.memory_bytes || 0), 0);
    $("count-templates").textContent = templates.length ? ready + "/" + templates.length : "–";
    $("template-label").textContent = "templates ready · " + forks + " forks · " + fmtBytes(memory);
    $("template-counter").title = templates.map((t) => t.agent + ": " + t.state + ", " + t.restarts + " restarts"
      + (t.last_error ? ", last error: " + t.last_error : "")).join("\n");
  } catch (error) {}
}

// Prewarmed agents waiting for a session: how many are ready, and what they hold.
async function refreshIdle() {
  try {
    const response = await api("/api/prewarm");
    if (!response.ok) return;
    const data = await response.json();
    const ready = data.idle.filter((a) => a.state === "ready").length;
    const target = Object.values(data.targets).reduce((a, b) => a + b, 0);
    const memory = data.idle.reduce((sum, a) => sum + (a.memory_bytes || 0), 0);
    $("count-idle").textContent = ready + "/" + target;
    $("idle-label").textContent = "idle ready · " + fmtBytes(memory);
  } catch (error) {}
}

async function endSession(id) {
  if (!confirm("End session " + id + "? Every process of it will be stopped.")) return;
  const response = await api("/api/sessions/" + encodeURIComponent(id), { method: "DELETE" });
  if (response.ok || response.status === 404) {
    if (sessions.delete(id) && response.ok) ended += 1;
    if (selected === id) selected = null;
    render();
  } else {
    $("error").textContent = "Could not end " + id + ": " + ((await response.json()).error || response.status);
  }
}

function drawTree(processes, pgid) {
  const pids = new Set(processes.map((p) => p.pid));
  const children = new Map();
  const roots = [];
  for (const p of processes) {
    if (pids.has(p.ppid) && p.ppid !== p.pid) (children.get(p.ppid) || children.set(p.ppid, []).get(p.ppid)).push(p);
    else roots.push(p);
  }
  const lines = [];
  const draw = (p, prefix, connector, childPrefix) => {
    lines.push(prefix + connector + p.pid + " " + p.cmd + (pgid !== null && p.pgid !== pgid ? "   [left the group]" : ""));
    const kids = children.get(p.pid) || [];
    kids.forEach((kid, i) => {
      const last = i === kids.length - 1;
      draw(kid, prefix + childPrefix, last ? "└─ " : "├─ ", last ? "   " : "│  ");
    });
  };
  roots.forEach((root) => draw(root, "", "", ""));
  return lines.join("\n");
}

async function select(id) {
  selected = id;
  render();
  const s = sessions.get(id);
  $("details-meta").textContent = s ? id + " · " + s.agent + " · " + s.containment + " · pid " + s.pid : id;
  const [processes, log] = await Promise.all([
    api("/api/debug/session/" + encodeURIComponent(id) + "/processes"),
    api("/api/sessions/" + encodeURIComponent(id) + "/logs?tail=50"),
  ]);
  if (selected !== id) return;
  if (processes.ok) {
    const report = await processes.json();
    // In a pid namespace, the init and its agent lead groups of their own: no group to leave.
    const containment = report.session_data && report.session_data.containment;
    $("tree").textContent = drawTree(report.child_processes, containment === "pid-namespace" ? null : report.pgid);
  } else {
    $("tree").textContent = "(ended)";
  }
  $("log").textContent = log.ok ? await log.text() : "";
}

async function follow() {
  for (;;) {
    try {
      const response = await api("/api/events");
      if (!response.ok || !response.body) throw new Error("events: " + response.status);
      $("live").className = "on";
      $("live").textContent = "live";
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) handle(JSON.parse(data));
        }
      }
    } catch (error) {
      // Reconnect below.
    }
    $("live").className = "off";
    $("live").textContent = "reconnecting";
    await new Promise((resolve) => setTimeout(resolve, 2000));
    refresh();
  }
}

function handle(event) {
  const s = sessions.get(event.session_id);
  switch (event.type) {
    case "session.started": refresh(); break;
    case "session.ready": case "session.status":
      if (s) { s.status = event.status || "running"; render(); } break;
    case "session.ended":
      if (sessions.delete(event.session_id)) ended += 1;
      if (selected === event.session_id) { $("details-meta").textContent = event.session_id + " ended (" + event.reason + ")"; }
      render(); break;
  }
}
async function refreshWorkers() {
  try {
    const response = await api("/api/livekit/workers");
    if (!response.ok) return;
    const data = await response.json();
    $("workers-section").style.display = data.workers.length ? "block" : "none";
    const rows = data.workers.map((w) => {
      const row = document.createElement("tr");
      const cells = [
        w.profile, w.agent_name || "(automatic dispatch)",
        w.connected ? "connected" : w.phase.replaceAll("_", " ") + (w.last_error ? ": " + w.last_error : ""),
        w.worker_id, w.available ? "available" : "full", Math.round(w.load * 100) + "%", w.jobs + " / " + w.max_jobs,
      ];
      for (const value of cells) {
        const cell = document.createElement("td");
        cell.appendChild(text(value));
        row.appendChild(cell);
      }
      row.cells[4].className = "status " + (w.available ? "running" : "stopping");
      return row;
    });
    $("workers").replaceChildren(...rows);
  } catch (error) {}
}

async function refreshActivity() {
  try {
    const response = await api("/api/activity");
    if (!response.ok) return;
    const minutes = (await response.json()).minutes;
    const peak = Math.max(1, ...minutes.map((m) => Math.max(m.sessions || 0, m.jobs || 0)));
    const columns = minutes.map((m) => {
      const column = document.createElement("div");
      column.className = "minute" + (m.sessions == null ? " none" : "");
      column.title = new Date(m.start).toLocaleTimeString() + ": " + (m.sessions ?? "–") + " sessions, " + (m.jobs ?? "–") + " jobs";
      for (const kind of ["sessions", "jobs"]) {
        const bar = document.createElement("div");
        bar.className = "bar " + kind;
        bar.style.height = ((m[kind] || 0) / peak * 100) + "%";
        column.appendChild(bar);
      }
      return column;
    });
    $("activity").replaceChildren(...columns);
    $("activity-peak").textContent = "peak " + peak;
  } catch (error) {}
}

function refreshOperators() { refreshWorkers(); refreshActivity(); }refresh();
follow();
refreshOperators();
setInterval(refresh, 5000);
setInterval(render, 1000);
setInterval(refreshOperators, 15000);
