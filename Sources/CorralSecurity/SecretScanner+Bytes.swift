/// The bytes a scan tells apart: names, quotes, spaces, terminators, and the escapes (`%3D`,
/// `\u0077`, a Python string's prefix) a name or a value may be written with.
extension SecretScanner {
    /// The length of a Python string's prefix at `index` (`b'`, `rb"`, `f'`), 0 if none.
    static func stringPrefixLength(_ bytes: [UInt8], at index: Int) -> Int {
        let letters = "bBrRuUfF".utf8
        var length = 0
        while length < 2, index + length < bytes.count, letters.contains(bytes[index + length]) { length += 1 }
        return length > 0 && index + length < bytes.count && (bytes[index + length] == UInt8(ascii: "'") || bytes[index + length] == UInt8(ascii: "\"")) ? length : 0
    }

    func skipSpaces(_ start: Int) -> Int {
        var index = start
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
        return index
    }

    func percentEscape(at index: Int) -> UInt8? {
        Self.percentEscape(in: bytes, at: index)
    }

    func unicodeEscape(at index: Int) -> UInt8? {
        Self.unicodeEscape(in: bytes, at: index)
    }

    static func percentEscape<Bytes: RandomAccessCollection<UInt8>>(in bytes: Bytes, at index: Int) -> UInt8? where Bytes.Index == Int {
        guard bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.endIndex,
            let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
        else { return nil }
        return high << 4 | low
    }

    /// JSON's escape of an ASCII character (`\u0077`), which a name written by a JSON encoder
    /// may hold (`"pass\u0077ord"`).
    static func unicodeEscape<Bytes: RandomAccessCollection<UInt8>>(in bytes: Bytes, at index: Int) -> UInt8? where Bytes.Index == Int {
        guard bytes[index] == UInt8(ascii: "\\"), index + 5 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "u"),
            bytes[index + 2] == UInt8(ascii: "0"), bytes[index + 3] == UInt8(ascii: "0"),
            let high = hexValue(bytes[index + 4]), let low = hexValue(bytes[index + 5]), high < 8
        else { return nil }
        return high << 4 | low
    }

    /// A name as its writer meant it: percent-escapes (`api%5Fkey`) and JSON's escapes of ASCII
    /// (`pass\u0077ord`) decoded.
    static func decodedName(_ name: ArraySlice<UInt8>) -> [UInt8] {
        var decoded: [UInt8] = []
        var index = name.startIndex
        while index < name.endIndex {
            if let byte = percentEscape(in: name, at: index) {
                decoded.append(byte)
                index += 3
            } else if let byte = unicodeEscape(in: name, at: index) {
                decoded.append(byte)
                index += 6
            } else {
                decoded.append(name[index])
                index += 1
            }
        }
        return decoded
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: ".")
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
    }

    static func isQuote(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "`")
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
    }

    static func isTerminator(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"), UInt8(ascii: "&"), UInt8(ascii: ";"),
            UInt8(ascii: ","), UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "<"), UInt8(ascii: ">"),
            UInt8(ascii: "|"):
            true
        default: isQuote(byte)
        }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
