/// What an error says of a key nobody declared: the declared name it most likely misspells, and
/// every declared name. No secret's name comes before the list's colon: redaction masks the word
/// after one (`known keys: listen` lost `listen`).
enum UnknownKey {
    static func message(_ unknown: String, known names: [String], what: String = "key") -> String {
        let suggestion = nearest(to: unknown, among: names).map { "; did you mean \($0)?" } ?? ""
        return "unknown \(what)\(suggestion) (known: \(names.joined(separator: ", ")))"
    }

    /// The name within a few edits of `name` (a typo, a plural, a different case), if one is
    /// clearly the nearest.
    static func nearest(to name: String, among names: [String]) -> String? {
        let lowered = name.lowercased()
        let ranked = names.map { ($0, distance(lowered, $0.lowercased())) }.sorted { $0.1 < $1.1 }
        guard let best = ranked.first, best.1 <= max(2, name.count / 4) else { return nil }
        if ranked.count > 1, ranked[1].1 == best.1 { return nil }
        return best.0
    }

    /// Levenshtein distance, over characters.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
