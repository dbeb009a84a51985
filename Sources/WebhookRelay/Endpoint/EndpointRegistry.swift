import Synchronization

/// The configured endpoints and the in-memory state of those this replica delivers to.
///
/// An endpoint's state (circuit, rate limit, `410` disabling) lives on the replica that owns its
/// partition: it is created when a record of the endpoint arrives and dropped when that partition
/// is revoked, so the next owner starts with a closed circuit. ``reload(_:)`` swaps the endpoints
/// (SIGHUP) and starts every endpoint afresh, which also re-enables endpoints a `410` disabled.
final class EndpointRegistry: Sendable {
    private struct Entry {
        var runtime: EndpointRuntime
        var partition: Int32
    }

    private struct State {
        var endpoints: [String: SharedEndpoint]
        var entries: [String: Entry] = [:]
    }

    private let state: Mutex<State>

    init(_ endpoints: [Endpoint]) {
        state = Mutex(State(endpoints: Self.byID(endpoints)))
    }

    private static func byID(_ endpoints: [Endpoint]) -> [String: SharedEndpoint] {
        Dictionary(endpoints.map { ($0.id, SharedEndpoint($0)) }, uniquingKeysWith: { first, _ in first })
    }

    /// The endpoint and its state, or `nil` for an unknown id. `partition` is the record's
    /// partition number, which every topic shares for an endpoint.
    func lookup(_ id: String, partition: Int32) -> (endpoint: SharedEndpoint, runtime: EndpointRuntime)? {
        state.withLock { state in
            guard let endpoint = state.endpoints[id] else { return nil }
            if let entry = state.entries[id] {
                if entry.partition != partition { state.entries[id]?.partition = partition }
                return (endpoint, entry.runtime)
            }
            let runtime = EndpointRuntime(policy: endpoint.policy, limits: endpoint.endpoint.limits)
            state.entries[id] = Entry(runtime: runtime, partition: partition)
            return (endpoint, runtime)
        }
    }

    /// Drops the state of endpoints whose partition number was revoked; returns their parked
    /// records, each of which finds its partition going and is left to the next owner.
    func forget(partitions: Set<Int32>) -> ParkedRecords {
        let forgotten = state.withLock { state -> [EndpointRuntime] in
            let gone = state.entries.filter { partitions.contains($0.value.partition) }
            for id in gone.keys { state.entries[id] = nil }
            return gone.values.map(\.runtime)
        }
        var parked = ParkedRecords()
        for runtime in forgotten {
            var resumed = runtime.resumeAll()
            while let flight = resumed.next() { parked.records.append(flight) }
        }
        return parked
    }

    /// Replaces the endpoints; every endpoint starts afresh (in-flight attempts finish on the old state).
    func reload(_ endpoints: [Endpoint]) {
        state.withLock { state in
            state.endpoints = Self.byID(endpoints)
            state.entries = [:]
        }
    }

    /// The state of every endpoint this replica has delivered to since it owns its partition.
    var snapshots: [String: EndpointRuntime.Snapshot] {
        state.withLock { $0.entries.mapValues(\.runtime.snapshot) }
    }
}
