extension DashboardPage {
    /// The page's CSS: light and dark, no web fonts.
    static let style = #"""
        :root {
          --bg: #f7f7f5; --panel: #ffffff; --text: #1d1f21; --muted: #6b7075; --line: #e3e3df;
          --accent: #2f6fde; --ok: #1f8a4c; --warn: #b7791f; --bad: #c53030; --chip: #eef1f5;
          color-scheme: light dark;
        }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #15171a; --panel: #1d2024; --text: #e6e6e3; --muted: #9aa0a6; --line: #2e3238;
                  --accent: #6ea0ff; --ok: #4cc38a; --warn: #e0a94a; --bad: #f07070; --chip: #262a30; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--text); }
        header { display: flex; align-items: center; gap: 24px; padding: 14px 24px; border-bottom: 1px solid var(--line); background: var(--panel); }
        header h1 { font-size: 18px; margin: 0; letter-spacing: .02em; }
        .counters { display: flex; gap: 18px; flex-wrap: wrap; }
        .counter { display: flex; flex-direction: column; }
        .counter b { font-size: 20px; font-variant-numeric: tabular-nums; }
        .counter span { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .05em; }
        #live { margin-left: auto; color: var(--muted); font-size: 12px; }
        #live.on::before { content: "●"; color: var(--ok); margin-right: 6px; }
        #live.off::before { content: "●"; color: var(--bad); margin-right: 6px; }
        main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; padding: 16px 24px; }
        section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
        section h2 { font-size: 13px; margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line); color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
        table { width: 100%; border-collapse: collapse; }
        th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line); white-space: nowrap; }
        th { font-weight: 600; font-size: 12px; color: var(--muted); }
        td.num { font-variant-numeric: tabular-nums; }
        tr.session { cursor: pointer; }
        tr.session:hover, tr.session.selected { background: var(--chip); }
        .status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: var(--chip); }
        .status.running { color: var(--ok); } .status.starting { color: var(--warn); } .status.stopping { color: var(--bad); }
        button { font: inherit; border: 1px solid var(--line); background: var(--panel); color: var(--text); border-radius: 6px; padding: 3px 10px; cursor: pointer; }
        button.end { color: var(--bad); border-color: var(--bad); }
        button:hover { filter: brightness(0.95); }
        #empty { padding: 24px; color: var(--muted); text-align: center; }
        pre { margin: 0; padding: 12px 14px; font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; overflow: auto; max-height: 320px; white-space: pre; }
        #details .meta { padding: 10px 14px; color: var(--muted); font-size: 13px; border-bottom: 1px solid var(--line); }
        #token { position: fixed; inset: 0; background: rgba(0,0,0,.45); display: none; align-items: center; justify-content: center; }
        #token form { background: var(--panel); padding: 20px; border-radius: 8px; border: 1px solid var(--line); display: flex; gap: 8px; flex-direction: column; width: 340px; }
        #token input { font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--text); }
        .error { color: var(--bad); padding: 8px 14px; }
        @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
        """#
}
