import Crypto
import Foundation

/// JSON Web Tokens signed with HMAC-SHA256 (HS256), the kind LiveKit uses for access tokens and
/// webhooks, and LiveKit server for the tokens it checks. The MAC is swift-crypto's; this type only
/// frames it.
public enum JWT {
    public enum Failure: Error, CustomStringConvertible, Sendable {
        case malformed
        case wrongAlgorithm(String)
        case badSignature
        case expired
        case notYetValid
        case wrongIssuer

        public var description: String {
            switch self {
            case .malformed: "the token is not a JWT"
            case .wrongAlgorithm(let algorithm): "the token is signed with \(algorithm), not HS256"
            case .badSignature: "the token's signature does not match"
            case .expired: "the token has expired"
            case .notYetValid: "the token is not valid yet"
            case .wrongIssuer: "the token was issued by another key"
            }
        }
    }

    /// Clock skew allowed on `exp` and `nbf`.
    public static let leeway: TimeInterval = 60

    public static func sign(_ claims: [String: Any], secret: String) -> String {
        let header = base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = base64URL((try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])) ?? Data("{}".utf8))
        let input = header + "." + payload
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + base64URL(Data(mac))
    }

    /// The claims of a token signed with `secret` by `issuer`, checked for expiry with `leeway`.
    public static func verify(_ token: String, secret: String, issuer: String, leeway: TimeInterval = JWT.leeway, now: Date = Date()) throws(Failure) -> [String: Any] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = decodeBase64URL(parts[0]), let payloadData = decodeBase64URL(parts[1]),
            let signature = decodeBase64URL(parts[2]),
            let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any],
            let claims = (try? JSONSerialization.jsonObject(with: payloadData)) as? [String: Any]
        else { throw .malformed }
        guard header["alg"] as? String == "HS256" else { throw .wrongAlgorithm(header["alg"] as? String ?? "nothing") }
        let input = Data((parts[0] + "." + parts[1]).utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: SymmetricKey(data: Data(secret.utf8))) else {
            throw .badSignature
        }
        guard claims["iss"] as? String == issuer else { throw .wrongIssuer }
        guard let expiry = number(claims["exp"]) else { throw .malformed }
        guard now.timeIntervalSince1970 <= expiry + leeway else { throw .expired }
        if let notBefore = number(claims["nbf"]), now.timeIntervalSince1970 + leeway < notBefore { throw .notYetValid }
        return claims
    }

    /// A numeric claim (`exp`, `nbf`, `iat`) as seconds since 1970.
    public static func number(_ value: Any?) -> Double? {
        (value as? Double) ?? (value as? Int).map(Double.init) ?? (value as? NSNumber)?.doubleValue
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
