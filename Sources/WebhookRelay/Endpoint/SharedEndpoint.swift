/// An endpoint as every record in flight for it carries it: one immutable instance per endpoint,
/// so that a record holds a reference (one count) rather than a copy of each of its fields.
final class SharedEndpoint: Sendable {
    let endpoint: Endpoint

    init(_ endpoint: Endpoint) {
        self.endpoint = endpoint
    }

    var id: String { endpoint.id }
    var policy: EndpointPolicy { endpoint.policy }
}
