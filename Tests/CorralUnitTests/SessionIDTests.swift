import CorralCore
import CorralPlatform
import Testing

@Suite("Session ids")
struct SessionIDTests {
    @Test(arguments: ["a", "call-42", "A.b_c-9", "0", String(repeating: "x", count: 128)])
    func valid(_ text: String) {
        #expect(SessionID(text)?.rawValue == text)
    }

    @Test(arguments: ["", ".", "..", "../etc", "a/b", "-a", "_a", ".hidden", "a b", "ü", "a\0b", "a\n", String(repeating: "x", count: 129)])
    func invalid(_ text: String) {
        #expect(SessionID(text) == nil)
    }

    @Test func generatedIDsAreValidAndDistinct() {
        let ids = (0..<200).map { _ in SessionID.generate() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(id.rawValue.wholeMatch(of: /session_[0-9]{13}_[a-z0-9]{9}/) != nil)
        }
    }
}
