import CorralPlatform
import CorralSecurity
import Crypto
import RedisClient

/// Whether Redis lost this node's records: the mark of its writes (gone: everything was lost), and
/// the look at the records themselves (some evicted, restored from an older copy, written over).
extension RedisStore {
    /// The mark of a node's writes. It expires a while after the node last looked (a node gone
    /// for good leaves nothing for ever); a node back after longer writes its records again.
    package static func writesMark(_ node: String) -> String { "corral:node:\(node):writes" }

    static let markScript = """
        if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 1 end
        redis.call('EXPIRE', KEYS[1], ARGV[1])
        return 0
        """

    public func lostWrites(of node: String, markedFor seconds: Int) async throws(CorralError) -> Bool {
        let answer = try await run("check the mark of \(node)'s writes") { () throws(RedisError) in
            try await client.send(["EVAL", Self.markScript, "1", Self.writesMark(node), String(seconds)])
        }
        return answer.integer == 1
    }

    /// For the records whose keys are KEYS[2...] (ARGV: their ids, their signatures, their
    /// digests or '' for those not looked at in full this time, then the field names), two lists
    /// of positions (1-based): those whose hash is gone or which the index (KEYS[1]) no longer
    /// lists (`allRecords` would not return them), and those whose hash is not the one last
    /// written: its signature differs, or, where a digest is given, any field (one written over
    /// without the secret leaves the signature as it was).
    static let missingScript = digestFunction + "\n" + """
        local missing, differing = {}, {}
        local count = #KEYS - 1
        local names = {}
        for j = 3 * count + 1, #ARGV do names[#names + 1] = ARGV[j] end
        for i = 1, count do
            if redis.call('EXISTS', KEYS[i + 1]) == 0 or redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then
                missing[#missing + 1] = i
            elseif redis.call('HGET', KEYS[i + 1], 'mac') ~= ARGV[count + i]
                or (ARGV[2 * count + i] ~= '' and digest(KEYS[i + 1], names) ~= ARGV[2 * count + i]) then
                differing[#differing + 1] = i
            end
        end
        return {missing, differing}
        """

    /// `digest(key, names)` in a script: what `digest(_:)` computes, of the hash Redis holds at
    /// `key`, for the field names `digestedFields`. No sorting: a script's string order follows
    /// Redis's locale.
    package static let digestFunction = """
        local function digest(key, names)
            local values, text = redis.call('HMGET', key, unpack(names)), {}
            for j, name in ipairs(names) do
                local value = values[j]
                if value then
                    text[#text + 1] = #name .. ':' .. name .. #value .. ':' .. value
                else
                    text[#text + 1] = #name .. '-' .. name
                end
            end
            text[#text + 1] = '#' .. redis.call('HLEN', key)
            return redis.sha1hex(table.concat(text))
        end
        """

    /// The fields a record's hash may have, in the order its digest takes them.
    package static let digestedFields = SessionRecord.fields.map(\.redisKey) + [signatureField]

    /// What `missingScript` computes of a hash, from its fields and values as `HSET` takes them:
    /// SHA-1 (Redis scripts have no other) of each of `digestedFields`, length-prefixed (or
    /// marked absent), then how many fields it has. Not a signature: the cluster secret's is
    /// `mac`, one of the fields.
    package static func digest(_ fields: [String]) -> String {
        var values: [String: String] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) { values[fields[index]] = fields[index + 1] }
        var text = ""
        for name in digestedFields {
            if let value = values[name] {
                text += "\(name.utf8.count):\(name)\(value.utf8.count):\(value)"
            } else {
                text += "\(name.utf8.count)-\(name)"
            }
        }
        text += "#\(values.count)"
        return Hex.string(Insecure.SHA1.hash(data: Array(text.utf8)))
    }

    /// What a record's hash is expected to hold: its signature, and the digest of the whole.
    struct Expected: Sendable {
        let mac: String
        let digest: String

        init(_ fields: [String]) {
            mac = fields.last ?? ""
            digest = RedisStore.digest(fields)
        }
    }

    /// How many records have their whole hash compared at each look: the others only their
    /// signature (a digest in the script is about 60 µs a record; all of 10,000 at every beat
    /// would be most of a Redis core).
    static let digestsPerLook = 500

    public func missingRecords(_ records: [SessionRecord]) async throws(CorralError) -> [SessionID] {
        var missing: [SessionID] = []
        var differing: [SessionRecord] = []
        var confirmed: [SessionID: Expected] = [:]
        // Each record has its whole hash compared at one look in `slices`, in turn.
        let turn = looks.withLock { count in
            defer { count &+= 1 }
            return count
        }
        let slices = UInt64(max(1, (records.count + Self.digestsPerLook - 1) / Self.digestsPerLook))
        // A script runs alone on the server: a thousand records at a time keeps each run short.
        for start in stride(from: 0, to: records.count, by: 1000) {
            let batch = Array(records[start..<min(start + 1000, records.count)])
            let keys = [Self.index] + batch.map { Self.sessionKey($0.id) }
            // A record adopted, or one whose signature was dropped, is signed once; found as
            // signed, what is expected of it is kept.
            let known = signatures.withLock { known in batch.map { known[$0.id] } }
            let expected = zip(batch, known).map { record, expected in expected ?? Expected(signedFields(record)) }
            let digests = zip(batch, expected).map { record, expected in Self.slice(of: record.id, among: slices) == turn % slices ? expected.digest : "" }
            var command: [String] = ["EVAL", Self.missingScript, String(keys.count)]
            command += keys
            command += batch.map(\.id.rawValue)
            command += expected.map(\.mac)
            command += digests
            command += Self.digestedFields
            let answer = try await run("look for \(batch.count) records") { () throws(RedisError) in try await client.send(command) }
            func positions(_ list: RESPValue?) -> [Int] {
                (list?.array ?? []).compactMap { $0.integer.map { Int($0) - 1 } }.filter(batch.indices.contains)
            }
            let gone = positions(answer.array?.first)
            let other = positions(answer.array?.dropFirst().first)
            missing += gone.map { batch[$0].id }
            differing += other.map { batch[$0] }
            for index in Set(batch.indices).subtracting(gone).subtracting(other) where known[index] == nil {
                confirmed[batch[index].id] = expected[index]
            }
        }
        // Not the hash last written: one written without the cluster secret (read as nothing) is
        // as good as gone; another node's (its start of a lost id) stays its own; this node's own
        // is written again unless it reads as the record given. That one is taken as it is the
        // first time (a write of it landed while the look ran), and written again the next
        // (kept in another form, an older encoding or its signature in capitals: left, it would
        // differ at every look).
        var stillSettling: Set<SessionID> = []
        for (record, stored) in zip(differing, try await stored(differing.map(\.id))) {
            switch stored {
            case .missing, .unverified: missing.append(record.id)
            case .verified(let stored):
                guard stored.node == nil || stored.node == node else { continue }
                if stored == record, !settling.withLock({ $0.contains(record.id) }) {
                    confirmed[record.id] = Expected(signedFields(record))
                    stillSettling.insert(record.id)
                } else {
                    missing.append(record.id)
                }
            }
        }
        settling.withLock { $0 = stillSettling }
        // Only the given records' signatures are kept: one of a session gone, or refused as
        // another node's, goes.
        let given = Set(records.map(\.id))
        signatures.withLock { known in
            known = known.filter { given.contains($0.key) }.merging(confirmed) { current, _ in current }
        }
        return missing
    }

    /// Which of `slices` looks compares the whole of `id`'s hash: the same one from look to look
    /// (FNV-1a of the id).
    static func slice(of id: SessionID, among slices: UInt64) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.rawValue.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return hash % slices
    }
}
