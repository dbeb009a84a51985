/// How deliveries reach endpoints: the HTTP client, or a test's server stand-in.
protocol DeliveryTransport: Sendable {
    /// POSTs one attempt within `timeout`; `cancellation` cuts it short.
    func post(
        url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration, cancellation: AttemptCancellation?
    ) async -> AttemptResult
}

extension WebhookHTTPClient: DeliveryTransport {}
