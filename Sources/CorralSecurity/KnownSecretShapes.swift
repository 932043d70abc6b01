/// Tokens recognisable by their shape alone, masked wherever they stand, so that a secret with no
/// name before it (`using sk-proj-…`, a JWT in a message) is hidden too: a well-known prefix at
/// the start of a word, then at least 16 token characters.
enum KnownSecretShapes {
    /// OpenAI and Anthropic (`sk-`), Stripe, GitHub, GitLab, Slack, AWS access key ids, Google
    /// API keys, Hugging Face, and JWTs (`eyJ`: base64 of `{"`).
    static let prefixes: [[UInt8]] = [
        "sk-", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-",
        "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xapp-", "AKIA", "ASIA", "AIza", "hf_", "eyJ",
    ].map { Array($0.utf8) }

    static let minimumLength = 16

    /// Whether a byte starts some prefix: every word of every log line is looked at.
    private static let startsPrefix: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for prefix in prefixes { table[Int(prefix[0])] = true }
        return table
    }()

    static func masked(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if index == 0 || !isTokenByte(bytes[index - 1]), let end = tokenEnd(at: index, in: bytes) {
                output += SecretScanner.mask
                index = end
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return output
    }

    /// The end of a token of a known shape starting at `start`, if one does.
    private static func tokenEnd(at start: Int, in bytes: [UInt8]) -> Int? {
        guard startsPrefix[Int(bytes[start])] else { return nil }
        for prefix in prefixes where has(prefix, at: start, in: bytes) {
            var end = start + prefix.count
            while end < bytes.count, isTokenByte(bytes[end]) || bytes[end] == UInt8(ascii: ".") { end += 1 }
            // A full stop after a token ends the sentence; it is not part of it.
            while bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            if end - start - prefix.count >= minimumLength { return end }
        }
        return nil
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
