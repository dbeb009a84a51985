import Testing
import WebhookRelay

struct WebhookRelayVersionTests {
    /// The version goes into `User-Agent: webhook-relay/<version>`: it must be plain semver.
    @Test func versionIsSemanticVersion() {
        let parts = WebhookRelayVersion.current.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        #expect(parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) })
    }
}
