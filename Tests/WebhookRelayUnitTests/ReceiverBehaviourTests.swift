import Testing
import WebhookReceiver

/// The scripted answers of `webhook-relay listen` and the test receiver: pure logic.
@Suite("Receiver behaviour")
struct ReceiverBehaviourTests {
    @Test func theDrawIsDeterministicAndUniform() {
        let first = ReceiverBehaviour.draw(endpoint: "orders", webhookID: "msg_1", attempt: 1)
        #expect(first == ReceiverBehaviour.draw(endpoint: "orders", webhookID: "msg_1", attempt: 1))
        #expect(first != ReceiverBehaviour.draw(endpoint: "orders", webhookID: "msg_1", attempt: 2))
        #expect(first != ReceiverBehaviour.draw(endpoint: "billing", webhookID: "msg_1", attempt: 1))
        let draws = (0..<20_000).map { ReceiverBehaviour.draw(endpoint: "e", webhookID: "msg_\($0)", attempt: 1) }
        #expect(draws.allSatisfy { (0..<1).contains($0) })
        let belowHalf = draws.filter { $0 < 0.5 }.count
        #expect((9_600...10_400).contains(belowHalf), "\(belowHalf) of 20,000 below 0.5")
    }

    @Test func ratesAreCheckedInOrder() {
        let behaviour = ReceiverBehaviour(
            failureRate: 0.2, timeoutRate: 0.1, hangDuration: .seconds(3), resetRate: 0.1, tooManyRequestsRate: 0.2,
            tooManyRequestsRetryAfter: "7", slowRate: 0.1, slowDelay: .milliseconds(300)
        )
        func answer(_ draw: Double) -> ReceiverBehaviour.Answer {
            behaviour.answer(verified: true, attempt: 1, endpointRequests: 0, draw: draw)
        }
        #expect(answer(0.05) == .reset)
        #expect(answer(0.15) == .hang(.seconds(3)))
        #expect(answer(0.25) == .respond(status: 429, retryAfter: "7", delay: .zero))
        #expect(answer(0.45) == .respond(status: 500, retryAfter: nil, delay: .zero))
        #expect(answer(0.65) == .respond(status: 204, retryAfter: nil, delay: .milliseconds(300)))
        #expect(answer(0.75) == .respond(status: 204, retryAfter: nil, delay: .zero))
        #expect(answer(0.75).description == "204" && answer(0.05).description == "reset" && answer(0.15).description == "timeout")
    }

    @Test func signatureGoneAndFirstAttemptRulesComeFirst() {
        let behaviour = ReceiverBehaviour(failFirstAttempts: 2, failureStatus: 503, retryAfter: "1", goneAfter: 10)
        #expect(behaviour.answer(verified: false, attempt: 5, endpointRequests: 0, draw: 0.9).status == 401)
        #expect(behaviour.answer(verified: true, attempt: 1, endpointRequests: 10, draw: 0.9).status == 410)
        #expect(behaviour.answer(verified: true, attempt: 2, endpointRequests: 3, draw: 0.9) == .respond(status: 503, retryAfter: "1", delay: .zero))
        #expect(behaviour.answer(verified: true, attempt: 3, endpointRequests: 3, draw: 0.9).status == 204)
    }
}
