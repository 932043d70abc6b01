import Foundation

/// The token a worker presents at `<url>/agent`: HS256 with the API secret, issued by the API key,
/// with LiveKit's `video.agent` grant (LiveKit server answers 401 without it). A fresh one for
/// every connect, so a long-lived worker never presents an expired token.
public enum WorkerToken {
    /// How long a token is valid: it is only checked at the upgrade, so minutes are plenty.
    public static let lifetime: TimeInterval = 600

    public static func make(apiKey: String, apiSecret: String, now: Date = Date()) -> String {
        let issuedAt = Int(now.timeIntervalSince1970)
        let claims: [String: Any] = [
            "iss": apiKey,
            // A little before now: a LiveKit server whose clock is a few seconds behind ours
            // would refuse a token that is not valid yet.
            "nbf": issuedAt - 10,
            "exp": issuedAt + Int(lifetime),
            "video": ["agent": true],
        ]
        return JWT.sign(claims, secret: apiSecret)
    }
}
