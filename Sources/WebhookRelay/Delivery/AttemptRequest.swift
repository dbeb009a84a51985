import WebhookSignature

/// The HTTP request of one attempt: the endpoint's URL, the signed headers, the body.
struct AttemptRequest: Sendable {
    var url: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    var timeout: Duration

    /// The request of attempt number `number` of `delivery`, signed at `now` (wall-clock epoch
    /// milliseconds): the scheme's signature headers, `Content-Type` (not for nSelf, which signs
    /// its own), the informational `Webhook-Attempt`, then the endpoint's static headers. Signing
    /// failure is the attempt's outcome: nothing is sent.
    static func make(
        _ delivery: borrowing DeliveryRecord, for endpoint: Endpoint, number: Int, now: Int64
    ) -> Result<AttemptRequest, Failure> {
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(7 + endpoint.headers.count)
        do {
            try endpoint.signer.appendHeaders(id: delivery.webhookID, timestamp: now / 1_000, event: delivery.event, body: delivery.body, to: &headers)
        } catch {
            return .failure(Failure(outcome: .invalidRequest("signing failed: \(error)")))
        }
        if endpoint.scheme != .nself {
            headers.append(("Content-Type", delivery.contentType))
        }
        // Informational (not signed): which attempt this is, for the receiver's logs.
        headers.append((RelayHeader.attemptHTTPHeader, String(number)))
        headers.append(contentsOf: endpoint.headers)
        return .success(AttemptRequest(url: endpoint.url, headers: headers, body: delivery.body, timeout: endpoint.timeout))
    }

    /// A request that could not be made: the attempt's outcome.
    struct Failure: Error {
        let outcome: AttemptOutcome
    }
}

extension DeliveryStateMachine {
    /// The signed request of the attempt being made; `nil` before an endpoint admitted the record.
    func attemptRequest(number: Int, now: Int64) -> Result<AttemptRequest, AttemptRequest.Failure>? {
        guard let endpoint else { return nil }
        switch delivery {
        case .some(let delivery): return AttemptRequest.make(delivery, for: endpoint.endpoint, number: number, now: now)
        case .none: return nil
        }
    }
}
