import Hummingbird
import NIOCore

/// A request's body, whole, up to a limit. A `Content-Length` over the limit is refused before a
/// byte is read (a 99999999999-byte declaration waited for the request deadline); a body that
/// grows past it while it arrives is refused then; one whose framing breaks (a chunk size that
/// is not hexadecimal) is a 400, not "too large".
enum RequestBodyReader {
    static func collect(_ request: Request, limit: Int, what: String) async throws(APIError) -> ByteBuffer {
        let tooLarge = APIError(.contentTooLarge, "\(what) is larger than \(limit / 1024) KiB")
        if let declared = request.headers[.contentLength], let length = Int(declared), length > limit { throw tooLarge }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch {
            throw APIError(.badRequest, "\(what) could not be read: \(error)")
        }
    }
}
