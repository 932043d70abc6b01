extension Duration {
    /// The whole duration in nanoseconds (what metrics and poll(2)-style timeouts take).
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    package var milliseconds: Int64 { nanoseconds / 1_000_000 }

    /// In seconds, with the fraction.
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension Duration {
    /// The longest wait corral arms: about 31 years, "never" in practice. `Duration.seconds(_:)`
    /// traps past about 10^20 seconds, and a timer may be set from a date corral did not choose
    /// (a record another node wrote).
    package static let longestWait = Duration.seconds(1_000_000_000)

    /// `seconds` as a duration from zero to `longestWait`: NaN and negative spans are zero.
    package static func seconds(clamping seconds: Double) -> Duration {
        guard seconds > 0 else { return .zero }
        return seconds >= 1_000_000_000 ? longestWait : .seconds(seconds)
    }
}
