import CorralCore
import CorralPlatform
import CorralSecurity
import Crypto
import Foundation
import Hummingbird
import LiveKitWorkerProtocol
import Logging
import CorralConfiguration
import CorralStore

/// `POST /api/livekit/webhook`: LiveKit's webhooks, authenticated the way LiveKit signs them (the
/// `Authorization` header is an HS256 JWT issued by the API key, whose `sha256` claim is the
/// base64 SHA-256 of the raw body), not by corral's API token.
/// - `room_finished` ends every session bound to the room;
/// - `participant_left` for an agent's own identity, in its own room, ends its session;
/// - `room_started` starts a session of `auto_dispatch_agent` for the room, if configured.
/// An event this node has acted on is not acted on again (a retry, or a replay of a captured
/// delivery, also after a restart): it is answered 200 and logged, and so is an event created
/// longer ago than any signature corral accepts (`WebhookReplayGuard`); while the store cannot
/// record that an event is acted on, none is (503, and LiveKit tries again). Declared in
/// `Routes.livekit`: its origin and media type (`application/webhook+json`, never from a
/// browser) are checked before this runs.
struct LiveKitWebhook: Sendable {
    typealias Context = CorralRequestContext

    /// LiveKit's events are a few KiB.
    static let maxBodyBytes = 64 * 1024

    let configuration: LiveKitConfiguration?
    let supervisor: Supervisor
    let audit: AuditLog
    /// Taken once the signature checks out, while the body is read and acted on.
    let slots: RequestSlots
    let logger: Logger
    let replays: WebhookReplayGuard

    @Sendable func receive(_ request: Request, context: Context) async throws -> Response {
        guard let configuration else { throw APIError(.notFound, "LiveKit is not configured (livekit in the configuration)") }
        // The signature, issuer and expiry are in the header: a stranger is refused before a
        // request slot is taken or a byte of the body is read.
        let token = try verifyToken(request, configuration, context)
        return try await slots.withSlot {
            let body = try await RequestBodyReader.collect(request, limit: Self.maxBodyBytes, what: "the webhook body")
            let bytes = Array(body.readableBytesView)
            guard token.sha256 == Data(SHA256.hash(data: bytes)) else { throw refuse("the body does not match the signed sha256", context) }
            guard let event = LiveKitEvent(bytes) else { throw APIError(.badRequest, "the webhook body is not a LiveKit event") }
            return try await handle(event, tokenExpiry: token.expiry, configuration)
        }
    }

    private func handle(_ event: LiveKitEvent, tokenExpiry: Date?, _ configuration: LiveKitConfiguration) async throws -> Response {
        let metadata: Logger.Metadata = ["event": "\(event.kind)", "id": "\(event.id ?? "-")", "room": "\(event.room ?? "-")"]
        let verdict: WebhookReplayGuard.Verdict
        do {
            verdict = try await replays.admit(event, tokenExpiry: tokenExpiry)
        } catch {
            logger.warning("LiveKit webhook not acted on: the store cannot record it", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            throw APIError(.serviceUnavailable, "the webhook was not acted on: \(error.description)")
        }
        switch verdict {
        case .fresh: break
        case .repeated:
            logger.info("LiveKit webhook already acted on; nothing done", metadata: metadata)
            return JSONBody.response(["event": .string(event.kind), "ignored": .string("already acted on")] as [String: JSONValue])
        case .tooOld:
            logger.warning("LiveKit webhook created too long ago; nothing done", metadata: metadata)
            return JSONBody.response(["event": .string(event.kind), "ignored": .string("created too long ago")] as [String: JSONValue])
        }
        do {
            let result = try await act(on: event, configuration)
            logger.info("LiveKit webhook", metadata: metadata)
            return JSONBody.response(result)
        } catch {
            if let id = event.id {
                do {
                    try await replays.forget(id)
                } catch {
                    logger.warning("LiveKit webhook failed, and the store could not forget it: a retry will be ignored", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                }
            }
            throw error
        }
    }

    private func act(on event: LiveKitEvent, _ configuration: LiveKitConfiguration) async throws -> [String: JSONValue] {
        var result: [String: JSONValue] = ["event": .string(event.kind)]
        switch event.kind {
        case "room_finished":
            guard let room = event.room else { break }
            let ids = await supervisor.sessions(inRoom: room)
            end(ids, reason: .roomFinished)
            result["ended"] = .array(ids.map { .string($0.rawValue) })
        case "participant_left":
            // An identity is only unique within its room: another room's agent may share it.
            guard let room = event.room, let identity = event.participantIdentity else { break }
            let ids = await supervisor.session(inRoom: room, identity: identity).map { [$0] } ?? []
            end(ids, reason: .participantLeft)
            result["ended"] = .array(ids.map { .string($0.rawValue) })
        case "room_started":
            guard let room = event.room, let agent = configuration.autoDispatchAgent else { break }
            do throws(CorralError) {
                let record = try await supervisor.start(StartRequest(agent: agent, livekitRoom: room))
                result["started"] = .string(record.id.rawValue)
            } catch {
                guard error.code == .conflict else { throw error }
                result["started"] = .null  // the room is served already
            }
        default:
            break
        }
        return result
    }

    /// Ends sessions without holding up LiveKit's request: it retries slow webhooks.
    private func end(_ ids: [SessionID], reason: EndReason) {
        for id in ids {
            Task { [supervisor] in _ = try? await supervisor.end(id, reason: reason) }
        }
    }

    private func refuse(_ why: String, _ context: Context) -> APIError {
        logger.warning("LiveKit webhook refused", metadata: ["reason": "\(why)", "address": "\(context.remoteAddress ?? "-")"])
        audit.refused(who: "livekit", action: "webhook", address: context.remoteHost, result: 401)
        return APIError(.unauthorized, "LiveKit webhook refused: \(why)")
    }

    /// LiveKit's token from the header, checked for signature, issuer and expiry: what it says
    /// the body's digest is, and when it expires.
    private func verifyToken(_ request: Request, _ configuration: LiveKitConfiguration, _ context: Context) throws(APIError) -> (sha256: Data, expiry: Date?) {
        guard var token = request.headers[.authorization], !token.isEmpty else { throw refuse("no Authorization header", context) }
        if token.lowercased().hasPrefix("bearer ") { token = String(token.dropFirst(7)) }
        let claims: [String: Any]
        do {
            claims = try JWT.verify(token, secret: configuration.apiSecret, issuer: configuration.apiKey)
        } catch {
            throw refuse(error.description, context)
        }
        guard let claimed = claims["sha256"] as? String, let digest = Data(base64Encoded: claimed) else {
            throw refuse("the token has no sha256 claim", context)
        }
        return (digest, JWT.number(claims["exp"]).map { Date(timeIntervalSince1970: $0) })
    }
}
