/// Percentiles and medians of measured durations (in milliseconds).
struct Distribution: Codable {
    let count: Int
    let p50: Double
    let p90: Double
    let p99: Double
    let max: Double

    init(_ samples: [Double]) {
        let sorted = samples.sorted()
        count = sorted.count
        func percentile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
            return sorted[rank]
        }
        p50 = percentile(50)
        p90 = percentile(90)
        p99 = percentile(99)
        max = sorted.last ?? .nan
    }

    /// The median, per percentile, of several runs' distributions.
    static func median(of runs: [Distribution]) -> Distribution {
        Distribution(
            count: runs.map(\.count).reduce(0, +),
            p50: runs.map(\.p50).median,
            p90: runs.map(\.p90).median,
            p99: runs.map(\.p99).median,
            max: runs.map(\.max).median
        )
    }

    private init(count: Int, p50: Double, p90: Double, p99: Double, max: Double) {
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.max = max
    }
}

extension Array where Element == Double {
    var median: Double {
        guard !isEmpty else { return .nan }
        let sorted = self.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}

extension Duration {
    var ms: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
