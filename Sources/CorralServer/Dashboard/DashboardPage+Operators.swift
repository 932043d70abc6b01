extension DashboardPage {
    /// Below the sessions: the LiveKit workers (shown only when there are some) and a chart of
    /// the last hour's active sessions and jobs (`/api/livekit/workers`, `/api/activity`).
    static let operatorSections = #"""
        <main class="below">
          <section id="workers-section" style="display: none">
            <h2>LiveKit workers</h2>
            <table>
              <thead><tr><th>Profile</th><th>Agent name</th><th>Connection</th><th>Worker id</th><th>Status</th><th>Load</th><th>Jobs</th></tr></thead>
              <tbody id="workers"></tbody>
            </table>
          </section>
          <section id="activity-section">
            <h2>Last hour: <span class="key sessions">sessions</span> <span class="key jobs">jobs</span> <span id="activity-peak"></span></h2>
            <div id="activity" class="chart" role="img" aria-label="active sessions and jobs per minute over the last hour"></div>
          </section>
        </main>
        """#

    static let operatorStyle = #"""
        main.below { padding-top: 0; }
        .chart { display: flex; align-items: flex-end; gap: 2px; height: 120px; padding: 10px 14px; }
        .chart .minute { flex: 1; height: 100%; display: flex; align-items: flex-end; gap: 1px; }
        .chart .bar { flex: 1; min-height: 0; border-radius: 2px 2px 0 0; }
        .chart .bar.sessions, .key.sessions { background: var(--accent); }
        .chart .bar.jobs, .key.jobs { background: var(--ok); }
        .chart .minute.none { opacity: .25; }
        .key { color: #fff; padding: 0 6px; border-radius: 4px; text-transform: none; }
        #activity-peak { float: right; text-transform: none; }
        """#

    static let operatorScript = #"""
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

        function refreshOperators() { refreshWorkers(); refreshActivity(); }
        """#
}
