/// Where a variable starts its line (an environment's or a configuration's dump) or stands in a
/// pair (a tuple, a header list), its value runs otherwise than a word does.
extension SecretScanner {
    /// The string after a secret's quoted name and a comma, unless it names a secret itself (a
    /// list of names: `['OPENAI_API_KEY', 'DEEPGRAM_API_KEY']`).
    func pairedElement(after comma: Int) -> Range<Int>? {
        let start = skipSpaces(comma)
        guard start < bytes.count else { return nil }
        let opening = start + Self.stringPrefixLength(bytes, at: start)
        guard opening < bytes.count, Self.isQuote(bytes[opening]) else { return nil }
        let end = closing([bytes[opening]], from: opening + 1)
        let element = bytes[(opening + 1)..<end]
        if element.allSatisfy(Self.isNameByte), redactor.isSecret(uppercased: element.map { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") ? $0 - 0x20 : $0 }) {
            return nil
        }
        return element.isEmpty ? nil : element.startIndex..<element.endIndex
    }

    /// Whether `position` starts its line, after spaces and an `export `: where an environment's
    /// dump (`NAME=value`) or a configuration's (`name: value`) puts a variable.
    func startsLine(_ position: Int) -> Bool {
        var index = position
        while index > 0, bytes[index - 1] == UInt8(ascii: " ") || bytes[index - 1] == UInt8(ascii: "\t") { index -= 1 }
        if index < position, index >= 6, bytes[(index - 6)..<index].elementsEqual("export".utf8) {
            index -= 6
            while index > 0, bytes[index - 1] == UInt8(ascii: " ") || bytes[index - 1] == UInt8(ascii: "\t") { index -= 1 }
        }
        return index == 0 || bytes[index - 1] == UInt8(ascii: "\n")
    }

    /// An unquoted value of a variable that starts its line: it is all of the line after a `:`
    /// (`password: correct horse battery staple`), all of the word after a `=` whatever it holds
    /// (`DB_PASSWORD=Xy7&k9)Lp`; a space still ends it, as in `TOKEN=x python agent.py`, and so
    /// does a delimiter before the next pair, as in `API_KEY=x,MODE=fast`).
    func restOfLine(from start: Int, after separator: UInt8) -> Range<Int>? {
        guard quote(at: start) == nil, bytes[start] != UInt8(ascii: "["), percentEscape(at: start) == nil,
            Self.stringPrefixLength(bytes, at: start) == 0
        else { return nil }
        var end = start
        if separator == UInt8(ascii: ":") {
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            while end > start, Self.isSpace(bytes[end - 1]) { end -= 1 }
        } else {
            // Quotes and backslashes join the parts of the word, as in a shell (`Xy7'k9 tail'`).
            while end < bytes.count, !Self.isSpace(bytes[end]), !startsPair(afterDelimiterAt: end) {
                if bytes[end] == UInt8(ascii: "\\") {
                    end += 2
                } else if Self.isQuote(bytes[end]) {
                    end = closing([bytes[end]], from: end + 1) + 1
                } else {
                    end += 1
                }
            }
            end = min(end, bytes.count)
        }
        return start < end ? start..<end : nil
    }

    /// Whether a delimiter between pairs (`&`, `;`, `,`) stands at `index` with a `name=` after it.
    func startsPair(afterDelimiterAt index: Int) -> Bool {
        guard [UInt8(ascii: "&"), UInt8(ascii: ";"), UInt8(ascii: ",")].contains(bytes[index]) else { return false }
        let end = nameEnd(from: index + 1)
        return end > index + 1 && end < bytes.count && bytes[end] == UInt8(ascii: "=")
    }
}
