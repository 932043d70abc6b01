import Foundation

/// The measurements added for the supervisor's redesign (spaced starts and ends, process-group
/// ends, CPU per start) and for the LiveKit worker.
extension Report {
    func extraLines(limitStart: Distribution, limitEnd: Distribution) -> [String] {
        func ms(_ value: Double) -> String { String(format: "%.2f", value) }
        func ratio(_ value: Double, _ floor: Double) -> String { String(format: "%.1f×", value / floor) }
        func row(_ name: String, _ samples: [Distribution], floor: Distribution) -> String {
            let d = Distribution.median(of: samples)
            return "| \(name) | \(ms(d.p50)) | \(ms(d.p90)) | \(ms(d.p99)) | \(ratio(d.p50, floor.p50)) | \(ratio(d.p99, floor.p99)) |"
        }
        var lines = [
            "",
            "| measurement | p50 ms | p90 ms | p99 ms | p50 ratio to floor | p99 ratio to floor |",
            "|---|---|---|---|---|---|",
            row("start, spaced (one every 100 ms)", spacedStart, floor: limitStart),
            row("end, spaced (one every 100 ms), agent + child", spacedEnd, floor: limitEnd),
            row("end with process groups (no cgroup), agent + child", processGroupEnd, floor: limitEnd),
            row("end with process groups, spaced (one every 100 ms)", spacedProcessGroupEnd, floor: limitEnd),
            "",
            "HTTP floor, spaced (one every 100 ms): GET /healthz p50 " + ms(Distribution.median(of: spacedHealth).p50)
                + " ms. Spaced start p50 to the floors (HTTP + spawn): "
                + ratio(Distribution.median(of: spacedStart).p50, Distribution.median(of: spacedHealth).p50 + limitStart.p50)
                + "; spaced end p50 to the floors (HTTP + signal and reap): cgroup "
                + ratio(Distribution.median(of: spacedEnd).p50, Distribution.median(of: spacedHealth).p50 + limitEnd.p50)
                + ", process groups "
                + ratio(Distribution.median(of: spacedProcessGroupEnd).p50, Distribution.median(of: spacedHealth).p50 + limitEnd.p50) + ".",
            "",
            "corral's CPU per start (user + system, all threads, during the 100 concurrent POSTs): "
                + ms(bursts.compactMap(\.cpuMSPerStart).median) + " ms.",
        ]
        if !burstFloors.isEmpty {
            let wall = bursts.map(\.startWallMS).median
            let cpu = bursts.compactMap(\.threadsCPUMSPerStart).median
            let httpWall = burstFloors.map(\.httpWallMS).median
            let spawnWall = burstFloors.map(\.spawnWallMS).median
            let httpCPU = burstFloors.map(\.httpCPUMSPerRequest).median
            let spawnCPU = burstFloors.map(\.spawnCPUMSPerSpawn).median
            lines += [
                "",
                "The burst's floors: 100 concurrent GET /healthz " + ms(httpWall) + " ms (corral's CPU " + ms(httpCPU)
                    + " ms per request), 100 agents spawned back to back in C " + ms(spawnWall) + " ms (" + ms(spawnCPU)
                    + " ms CPU per spawn). 100 concurrent POSTs to the floors (HTTP + spawns): "
                    + ratio(wall, burstFloors.map(\.wallMS).median) + "; corral's CPU per start, its threads' own count "
                    + ms(cpu) + " ms, to the floors: " + ratio(cpu, burstFloors.map(\.cpuMSPerStart).median) + ".",
            ]
        }
        if let livekit {
            lines += [
                "",
                "LiveKit worker (three corral nodes on the test LiveKit agent server):",
                "",
                "| measurement | p50 ms | p90 ms | p99 ms | p50 ratio to floor | p99 ratio to floor |",
                "|---|---|---|---|---|---|",
                row("offer → JS_RUNNING, cold", [livekit.cold], floor: limitStart),
                row("offer → JS_RUNNING, warm (`prewarm: 2`)", [livekit.warm], floor: limitStart),
                "",
                "100 jobs offered at once: all running after \(ms(livekit.spreadWallMS)) ms, \(livekit.spreadErrors) not taken; "
                    + "jobs per node: \(livekit.perNode.map(String.init).joined(separator: ", ")).",
            ]
        }
        if let density { lines += [""] + Self.densityLines(density) }
        if let templateStarts { lines += [""] + Self.templateStartLines(templateStarts) }
        return lines
    }
}
