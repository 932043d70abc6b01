import Foundation

/// The tables of the density scenario and of the three ways a template profile's session starts.
extension Report {
    /// LiveKit's worker and a corral template, one row per side and batch.
    static func densityLines(_ density: Scenarios.Density?) -> [String] {
        guard let density else { return ["Density: not measured (no .build/livekit-venv)."] }
        func mb(_ value: Double) -> String { String(format: "%.0f", value) }
        func ms(_ value: Double) -> String { String(format: "%.0f", value) }
        var lines = [
            "Density: one livekit-agents 1.8.9 agent (`bench/livekit_density_agent.py`: each job starts a `setsid` helper) on the test",
            "LiveKit agent server, under LiveKit's worker (`num_idle_processes=2`) and under corral (a template with `prewarm: 2`);",
            "jobs dispatched one after another (each once the previous one ran) and all at once; PSS summed over every process of",
            "the side (the worker or corral, everything below it, and the helpers); times on the server's clock, from its dispatch:",
            "",
            "| side | jobs | dispatched | processes idle | idle PSS MB | all running: PSS MB | each further job: PSS MB | → `JS_RUNNING` p50 ms | p99 ms | all running after ms | helpers left |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (name, side) in [("LiveKit's worker", density.livekit), ("corral", density.corral)] {
            for batch in side.batches {
                lines.append(
                    "| \(name) | \(batch.jobs) | \(batch.concurrent ? "at once" : "one by one") | \(batch.processesIdle) | \(mb(batch.idlePSSMB)) | "
                        + "\(mb(batch.busyPSSMB)) | \(String(format: "%.1f", batch.perJobPSSMB)) | \(ms(batch.running.p50)) | \(ms(batch.running.p99)) | "
                        + "\(ms(batch.allRunningMS)) | \(batch.helpersLeft) of \(batch.jobs) |"
                )
            }
        }
        return lines
    }

    /// A plain profile's session: forked, cold, prewarmed.
    static func templateStartLines(_ starts: Scenarios.TemplateStarts) -> [String] {
        func ms(_ value: Double) -> String { String(format: "%.1f", value) }
        let names = ["fork": "forked from the template", "cold": "cold `execve` (no template)", "warm": "prewarmed hand-out (`prewarm: 2`, no template)"]
        var lines = [
            "Starts through `POST /api/sessions` of one Python agent (`bench/template_agent.py`: a \(ms(starts.loadSeconds)) s warm-up, then its",
            "session says `READY=1`), \(starts.cycles) starts each, one at a time:",
            "",
            "| start | POST → 201 p50 ms | p99 ms | POST → `running` p50 ms | p99 ms | started another way |",
            "|---|---|---|---|---|---|",
        ]
        for start in starts.starts {
            lines.append(
                "| \(names[start.start] ?? start.start) | \(ms(start.created.p50)) | \(ms(start.created.p99)) | \(ms(start.running.p50)) | \(ms(start.running.p99)) | \(start.otherPath) |"
            )
        }
        return lines
    }
}
