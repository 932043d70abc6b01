import Foundation
import Synchronization

/// Where the time of a request goes inside corral, step by step, for the benchmark's table of a
/// start (bench/README.md). Off unless corral runs with `CORRAL_PHASE_TIMINGS` set: then each
/// traced request records when it passed each mark (on whatever thread), and at exit corral
/// prints, per kind of request, the median time between consecutive marks.
package final class PhaseTrace: Sendable {
    package static let enabled = ProcessInfo.processInfo.environment["CORRAL_PHASE_TIMINGS"] != nil

    /// The trace of the request the current task serves (nil when tracing is off).
    @TaskLocal package static var current: PhaseTrace?

    private let label: String
    private let marks = Mutex<[(String, ContinuousClock.Instant)]>([])

    /// A trace for a request of kind `label` (traces of one label are summarised together), or
    /// nil when tracing is off.
    package static func begin(_ label: String) -> PhaseTrace? {
        enabled ? PhaseTrace(label: label) : nil
    }

    private init(label: String) {
        self.label = label
    }

    package func mark(_ name: String) {
        let now = ContinuousClock.now
        marks.withLock { $0.append((name, now)) }
    }

    /// Adds the steps between the marks (in time order) to the summary, under `label` if given
    /// (what the request turned out to be), else the label it began with.
    package func finish(as label: String? = nil) {
        let label = label ?? self.label
        let sorted = marks.withLock { $0 }.sorted { $0.1 < $1.1 }
        guard sorted.count > 1 else { return }
        Self.summary.withLock { summary in
            var steps = summary[label] ?? Steps()
            for (earlier, later) in zip(sorted, sorted.dropFirst()) {
                let step = "\(earlier.0) → \(later.0)"
                if steps.samples[step] == nil { steps.order.append(step) }
                steps.samples[step, default: []].append(Double((later.1 - earlier.1).components.attoseconds) / 1e12)
            }
            steps.totals.append(Double((sorted.last!.1 - sorted.first!.1).components.attoseconds) / 1e12)
            summary[label] = steps
        }
    }

    /// A session id without its trailing numbers ("spaced-end-12" → "spaced-end"): requests of
    /// one kind in the benchmark.
    package static func kind(of id: String) -> String {
        var kind = Substring(id)
        while let last = kind.last, last.isNumber || last == "-" { kind = kind.dropLast() }
        return String(kind)
    }

    private struct Steps {
        var order: [String] = []
        var samples: [String: [Double]] = [:]
        var totals: [Double] = []
    }

    private static let summary = Mutex<[String: Steps]>([:])

    /// Medians in microseconds, one line per step, for every label.
    package static func report() -> String {
        summary.withLock { summary in
            var lines: [String] = []
            for (label, steps) in summary.sorted(by: { $0.key < $1.key }) {
                lines.append("phase timings \(label): \(steps.totals.count) traced, median total \(median(steps.totals)) µs")
                for step in steps.order {
                    let samples = steps.samples[step] ?? []
                    lines.append("  \(step): median \(median(samples)) µs (\(samples.count) samples)")
                }
            }
            return lines.joined(separator: "\n")
        }
    }

    private static func median(_ values: [Double]) -> String {
        guard !values.isEmpty else { return "-" }
        let sorted = values.sorted()
        return String(format: "%.1f", sorted[sorted.count / 2])
    }
}
