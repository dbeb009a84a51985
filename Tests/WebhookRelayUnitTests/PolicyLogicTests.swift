import Foundation
import Testing
@testable import WebhookRelay

/// Circuit breaker, health score, rate limit, Retry-After and retry planning: no broker, no network.
struct CircuitBreakerTests {
    let configuration = CircuitBreaker.Configuration(failureThreshold: 5, openDuration: .seconds(600), successesToClose: 2)

    @Test func opensAfterFiveConsecutiveFailuresAndHealthFollowsTheFormula() {
        var circuit = CircuitBreaker(configuration: configuration)
        #expect(circuit.healthScore == 100)
        var scores: [Int] = []
        for _ in 0..<4 {
            #expect(circuit.admit(now: 0) == .attempt)
            circuit.record(success: false, probe: false, now: 0)
            scores.append(circuit.healthScore)
        }
        #expect(scores == [90, 80, 70, 60])
        circuit.record(success: true, probe: false, now: 0)
        #expect(circuit.healthScore == 100, "a success resets the count")
        for _ in 0..<5 { circuit.record(success: false, probe: false, now: 1_000) }
        #expect(circuit.state == .open(until: 601_000))
        #expect(circuit.healthScore == 0)
        #expect(circuit.admit(now: 2_000) == .wait(.milliseconds(599_000)))
    }

    @Test func closedScoreNeverDropsBelowTen() {
        var circuit = CircuitBreaker(configuration: .init(failureThreshold: 50))
        for _ in 0..<20 { circuit.record(success: false, probe: false, now: 0) }
        #expect(circuit.healthScore == 10)
    }

    @Test func halfOpenAdmitsExactlyOneProbeAtATime() {
        var circuit = CircuitBreaker(configuration: configuration)
        for _ in 0..<5 { circuit.record(success: false, probe: false, now: 0) }
        #expect(circuit.admit(now: 600_000) == .probe)
        #expect(circuit.healthScore == 30)
        #expect(circuit.admit(now: 600_001) == .wait(.seconds(1)), "a second probe waits for the first")
        circuit.record(success: true, probe: true, now: 600_100)
        #expect(circuit.state == .halfOpen(successes: 1, probeInFlight: false))
        #expect(circuit.admit(now: 600_200) == .probe)
        // A late failure of an attempt admitted before the circuit opened changes nothing.
        circuit.record(success: false, probe: false, now: 600_250)
        circuit.record(success: true, probe: true, now: 600_300)
        #expect(circuit.state == .closed(consecutiveFailures: 0))
        #expect(circuit.healthScore == 100)
    }

    @Test func failedProbeOpensAgainAndCancelledProbeFreesTheSlot() {
        var circuit = CircuitBreaker(configuration: configuration)
        for _ in 0..<5 { circuit.record(success: false, probe: false, now: 0) }
        #expect(circuit.admit(now: 600_000) == .probe)
        circuit.cancelProbe()
        #expect(circuit.admit(now: 600_001) == .probe)
        circuit.record(success: false, probe: true, now: 600_500)
        #expect(circuit.state == .open(until: 1_200_500))
    }
}

struct RateLimitTests {
    @Test func parsesRates() {
        #expect(RateLimit.Rate("50/s") == .init(count: 50, period: .seconds(1)))
        #expect(RateLimit.Rate("600/m") == .init(count: 600, period: .seconds(60)))
        #expect(RateLimit.Rate("100/10s") == .init(count: 100, period: .seconds(10)))
        for bad in ["", "50", "0/s", "-1/s", "5/x", "a/s", "5/s/s"] { #expect(RateLimit.Rate(bad) == nil, "\(bad)") }
        #expect(RateLimit.Rate("20/s")?.description == "20/s")
    }

    @Test func neverMoreThanCountArrivalsInAnyWindowWhateverTheLatency() {
        // Requests take 0-180 ms; the receiver sees each at some point between start and completion.
        var limit = RateLimit(rate: .init(count: 20, period: .seconds(1)))
        var inFlight: [(slot: Int, start: Int64, end: Int64)] = []
        var arrivals: [Int64] = []
        var now: Int64 = 0
        var step = 0
        while now < 10_000 {
            for request in inFlight where request.end <= now { limit.complete(slot: request.slot, now: request.end) }
            inFlight.removeAll { $0.end <= now }
            if limit.wait(now: now) == nil {
                let latency = Int64((step * 37) % 181)
                let slot = limit.start()
                inFlight.append((slot, now, now + latency))
                // Worst case for the receiver: early requests arrive late, late ones early.
                arrivals.append(step % 2 == 0 ? now + latency : now)
                step += 1
            }
            now += 3
        }
        arrivals.sort()
        for (index, arrival) in arrivals.enumerated() {
            #expect(arrivals[index...].prefix { $0 < arrival + 1_000 }.count <= 20, "window at \(arrival)")
        }
        #expect(arrivals.count >= 150, "it does not starve: \(arrivals.count)")
    }

    @Test func reportsTheWaitUntilTheWindowMoves() {
        var limit = RateLimit(rate: .init(count: 2, period: .seconds(1)))
        #expect(limit.wait(now: 0) == nil)
        let first = limit.start()
        #expect(limit.wait(now: 10) == nil)
        let second = limit.start()
        #expect(limit.wait(now: 20) == .milliseconds(20), "the oldest is still in flight")
        limit.complete(slot: first, now: 100)
        limit.complete(slot: second, now: 150)
        #expect(limit.wait(now: 200) == .milliseconds(900))
        #expect(limit.wait(now: 1_100) == nil)
    }
}

struct RetryAfterTests {
    @Test func parsesSecondsAndHTTPDates() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(RetryAfter.parse("3", now: now) == .seconds(3))
        #expect(RetryAfter.parse(" 120 ", now: now) == .seconds(120))
        // 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT.
        #expect(RetryAfter.parse("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == .seconds(10))
        #expect(RetryAfter.parse("Tue, 14 Nov 2023 22:00:00 GMT", now: now) == .zero, "a past date means now")
        #expect(RetryAfter.parse(nil, now: now) == nil)
        #expect(RetryAfter.parse("soon", now: now) == nil)
        #expect(RetryAfter.parse("-5", now: now) == nil)
        #expect(RetryAfter.parse("99999999999999999999999", now: now) != nil, "huge values do not trap")
    }
}

struct RetryPlannerTests {
    let planner = RetryPlanner(topics: try! RelayTopics(schedule: RetrySchedule(parsing: "1s,5s,30s,5m")), jitter: 0.1)

    @Test func jitterStaysWithinTenPercentAndKeepsTheTier() {
        for random in [-1.0, -0.5, 0, 0.5, 1.0] {
            let wait = planner.afterFailure(attempts: 2, retryAfter: nil, random: random)
            #expect(wait?.tier == .seconds(5))
            #expect(wait.map { $0.wait >= .milliseconds(4_500) && $0.wait <= .milliseconds(5_500) } == true)
        }
        #expect(planner.afterFailure(attempts: 5, retryAfter: nil) == nil, "exhausted after the last delay")
    }

    @Test func retryAfterLengthensTheWaitToAFittingTierCappedAtTheLongest() {
        #expect(planner.afterFailure(attempts: 1, retryAfter: .seconds(3), random: 0) == .init(tier: .seconds(5), wait: .seconds(3)))
        #expect(planner.afterFailure(attempts: 1, retryAfter: .seconds(100), random: 0) == .init(tier: .seconds(300), wait: .seconds(100)))
        #expect(planner.afterFailure(attempts: 1, retryAfter: .seconds(86_400), random: 0) == .init(tier: .seconds(300), wait: .seconds(300)))
        #expect(planner.afterFailure(attempts: 3, retryAfter: .seconds(2), random: 0) == .init(tier: .seconds(30), wait: .seconds(30)),
                "a shorter Retry-After does not shorten the schedule")
    }

    @Test func postponedRecordsGoToTheShortestTierThatCoversTheWait() {
        #expect(planner.fitting(.milliseconds(200)) == .init(tier: .seconds(1), wait: .milliseconds(200)))
        #expect(planner.fitting(.seconds(6)) == .init(tier: .seconds(30), wait: .seconds(6)))
        #expect(planner.fitting(.seconds(600)) == .init(tier: .seconds(300), wait: .seconds(300)))
    }
}
