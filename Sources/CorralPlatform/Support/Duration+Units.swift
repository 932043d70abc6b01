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
