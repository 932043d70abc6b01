/// Tokens recognisable by their shape alone, masked wherever they stand, so that a secret with no
/// name before it (`using sk-proj-…`, a JWT in a message) is hidden too: a well-known prefix at
/// the start of a word, then at least 16 token characters that look random (a digit, or both
/// cases: `hf_transfer_enabled` is a setting's name, not a token); and a private key's body, a
/// line of base64 alone.
enum KnownSecretShapes {
    /// OpenAI and Anthropic (`sk-`), ElevenLabs and Stripe (`sk_`), GitHub, GitLab, Slack, AWS
    /// access key ids, Google API keys and OAuth tokens and client secrets, Hugging Face, Groq,
    /// xAI, SendGrid, Replicate, webhook signing secrets, npm and PyPI tokens, and JWTs (`eyJ`:
    /// base64 of `{"`).
    static let prefixes: [[UInt8]] = [
        "sk-", "sk_", "rk_live_", "rk_test_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xoxb-", "xoxp-",
        "xoxa-", "xoxr-", "xapp-", "AKIA", "ASIA", "AIza", "ya29.", "GOCSPX-", "hf_", "gsk_", "xai-", "SG.", "r8_", "whsec_", "npm_",
        "pypi-", "eyJ",
    ].map { Array($0.utf8) }

    /// AWS key ids: 16 upper-case letters and digits after the prefix, nothing else.
    private static let awsPrefixes: [[UInt8]] = ["AKIA", "ASIA"].map { Array($0.utf8) }

    static let minimumLength = 16

    /// Whether a byte starts some prefix: every word of every log line is looked at.
    private static let startsPrefix: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for prefix in prefixes { table[Int(prefix[0])] = true }
        return table
    }()

    static func masked(_ bytes: [UInt8]) -> [UInt8] {
        if isBase64Line(bytes) { return SecretScanner.mask }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        // The end of the run of token characters (and dots) a word start stands in, found once
        // per run: every word start inside it (`hf_a.hf_a.…`) shares it, and looking for it
        // again from each would be quadratic in the run's length.
        var run = (end: 0, trimmed: 0)
        while index < bytes.count {
            if index == 0 || !isTokenByte(bytes[index - 1]), startsPrefix[Int(bytes[index])] {
                if index >= run.end { run = Self.run(from: index, in: bytes) }
                if let end = tokenEnd(at: index, runEnd: run.trimmed, in: bytes) {
                    output += SecretScanner.mask
                    index = end
                    continue
                }
            }
            output.append(bytes[index])
            index += 1
        }
        return output
    }

    /// Where the run of token characters and dots from `start` ends, and where it ends without
    /// its trailing dots (a full stop after a token ends the sentence; it is not part of it).
    private static func run(from start: Int, in bytes: [UInt8]) -> (end: Int, trimmed: Int) {
        var end = start
        while end < bytes.count, isTokenByte(bytes[end]) || bytes[end] == UInt8(ascii: ".") { end += 1 }
        var trimmed = end
        while trimmed > start, bytes[trimmed - 1] == UInt8(ascii: ".") { trimmed -= 1 }
        return (end, trimmed)
    }

    /// The end of a token of a known shape starting at `start`, if one does, in a run of token
    /// characters that ends at `runEnd`. Only the body's first characters are looked at for
    /// randomness, so each word start costs the same however long its run.
    private static func tokenEnd(at start: Int, runEnd: Int, in bytes: [UInt8]) -> Int? {
        for prefix in prefixes where has(prefix, at: start, in: bytes) {
            let bodyStart = start + prefix.count
            guard runEnd - bodyStart >= minimumLength else { continue }
            let body = bytes[bodyStart..<runEnd]
            if awsPrefixes.contains(prefix) {
                // An AWS key id is its prefix and 16 upper-case letters and digits; what follows
                // them (`…EXAMPLE_suffix`) is not looked at.
                if body.prefix(16).allSatisfy({ isDigit($0) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }) { return runEnd }
            } else if looksRandom(body.prefix(64)) {
                return runEnd
            }
        }
        return nil
    }

    /// A digit, or letters of both cases: what a generated token has and a name does not.
    private static func looksRandom(_ body: ArraySlice<UInt8>) -> Bool {
        body.contains(where: isDigit) || hasBothCases(body)
    }

    private static func hasBothCases(_ text: some Collection<UInt8>) -> Bool {
        text.contains { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") } && text.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
    }

    /// A line that is base64 alone, 40 characters or more of it, looking random: a private key's
    /// body (`-----BEGIN … PRIVATE KEY-----` is a line of its own, and a log read may start
    /// after it), a certificate's, or a secret encoded whole. A hex digest has one case only
    /// and stays.
    static func isBase64Line(_ bytes: [UInt8]) -> Bool {
        let body = bytes.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.prefix { $0 != UInt8(ascii: "\r") }
        guard body.count >= 40 else { return false }
        let alphabet = body.allSatisfy {
            SecretScanner.isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "=")
        }
        return alphabet && hasBothCases(body)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func has(_ prefix: [UInt8], at start: Int, in bytes: [UInt8]) -> Bool {
        guard bytes.count - start > prefix.count else { return false }
        for offset in 0..<prefix.count where bytes[start + offset] != prefix[offset] { return false }
        return true
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        SecretScanner.isLetter(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "-")
    }
}
