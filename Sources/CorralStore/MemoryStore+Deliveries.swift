import Foundation

/// The delivery ledger of `store: memory`: gone with the process, like the records.
extension MemoryStore: DeliveryLedger {
    public func claim(_ id: String, until: Date, now: Date) -> Bool {
        // Expired ids go at the next claim: a webhook's rate keeps this small.
        deliveries = deliveries.filter { $0.value > now.timeIntervalSince1970 }
        guard deliveries[id] == nil else { return false }
        deliveries[id] = until.timeIntervalSince1970
        return true
    }

    public func release(_ id: String) {
        deliveries[id] = nil
    }
}
