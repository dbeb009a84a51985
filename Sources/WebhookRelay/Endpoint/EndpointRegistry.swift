import Synchronization

/// The configured endpoints and the in-memory state of those this replica delivers to.
///
/// An endpoint's state (circuit, rate limit, `410` disabling) lives on the replica that owns its
/// partition: it is created when a record of the endpoint arrives and dropped when that partition
/// is revoked, so the next owner starts with a closed circuit. ``reload(_:)`` swaps the endpoints
/// (SIGHUP) and starts every endpoint afresh, which also re-enables endpoints a `410` disabled;
/// ``put(_:disabledReason:)`` and ``delete(_:)`` change one endpoint (the registry topic). Records
/// parked by a replaced endpoint's state are handed back, to look their endpoint up again.
final class EndpointRegistry: Sendable {
    /// What a lookup found.
    enum Lookup: Sendable {
        case found(SharedEndpoint, EndpointRuntime)
        /// Disabled in the registry.
        case disabled(SharedEndpoint, reason: String)
        /// Deleted from the registry (its tombstone was read).
        case deleted
        case unknown

        /// The part the state machine decides on.
        var answer: EndpointAnswer {
            switch self {
            case .found(let endpoint, _): .found(endpoint)
            case .disabled(let endpoint, let reason): .disabled(endpoint, reason: reason)
            case .deleted: .deleted
            case .unknown: .unknown
            }
        }

        var runtime: EndpointRuntime? {
            if case .found(_, let runtime) = self { runtime } else { nil }
        }
    }

    private struct Entry {
        var runtime: EndpointRuntime
        var partition: Int32
    }

    private struct Registered {
        var endpoint: SharedEndpoint
        var disabledReason: String?
    }

    private struct State {
        var endpoints: [String: Registered]
        var deleted: Set<String> = []
        /// When each endpoint was last changed (its registry record's time, wall-clock epoch
        /// milliseconds): a run of failures that began before is not continued.
        var changedAt: [String: Int64] = [:]
        var entries: [String: Entry] = [:]
        var subscriptions: SubscriptionIndex

        init(endpoints: [String: Registered]) {
            self.endpoints = endpoints
            subscriptions = SubscriptionIndex(endpoints.values.map(\.endpoint.endpoint))
        }
    }

    private let state: Mutex<State>
    /// Where a new endpoint state learns since when the endpoint has been failing (the status
    /// another replica published; registry mode), for `auto_disable_after` across hand-overs.
    let failingHistory = LockedValue<(@Sendable (String) -> Int64?)?>(nil)

    init(_ endpoints: [Endpoint]) {
        state = Mutex(State(endpoints: Self.byID(endpoints)))
    }

    private static func byID(_ endpoints: [Endpoint]) -> [String: Registered] {
        Dictionary(endpoints.map { ($0.id, Registered(endpoint: SharedEndpoint($0))) }, uniquingKeysWith: { first, _ in first })
    }

    /// The endpoint and its state. `partition` is the record's partition number, which every
    /// topic shares for an endpoint.
    func lookup(_ id: String, partition: Int32) -> Lookup {
        state.withLock { state in
            guard let registered = state.endpoints[id] else { return state.deleted.contains(id) ? .deleted : .unknown }
            let endpoint = registered.endpoint
            if let reason = registered.disabledReason { return .disabled(endpoint, reason: reason) }
            if let entry = state.entries[id] {
                if entry.partition != partition { state.entries[id]?.partition = partition }
                return .found(endpoint, entry.runtime)
            }
            let runtime = EndpointRuntime(endpoint: endpoint)
            if let since = failingHistory.value?(id), since >= state.changedAt[id] ?? .min {
                runtime.seed(failingSince: since)
            }
            state.entries[id] = Entry(runtime: runtime, partition: partition)
            return .found(endpoint, runtime)
        }
    }

    /// What a lookup would answer, without creating the endpoint's state (which only the owner of
    /// its partition does, by looking it up for a record).
    func answer(_ id: String) -> EndpointAnswer {
        state.withLock { state in
            guard let registered = state.endpoints[id] else { return state.deleted.contains(id) ? .deleted : .unknown }
            if let reason = registered.disabledReason { return .disabled(registered.endpoint, reason: reason) }
            return .found(registered.endpoint)
        }
    }

    /// Adds or replaces one endpoint (enabled, or disabled with a reason); returns the records its
    /// previous state had parked. An ordered endpoint that stays ordered and enabled keeps its
    /// state (``EndpointRuntime/update(_:)``): its deliveries stay in order across the change.
    /// - Parameter changedAt: when the change was written (wall-clock epoch milliseconds); now if unknown.
    func put(_ endpoint: Endpoint, disabledReason: String?, changedAt: Int64? = nil) -> ParkedRecords {
        let replaced = state.withLock { state -> EndpointRuntime? in
            let shared = SharedEndpoint(endpoint)
            state.endpoints[endpoint.id] = Registered(endpoint: shared, disabledReason: disabledReason)
            state.subscriptions.put(endpoint)
            state.deleted.remove(endpoint.id)
            state.changedAt[endpoint.id] = changedAt ?? WallClock.nowMilliseconds
            if disabledReason == nil, let kept = state.entries[endpoint.id]?.runtime, kept.update(shared) { return nil }
            return state.entries.removeValue(forKey: endpoint.id)?.runtime
        }
        return replaced?.retire() ?? ParkedRecords()
    }

    /// Deletes one endpoint; returns the records its state had parked.
    func delete(_ id: String) -> ParkedRecords {
        let replaced = state.withLock { state in
            state.endpoints[id] = nil
            state.subscriptions.remove(id)
            state.deleted.insert(id)
            state.changedAt[id] = nil
            return state.entries.removeValue(forKey: id)?.runtime
        }
        return replaced?.retire() ?? ParkedRecords()
    }

    /// Drops the state of endpoints whose partition number was revoked; returns their parked
    /// records, each of which finds its partition going and is left to the next owner.
    func forget(partitions: Set<Int32>) -> ParkedRecords {
        let forgotten = state.withLock { state -> [EndpointRuntime] in
            let gone = state.entries.filter { partitions.contains($0.value.partition) }
            for id in gone.keys { state.entries[id] = nil }
            return gone.values.map(\.runtime)
        }
        return Self.handBack(forgotten)
    }

    /// Replaces the endpoints; every endpoint starts afresh (in-flight attempts finish on the old
    /// state), except an ordered one that stays ordered, which keeps its state as in ``put(_:disabledReason:)``.
    /// Returns the records the old states had parked.
    func reload(_ endpoints: [Endpoint]) -> ParkedRecords {
        let replaced = state.withLock { state -> [EndpointRuntime] in
            let entries = state.entries
            state = State(endpoints: Self.byID(endpoints))
            var replaced: [EndpointRuntime] = []
            for (id, entry) in entries {
                if let new = state.endpoints[id], entry.runtime.update(new.endpoint) {
                    state.entries[id] = entry
                } else {
                    replaced.append(entry.runtime)
                }
            }
            return replaced
        }
        return Self.handBack(replaced, retiring: true)
    }

    /// Every record the runtimes parked, longest parked first per runtime; `retiring` retires them.
    private static func handBack(_ runtimes: [EndpointRuntime], retiring: Bool = false) -> ParkedRecords {
        var parked = ParkedRecords()
        for runtime in runtimes {
            var resumed = retiring ? runtime.retire() : runtime.resumeAll()
            parked.resume += resumed.resume
            while let flight = resumed.next() { parked.records.append(flight) }
        }
        return parked
    }

    /// The endpoints subscribed to an event (``SubscriptionIndex``), sorted by id.
    func subscribers(of event: EventRecord) -> [String] {
        // Matched outside the lock, which every delivery's lookup takes too.
        let endpoints = state.withLock { $0.subscriptions.endpoints(of: event.tenant) }
        return SubscriptionIndex.subscribers(among: endpoints, event: event.event, named: event.endpoints)
    }

    /// Endpoints known (enabled or disabled).
    var count: Int { state.withLock { $0.endpoints.count } }

    /// The state of every endpoint this replica has delivered to since it owns its partition.
    var snapshots: [String: EndpointRuntime.Snapshot] {
        state.withLock { $0.entries.mapValues(\.runtime.snapshot) }
    }
}
