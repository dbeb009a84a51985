/// Which endpoints an event goes to: those of its tenant whose `events` patterns match its type
/// (no patterns: every type), optionally narrowed to the ids the event names. Disabled endpoints
/// are subscribers too: their deliveries are dead-lettered `endpoint_disabled`, to be replayed
/// once they are enabled again.
struct SubscriptionIndex: Sendable {
    /// Tenant → endpoint id → patterns.
    private var byTenant: [String: [String: [EventPattern]]] = [:]
    /// Endpoint id → tenant, for endpoints that have one.
    private var tenantOf: [String: String] = [:]

    init(_ endpoints: some Sequence<Endpoint>) {
        for endpoint in endpoints { put(endpoint) }
    }

    /// Adds or replaces an endpoint's subscription (none without a tenant).
    mutating func put(_ endpoint: Endpoint) {
        remove(endpoint.id)
        guard let tenant = endpoint.tenant else { return }
        tenantOf[endpoint.id] = tenant
        byTenant[tenant, default: [:]][endpoint.id] = endpoint.events
    }

    /// Removes an endpoint's subscription.
    mutating func remove(_ id: String) {
        guard let tenant = tenantOf.removeValue(forKey: id) else { return }
        byTenant[tenant]?[id] = nil
        if byTenant[tenant]?.isEmpty == true { byTenant[tenant] = nil }
    }

    /// A tenant's endpoints and their patterns (copied cheaply, to match outside a lock).
    func endpoints(of tenant: String) -> [String: [EventPattern]] { byTenant[tenant] ?? [:] }

    /// The subscribed endpoint ids, sorted; `named` keeps only those ids.
    func subscribers(tenant: String, event: String, named: [String]? = nil) -> [String] {
        Self.subscribers(among: endpoints(of: tenant), event: event, named: named)
    }

    /// Those of `endpoints` subscribed to `event`, sorted; `named` keeps only those ids.
    static func subscribers(among endpoints: [String: [EventPattern]], event: String, named: [String]? = nil) -> [String] {
        func subscribed(_ patterns: [EventPattern]) -> Bool { patterns.isEmpty || patterns.contains { $0.matches(event) } }
        if let named {
            return Set(named).filter { endpoints[$0].map(subscribed) ?? false }.sorted()
        }
        return endpoints.filter { subscribed($0.value) }.keys.sorted()
    }

    /// Endpoints with a tenant.
    var count: Int { tenantOf.count }
}
