extension Redactor {
    /// Secrets in free text: a log line, a `sh -c` string, a variable's value. Masked:
    /// - the value after a secret's name and a separator (`=`, `:`, `=>`, `:=` or their
    ///   percent-encodings; spaces around it allowed), whatever comes before the name (`export `,
    ///   `?`, `&`, `;`, a quote): a quoted value (`'…'`, `"…"`, `\"…\"`) up to its closing quote,
    ///   an unquoted one up to a space, `&`, `;`, `,`, a quote or a closing bracket (a quote or a
    ///   backslash inside it continues it, as in a shell: `TOKEN=abc"def"`, `TOKEN=abc\ def`,
    ///   `TOKEN=abc\"def`), and so does more of the word right after a closing quote
    ///   (`TOKEN="abc"def`, `TOKEN=''abc`); a traceback's exception (`KeyError: …`) names no secret;
    /// - the word after an option with a secret's name (`--api-key …`);
    /// - the credentials after `Authorization:` (the scheme stays) and after `Bearer`, and the
    ///   whole value of a `Cookie:` or `Set-Cookie:` header (session ids, every pair of them);
    /// - URL passwords, with a scheme or without (`user:pw@host`), and tokens of well-known
    ///   shapes (`KnownSecretShapes`).
    /// A name is matched with its leading dashes dropped and its percent-escapes decoded.
    public func text(_ line: String) -> String {
        // Passwords without a scheme after the names' values: a secret's value holding one
        // (`API_KEY=k1:abc@host`) goes whole.
        var scanner = SecretScanner(bytes: Array(urls(in: line).utf8), redactor: self)
        return String(decoding: KnownSecretShapes.masked(bareUserInformation(in: scanner.masked())), as: UTF8.self)
    }
}

/// One pass over the bytes of a text. Every separator, quote and terminator is ASCII, so a
/// multi-byte character is never split: its bytes are all above 0x7F and count as value bytes.
struct SecretScanner {
    let bytes: [UInt8]
    let redactor: Redactor
    /// How far quotes have been followed, and the one open there: positions asked about only
    /// grow, so following them costs one pass over the text in all.
    private var quotes: (position: Int, open: UInt8?) = (0, nil)

    static let mask = Array(Redactor.mask.utf8)

    init(bytes: [UInt8], redactor: Redactor) {
        self.bytes = bytes
        self.redactor = redactor
    }

    mutating func masked() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            // An escaped separator or space (`%3D`, `%20`) is not the start of a name.
            if bytes[index] == UInt8(ascii: "%"), let decoded = percentEscape(at: index), !Self.isNameByte(decoded) {
                output += bytes[index..<index + 3]
                index += 3
                continue
            }
            let end = nameEnd(from: index)
            guard end > index else {
                output.append(bytes[index])
                index += 1
                continue
            }
            if let secret = secretValue(name: index..<end) {
                output += bytes[index..<secret.lowerBound]
                output += Self.mask
                index = secret.upperBound
            } else {
                output += bytes[index..<end]
                index = end
            }
        }
        return output
    }

    /// What to mask after the name in `name`, if it is a secret's and a value follows.
    mutating func secretValue(name: Range<Int>) -> Range<Int>? {
        let raw = bytes[name]
        let dashes = raw.prefix { $0 == UInt8(ascii: "-") }.count
        let key = Self.decodedName(raw.dropFirst(dashes)).map { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") ? $0 - 0x20 : $0 }
        guard !key.isEmpty else { return nil }
        // In any case: corral takes `Authorization: bearer …`, and so do most servers.
        if key.elementsEqual("BEARER".utf8), dashes == 0 {
            let start = skipSpaces(name.upperBound)
            return start > name.upperBound && start < bytes.count ? value(at: start, insideQuote: enclosingQuote(at: name.lowerBound)) : nil
        }
        let authorization = Self.credentialHeaders.contains { key.elementsEqual($0.utf8) }
        guard authorization || (redactor.isSecret(uppercased: key) && !isExceptionName(name)) else { return nil }
        guard let value = secretValue(afterName: name, dashes: dashes, authorization: authorization) else { return nil }
        // A count of tokens (`prompt_tokens=123`) shows its number.
        if !authorization, redactor.countsTokens(uppercased: key), Redactor.isNumber(bytes[value]) { return nil }
        return value
    }

    /// What to mask after a secret's name.
    mutating func secretValue(afterName name: Range<Int>, dashes: Int, authorization: Bool) -> Range<Int>? {
        var index = name.upperBound
        let quoted = name.lowerBound > 0 && Self.isQuote(bytes[name.lowerBound - 1]) && index < bytes.count && Self.isQuote(bytes[index])
        // The closing quote of a quoted name: `"api_key": …`, `\"api_key\": …`, `'key' => …`.
        if let quote = quote(at: index) {
            index += quote.count
        } else if index < bytes.count, let encoded = percentEscape(at: index), Self.isQuote(encoded) {
            index += 3
        }
        let beforeSpaces = index
        index = skipSpaces(index)
        var separator: UInt8?
        if let separatorEnd = separatorEnd(at: index) {
            separator = bytes[index]
            index = skipSpaces(separatorEnd)
        } else if quoted, index < bytes.count, bytes[index] == UInt8(ascii: ",") {
            // A pair as a tuple or list: `('x-api-key', b'…')`, Node's `rawHeaders`.
            return pairedElement(after: index + 1)
        } else if dashes == 0 || index == beforeSpaces {
            return nil
        }
        guard index < bytes.count else { return nil }
        let insideQuote = enclosingQuote(at: name.lowerBound)
        if authorization, quote(at: index) == nil { return headerCredentials(from: index, insideQuote: insideQuote) }
        if dashes == 0, insideQuote == nil, let separator, startsLine(name.lowerBound), let rest = restOfLine(from: index, after: separator) {
            return rest
        }
        return value(at: index, insideQuote: insideQuote)
    }

    /// The value starting at `index`: a quoted one without its quotes, or a word. More of the word
    /// right after a closing quote (`"abc"def`, `''secret`, `"a"'b'c`) is the value too, as in a
    /// shell: then the whole word goes, quotes and all.
    func value(at index: Int, insideQuote: UInt8?) -> Range<Int>? {
        // A list (`"X-Auth-Token": ["…"]`, a header's values as JSON): all of it, up to its
        // bracket on the same line; only the bracket went.
        if bytes[index] == UInt8(ascii: "["), let close = listEnd(after: index), close > index + 1 {
            return index + 1..<close
        }
        // A percent-encoded quote (`token%3D%22…%22`, a value in a URL's query): up to the same
        // encoded quote on the line, or to the end of the word if none closes it.
        if let encoded = percentEscape(at: index), Self.isQuote(encoded) {
            let start = index + 3
            var end = start
            while end < bytes.count, percentEscape(at: end) != encoded, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            if end == bytes.count || bytes[end] == UInt8(ascii: "\n") {
                end = start
                while end < bytes.count, !Self.isSpace(bytes[end]) { end += 1 }
            }
            return start < end ? start..<end : nil
        }
        // A Python bytes or raw string (`b'…'`, `rb"…"`): its quoted part; the prefix stays.
        let prefix = Self.stringPrefixLength(bytes, at: index)
        if prefix > 0, let quoted = value(at: index + prefix, insideQuote: insideQuote) {
            // Quotes and all when more of the word follows (`f"x"tail` is a shell's word `fxtail`).
            return quoted.lowerBound == index + prefix ? index..<quoted.upperBound : quoted
        }
        guard let quote = quote(at: index) else { return word(from: index, insideQuote: insideQuote) }
        let start = index + quote.count
        let end = closing(quote, from: start)
        if let rest = word(from: min(end + quote.count, bytes.count), insideQuote: insideQuote, afterQuote: true) {
            return index..<rest.upperBound
        }
        return start < end ? start..<end : nil
    }

    /// The `]` that closes the list opened at `open`, on the same line, quoted elements skipped
    /// (`["a]b"]`). A credential list is short: the search stops after 256 bytes, so a line of
    /// `token=[` over and over costs no more than a line of words.
    func listEnd(after open: Int) -> Int? {
        var index = open + 1
        let limit = min(bytes.count, open + 257)
        var inQuote: UInt8?
        while index < limit {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") { return nil }
            if let quote = inQuote {
                if byte == UInt8(ascii: "\\") {
                    index += 2
                    continue
                }
                if byte == quote { inQuote = nil }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                inQuote = byte
            } else if byte == UInt8(ascii: "]") {
                return index
            }
            index += 1
        }
        return nil
    }

    /// The quote of the string `position` stands in, if any, counted from the start of the text
    /// as a shell would (a backslash escapes outside single quotes).
    mutating func enclosingQuote(at position: Int) -> UInt8? {
        var (index, open) = quotes
        defer { quotes = (index, open) }
        while index < position {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\"), open != UInt8(ascii: "'") {
                index += 2
                continue
            }
            if Self.isQuote(byte) {
                if open == nil {
                    open = byte
                } else if open == byte {
                    open = nil
                }
            }
            index += 1
        }
        return open
    }

    /// An `Authorization` value: its scheme stays if it is a known one; the rest of the value (it
    /// may hold spaces, commas and quotes: `Digest username="…", response="…"`) goes, up to the
    /// end of the line or of the string the header stands in (`-H "Authorization: …"`).
    func headerCredentials(from start: Int, insideQuote: UInt8?) -> Range<Int>? {
        var index = start
        while index < bytes.count, Self.isNameByte(bytes[index]) { index += 1 }
        let scheme = String(decoding: bytes[start..<index], as: UTF8.self).lowercased()
        if Self.authorizationSchemes.contains(scheme), index < bytes.count, bytes[index] == UInt8(ascii: " ") {
            index = skipSpaces(index)
        } else {
            index = start
        }
        let credentials = index
        while index < bytes.count, bytes[index] != UInt8(ascii: "\r"), bytes[index] != UInt8(ascii: "\n"), bytes[index] != insideQuote {
            // Inside a string, an escaped quote (`\"`) does not close it.
            index += bytes[index] == UInt8(ascii: "\\") && insideQuote != nil && insideQuote != UInt8(ascii: "'") ? 2 : 1
        }
        index = min(index, bytes.count)
        while index > credentials, bytes[index - 1] == UInt8(ascii: " ") { index -= 1 }
        return credentials < index ? credentials..<index : nil
    }

    /// Headers whose whole value is a credential.
    static let credentialHeaders = ["AUTHORIZATION", "PROXY-AUTHORIZATION", "COOKIE", "SET-COOKIE"]

    static let authorizationSchemes: Set<String> = [
        "basic", "bearer", "digest", "token", "negotiate", "ntlm", "dpop", "hoba", "mutual", "apikey", "aws4-hmac-sha256",
    ]

    /// An unquoted value. A quote right after some of it (or, `afterQuote`, right after the quoted
    /// part before it), other than the one that closes the string the name stands in
    /// (`insideQuote`), continues the word as in a shell: `TOKEN=abc"def"ghi` is one value, and
    /// goes whole.
    func word(from start: Int, insideQuote: UInt8? = nil, afterQuote: Bool = false) -> Range<Int>? {
        var index = start
        while index < bytes.count {
            if terminatorLength(at: index) == 0 || continuesWord(escapedQuoteAt: index, insideQuote: insideQuote) {
                // A backslash escapes the next byte, as in a shell: `abc\ def` and `abc\"def` are
                // one word (after a trailing backslash, `index` passes the end by one).
                index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
            } else if index > start || afterQuote, Self.isQuote(bytes[index]), bytes[index] != insideQuote {
                index = min(closing([bytes[index]], from: index + 1) + 1, bytes.count)
            } else {
                break
            }
        }
        index = min(index, bytes.count)
        return start < index ? start..<index : nil
    }

    /// Whether an escaped quote (`\"`) inside a word is a character of it, as a shell reads
    /// `abc\"def`, rather than the end of a string of escaped JSON (`\"x=abc\"}`, `\"x=abc\", …`):
    /// it is one unless a terminator other than a new quote, the string the name stands in, or
    /// the end of the text follows it.
    func continuesWord(escapedQuoteAt index: Int, insideQuote: UInt8?) -> Bool {
        guard bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count, Self.isQuote(bytes[index + 1]) else { return false }
        let next = index + 2
        guard next < bytes.count, bytes[next] != insideQuote else { return false }
        return Self.isQuote(bytes[next]) || terminatorLength(at: next) == 0
    }

    func nameEnd(from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            if Self.isNameByte(bytes[index]) {
                index += 1
            } else if let decoded = percentEscape(at: index), Self.isNameByte(decoded) {
                index += 3
            } else if let decoded = unicodeEscape(at: index), Self.isNameByte(decoded) {
                index += 6
            } else {
                break
            }
        }
        return index
    }

    func separatorEnd(at index: Int) -> Int? {
        guard index < bytes.count else { return nil }
        let next = index + 1 < bytes.count ? bytes[index + 1] : 0
        switch bytes[index] {
        case UInt8(ascii: "="):
            return next == UInt8(ascii: ">") ? index + 2 : index + 1
        case UInt8(ascii: ":"):
            if next == UInt8(ascii: "=") { return index + 2 }
            // `scheme://` and `a::b` are not a name and its value.
            let scheme = next == UInt8(ascii: "/") && index + 2 < bytes.count && bytes[index + 2] == UInt8(ascii: "/")
            if next == UInt8(ascii: ":") || scheme {
                return nil
            }
            return index + 1
        default:
            if let decoded = percentEscape(at: index), decoded == UInt8(ascii: "=") || decoded == UInt8(ascii: ":") { return index + 3 }
            return nil
        }
    }

    /// An opening or closing quote at `index`: `"`, `'`, or one escaped with a backslash.
    func quote(at index: Int) -> [UInt8]? {
        guard index < bytes.count else { return nil }
        let byte = bytes[index]
        if Self.isQuote(byte) { return [byte] }
        if byte == UInt8(ascii: "\\"), index + 1 < bytes.count, Self.isQuote(bytes[index + 1]) { return [byte, bytes[index + 1]] }
        return nil
    }

    /// Where the quoted value starting at `start` ends: its closing quote, or the end of the text
    /// (a value cut short is masked to the end).
    func closing(_ quote: [UInt8], from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            if quote.count == 1, quote[0] == UInt8(ascii: "\""), bytes[index] == UInt8(ascii: "\\") {
                index += 2
                continue
            }
            if bytes[index] == quote[0], quote.count == 1 || (index + 1 < bytes.count && bytes[index + 1] == quote[1]) {
                return index
            }
            index += 1
        }
        return bytes.count
    }

    /// How many bytes end an unquoted value here: a space, a delimiter between pairs, a quote,
    /// a closing bracket, an escaped quote, or the percent-encoding of one of them; 0 for none.
    func terminatorLength(at index: Int) -> Int {
        let byte = bytes[index]
        if Self.isTerminator(byte) { return 1 }
        if byte == UInt8(ascii: "\\"), index + 1 < bytes.count, Self.isQuote(bytes[index + 1]) { return 2 }
        if let decoded = percentEscape(at: index), Self.isTerminator(decoded) { return 3 }
        return 0
    }

    /// `KeyError: 'room'`, `jwt.exceptions.InvalidTokenError: Signature has expired`: in a
    /// traceback, an exception's class names what went wrong, and what follows it is a message,
    /// not a secret. Only a class's name counts (its last dotted part capitalised, in camel case,
    /// without `_` or `-`, ending in `Error` or `Exception`), followed by `: ` as a traceback
    /// writes it: `SECRET_KEY_ERROR=…`, `"tokenError": …` or `SecretKeyError=…` name secrets.
    func isExceptionName(_ name: Range<Int>) -> Bool {
        let colon = name.upperBound
        guard colon < bytes.count, bytes[colon] == UInt8(ascii: ":"), colon + 1 == bytes.count || bytes[colon + 1] == UInt8(ascii: " ")
        else { return false }
        let dot = bytes[name].lastIndex(of: UInt8(ascii: ".")).map { $0 + 1 } ?? name.lowerBound
        let className = bytes[dot..<name.upperBound]
        guard let first = className.first, first >= UInt8(ascii: "A"), first <= UInt8(ascii: "Z"),
            className.allSatisfy({ Self.isLetter($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }),
            className.contains(where: { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") })
        else { return false }
        return ["Error", "Exception", "Interrupt", "Warning"].contains { suffix in
            className.count > suffix.utf8.count && className.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
        }
    }
}
