import Foundation

/// Everything one benchmark run measured, and its Markdown rendering.
struct Report: Codable {
    let host: String
    let cycles: Int
    let runs: Int
    let grace: Double
    var modeLine = ""
    var limitStart: [Distribution] = []
    var limitEnd: [Distribution] = []
    var start: [Distribution] = []
    var end: [Distribution] = []
    var stubborn: [Distribution] = []
    var coldReady: [Distribution] = []
    var warmReady: [Distribution] = []
    var bursts: [Scenarios.Burst] = []
    var burstFloors: [Scenarios.BurstFloor] = []
    var spacedStart: [Distribution] = []
    var spacedEnd: [Distribution] = []
    var processGroupEnd: [Distribution] = []
    var spacedProcessGroupEnd: [Distribution] = []
    var spacedHealth: [Distribution] = []
    var phaseTimings: [String] = []
    var livekit: Scenarios.LiveKitJobs?
    var density: Scenarios.Density?
    var templateStarts: Scenarios.TemplateStarts?
    var scale: [Scenarios.Scale] = []
    var leftBehind = 0

    init(host: String, cycles: Int, runs: Int, grace: Double) {
        self.host = host
        self.cycles = cycles
        self.runs = runs
        self.grace = grace
    }

    var markdown: String {
        let limitStart = Distribution.median(of: limitStart)
        let limitEnd = Distribution.median(of: limitEnd)
        let start = Distribution.median(of: start)
        let end = Distribution.median(of: end)
        let stubborn = Distribution.median(of: stubborn)
        let coldReady = Distribution.median(of: coldReady)
        let warmReady = Distribution.median(of: warmReady)
        func ms(_ value: Double) -> String { String(format: "%.2f", value) }
        func ratio(_ value: Double, _ floor: Double) -> String { String(format: "%.1f×", value / floor) }
        var lines = [
            "# corral benchmark",
            "",
            "\(host); release build; containment: \(modeLine); medians over \(runs) runs of \(cycles) cycles (end: \(max(cycles / 2, 1)));",
            "ratios are to the floor measured in the same run (posix_spawn + killpg + waitpid in C).",
            "",
            "| measurement | p50 ms | p90 ms | p99 ms | p50 ratio to floor | p99 ratio to floor |",
            "|---|---|---|---|---|---|",
            "| floor: spawn | \(ms(limitStart.p50)) | \(ms(limitStart.p90)) | \(ms(limitStart.p99)) | 1.0× | 1.0× |",
            "| floor: signal + reap | \(ms(limitEnd.p50)) | \(ms(limitEnd.p90)) | \(ms(limitEnd.p99)) | 1.0× | 1.0× |",
            "| start: POST → 201 (`sleep`) | \(ms(start.p50)) | \(ms(start.p90)) | \(ms(start.p99)) | \(ratio(start.p50, limitStart.p50)) | \(ratio(start.p99, limitStart.p99)) |",
            "| end: DELETE → 200, agent + child | \(ms(end.p50)) | \(ms(end.p90)) | \(ms(end.p99)) | \(ratio(end.p50, limitEnd.p50)) | \(ratio(end.p99, limitEnd.p99)) |",
            "| end of a SIGTERM-ignorer, past grace (\(grace) s) | \(ms(stubborn.p50)) | \(ms(stubborn.p90)) | \(ms(stubborn.p99)) | | |",
            "| ready: POST → agent ready, cold (loads 1.5 s) | \(ms(coldReady.p50)) | \(ms(coldReady.p90)) | \(ms(coldReady.p99)) | \(ratio(coldReady.p50, limitStart.p50)) | \(ratio(coldReady.p99, limitStart.p99)) |",
            "| ready: POST → agent ready, warm (`prewarm: 2`) | \(ms(warmReady.p50)) | \(ms(warmReady.p90)) | \(ms(warmReady.p99)) | \(ratio(warmReady.p50, limitStart.p50)) | \(ratio(warmReady.p99, limitStart.p99)) |",
            "",
            "| burst of 100 | wall ms (median) | errors |",
            "|---|---|---|",
            "| 100 concurrent POSTs | \(ms(bursts.map(\.startWallMS).median)) | \(bursts.map(\.errors).reduce(0, +)) |",
            "| 100 concurrent DELETEs | \(ms(bursts.map(\.endWallMS).median)) | |",
        ]
        lines += extraLines(limitStart: limitStart, limitEnd: limitEnd)
        if !scale.isEmpty {
            lines += [
                "",
                "| sessions (agent + child) | start all s | end all s | errors | corral RSS MB | idle CPU % of a core | list p50 / p99 ms | debug p50 / p99 ms | left behind |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for size in scale {
                lines.append(
                    "| \(size.sessions) | \(String(format: "%.1f", size.startWallSeconds)) | \(String(format: "%.1f", size.endWallSeconds)) | \(size.errors) | \(String(format: "%.1f", size.rssMB)) | \(String(format: "%.2f", size.idleCPUPercent)) | \(ms(size.listLatency.p50)) / \(ms(size.listLatency.p99)) | \(ms(size.debugLatency.p50)) / \(ms(size.debugLatency.p99)) | \(size.leftBehind) |"
                )
            }
        }
        lines += ["", "Processes left behind after the whole run: \(leftBehind)."]
        if !phaseTimings.isEmpty {
            lines += ["", "Inside corral (CORRAL_PHASE_TIMINGS), medians in µs between consecutive marks:", "", "```"] + phaseTimings + ["```"]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
