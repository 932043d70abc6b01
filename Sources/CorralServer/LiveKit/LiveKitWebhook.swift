import CorralCore
import Crypto
import Foundation
import Hummingbird
import LiveKitWorkerProtocol
import Logging

/// `POST /api/livekit/webhook`: LiveKit's webhooks, authenticated the way LiveKit signs them (the
/// `Authorization` header is an HS256 JWT issued by the API key, whose `sha256` claim is the
/// base64 SHA-256 of the raw body), not by corral's API token.
/// - `room_finished` ends every session bound to the room;
/// - `participant_left` for an agent's own identity ends its session;
/// - `room_started` starts a session of `auto_dispatch_agent` for the room, if configured.
/// A duplicate delivery changes nothing: ends are idempotent, and a room has at most
/// `sessions_per_room` sessions of a profile.
struct LiveKitWebhook: Sendable {
    typealias Context = CorralRequestContext

    let configuration: LiveKitConfiguration?
    let supervisor: Supervisor
    let audit: AuditLog
    let logger: Logger

    func register(on router: Router<Context>, catalog: RouteCatalog) {
        router.on(.post, "api/livekit/webhook", fullPath: "/api/livekit/webhook", catalog: catalog, use: receive)
    }

    @Sendable func receive(_ request: Request, context: Context) async throws -> Response {
        guard let configuration else { throw APIError(.notFound, "LiveKit is not configured (livekit in the configuration)") }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 1 << 20)
        } catch {
            throw APIError(.contentTooLarge, "the webhook body is larger than 1 MiB")
        }
        let bytes = Array(body.readableBytesView)
        try verify(request, bytes, configuration, context)

        guard case .object(let event)? = JSONValue.parse(bytes), case .string(let kind)? = event["event"] else {
            throw APIError(.badRequest, "the webhook body is not a LiveKit event")
        }
        let room = event["room"].flatMap { if case .object(let room) = $0, case .string(let name)? = room["name"] { name } else { nil } }
        let identity = event["participant"].flatMap {
            if case .object(let participant) = $0, case .string(let identity)? = participant["identity"] { identity } else { nil }
        }
        var result: [String: JSONValue] = ["event": .string(kind)]
        switch kind {
        case "room_finished":
            guard let room else { break }
            let ids = await supervisor.sessions(inRoom: room)
            end(ids, reason: .roomFinished)
            result["ended"] = .array(ids.map { .string($0.rawValue) })
        case "participant_left":
            guard let room, let identity, let id = await supervisor.session(inRoom: room, identity: identity) else { break }
            end([id], reason: .participantLeft)
            result["ended"] = .array([.string(id.rawValue)])
        case "room_started":
            guard let room, let agent = configuration.autoDispatchAgent else { break }
            do throws(CorralError) {
                let record = try await supervisor.start(StartRequest(agent: agent, livekitRoom: room))
                result["started"] = .string(record.id.rawValue)
            } catch {
                guard error.code == .conflict else { throw error }
                result["started"] = .null  // already served: a duplicate delivery
            }
        default:
            break
        }
        logger.info("LiveKit webhook", metadata: ["event": "\(kind)", "room": "\(room ?? "-")"])
        return JSONBody.response(result)
    }

    /// Ends sessions without holding up LiveKit's request: it retries slow webhooks.
    private func end(_ ids: [SessionID], reason: EndReason) {
        for id in ids {
            Task { [supervisor] in _ = try? await supervisor.end(id, reason: reason) }
        }
    }

    private func verify(_ request: Request, _ body: [UInt8], _ configuration: LiveKitConfiguration, _ context: Context) throws {
        func refuse(_ why: String) -> APIError {
            logger.warning("LiveKit webhook refused", metadata: ["reason": "\(why)", "address": "\(context.remoteAddress ?? "-")"])
            audit.record(.init(who: "livekit", role: nil, action: "webhook", session: nil, address: context.remoteAddress, result: 401))
            return APIError(.unauthorized, "LiveKit webhook refused: \(why)")
        }
        guard var token = request.headers[.authorization], !token.isEmpty else { throw refuse("no Authorization header") }
        if token.lowercased().hasPrefix("bearer ") { token = String(token.dropFirst(7)) }
        let claims: [String: Any]
        do {
            claims = try JWT.verify(token, secret: configuration.apiSecret, issuer: configuration.apiKey)
        } catch {
            throw refuse(error.description)
        }
        guard let claimed = claims["sha256"] as? String, let digest = Data(base64Encoded: claimed) else {
            throw refuse("the token has no sha256 claim")
        }
        guard digest == Data(SHA256.hash(data: body)) else { throw refuse("the body does not match the signed sha256") }
    }
}
