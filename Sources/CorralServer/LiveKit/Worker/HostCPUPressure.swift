import Foundation

/// How hard-pressed the host's CPUs are, from 0 to 1, for a worker whose `load` is `jobs+cpu`:
/// the share of the last 10 seconds in which some runnable task waited for a CPU (Linux's
/// pressure stall information, `/proc/pressure/cpu`, `some avg10`), or, where the kernel has no
/// PSI, the 1-minute load average per CPU, capped at 1.
struct HostCPUPressure: Sendable {
    let pressureFile = "/proc/pressure/cpu"

    func current() -> Double {
        if let text = try? String(contentsOfFile: pressureFile, encoding: .utf8), let some = Self.someAverage10(text) {
            return min(1, max(0, some / 100))
        }
        var loads = [Double](repeating: 0, count: 1)
        guard getloadavg(&loads, 1) == 1 else { return 0 }
        return min(1, loads[0] / Double(max(1, ProcessInfo.processInfo.activeProcessorCount)))
    }

    /// `some avg10=12.34 avg60=… total=…` → 12.34.
    static func someAverage10(_ text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("some ") {
            for field in line.split(separator: " ") where field.hasPrefix("avg10=") {
                return Double(field.dropFirst("avg10=".count))
            }
        }
        return nil
    }
}
