import Testing
@testable import WebhookSignature

@Suite("WebhookHeaders")
struct WebhookHeadersTests {
    @Test func caseInsensitiveLookupKeepsOrderAndValues() {
        var headers: WebhookHeaders = ["Webhook-ID": "a", "content-type": "application/json"]
        headers.append(name: "WEBHOOK-id", value: "b")
        #expect(headers["webhook-id"] == "a")
        #expect(headers.values(for: "webhook-ID") == ["a", "b"])
        #expect(headers["Content-Type"] == "application/json")
        #expect(headers["missing"] == nil)
        #expect(headers.map(\.name) == ["Webhook-ID", "content-type", "WEBHOOK-id"])
        #expect(!WebhookHeaders.namesEqual("webhook-id", "webhook-idx"))
        #expect(!WebhookHeaders.namesEqual("é", "É"))
    }
}
