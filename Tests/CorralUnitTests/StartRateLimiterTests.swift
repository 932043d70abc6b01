import HTTPTypes
import Testing

@testable import CorralServer

@Suite("Session starts per token")
struct StartRateLimiterTests {
    /// Each token has its own bucket of twice the rate; past it, 429 with the wait in Retry-After.
    @Test func aTokenPastItsBurstWaits() throws {
        let limiter = StartRateLimiter(perSecond: 2)
        for _ in 0..<4 { try limiter.admit("a") }
        let refused = #expect(throws: APIError.self) { try limiter.admit("a") }
        #expect(refused?.status == .tooManyRequests)
        #expect(refused?.headers[.retryAfter] == "1")
        try limiter.admit("b")
    }

    /// A rate near zero (the key takes any number above 0) made the wait too large for an Int,
    /// which stopped corral with a crash at the second start; Retry-After now says a day at most.
    @Test func aRateNearZeroAsksForADayAtMost() throws {
        let limiter = StartRateLimiter(perSecond: 1e-300)
        try limiter.admit("a")
        let refused = #expect(throws: APIError.self) { try limiter.admit("a") }
        #expect(refused?.headers[.retryAfter] == "86400")
    }
}
