import CorralPlatform
import Foundation
import RedisClient

/// The delivery ledger in Redis: a key `corral:delivery:{id}` per delivery, set with `NX` (the
/// claim, atomic between nodes) and `EX` (Redis removes it when its time has passed).
extension RedisStore: DeliveryLedger {
    static func deliveryKey(_ id: String) -> String { "corral:delivery:\(id)" }

    public func claim(_ id: String, until: Date, now: Date) async throws(CorralError) -> Bool {
        // At most ten years: a time from a signed token far in the future must not overflow.
        let seconds = Int(min(max(1, until.timeIntervalSince(now).rounded(.up)), 315_360_000))
        let answer = try await run("record the delivery \(id)") { () throws(RedisError) in
            try await client.send(["SET", Self.deliveryKey(id), String(until.timeIntervalSince1970), "NX", "EX", String(seconds)])
        }
        return !answer.isNull
    }

    public func release(_ id: String) async throws(CorralError) {
        _ = try await run("forget the delivery \(id)") { () throws(RedisError) in try await client.send(["DEL", Self.deliveryKey(id)]) }
    }
}
