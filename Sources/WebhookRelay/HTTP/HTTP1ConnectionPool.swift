import NIOCore
import Synchronization

/// Idle keep-alive connections, per server and checked address, and per event loop.
///
/// A connection is taken for one exchange and given back after it; one given back that cannot be
/// reused, or beyond ``maxIdlePerServer``, is closed. Connections idle for longer than
/// ``idleTimeout`` are closed (checked whenever a connection is taken or given back).
///
/// A connection is only handed to a caller on its own event loop: an exchange then writes, reads
/// and resumes its caller on one thread. Shared across loops, one loop's reads resumed work on the
/// other, which ran it in the same turn as the work its own reads brought: under load each loop
/// kept the other busy, and neither came back to read its sockets for seconds.
final class HTTP1ConnectionPool: Sendable {
    /// Where a connection goes: scheme, the host named in the URL (for `Host` and TLS), port and
    /// the address the SSRF guard checked.
    struct Server: Hashable, Sendable {
        let tls: Bool
        let host: String
        let port: Int
        let address: IPAddress
    }

    private struct Idle {
        let channel: any Channel
        let since: NIODeadline

        /// Still open and idle for less than `timeout`.
        func isUsable(at now: NIODeadline, timeout: TimeAmount) -> Bool {
            channel.isActive && now - since < timeout
        }
    }

    /// Where idle connections are kept: their server and their event loop.
    private struct Key: Hashable {
        let server: Server
        let loop: ObjectIdentifier
    }

    private struct State {
        var idle: [Key: [Idle]] = [:]
        var lastSweep = NIODeadline.now()
        var closed = false
    }

    /// Idle connections kept per server at most.
    let maxIdlePerServer: Int
    /// How long a connection may wait unused before it is closed.
    let idleTimeout: TimeAmount
    private let state = Mutex(State())

    init(maxIdlePerServer: Int, idleTimeout: TimeAmount) {
        self.maxIdlePerServer = max(1, maxIdlePerServer)
        self.idleTimeout = idleTimeout
    }

    /// An open idle connection to `server` on `loop` (on any loop when `nil`: for callers that
    /// run on none), most recently used first; `nil` when there is none.
    func take(_ server: Server, on loop: (any EventLoop)?) -> (any Channel)? {
        let now = NIODeadline.now()
        var stale: [any Channel] = []
        defer { for channel in stale { channel.close(promise: nil) } }
        return state.withLock { state -> (any Channel)? in
            if let loop {
                return Self.takeUsable(from: &state, Key(server: server, loop: ObjectIdentifier(loop)), at: now, timeout: idleTimeout, stale: &stale)
            }
            for key in state.idle.keys where key.server == server {
                if let channel = Self.takeUsable(from: &state, key, at: now, timeout: idleTimeout, stale: &stale) { return channel }
            }
            return nil
        }
    }

    /// The most recently used usable connection under `key`; the unusable ones met on the way
    /// are moved to `stale`.
    private static func takeUsable(
        from state: inout State, _ key: Key, at now: NIODeadline, timeout: TimeAmount, stale: inout [any Channel]
    ) -> (any Channel)? {
        state.idle.changeValue(forKey: key) { entries -> (any Channel)? in
            while let entry = entries.popLast() {
                if entry.isUsable(at: now, timeout: timeout) { return entry.channel }
                stale.append(entry.channel)
            }
            return nil
        } ?? nil
    }

    /// Gives a connection back after an exchange: kept when `reusable` and there is room.
    func giveBack(_ channel: any Channel, to server: Server, reusable: Bool) {
        let now = NIODeadline.now()
        let key = Key(server: server, loop: ObjectIdentifier(channel.eventLoop))
        var closing: [any Channel] = []
        state.withLock { state in
            // One look-up: the `default:` subscript changes the list in place without allocating
            // (unlike `?.`).
            let kept = reusable && !state.closed && channel.isActive
                && Self.keep(Idle(channel: channel, since: now), in: &state.idle[key, default: []], max: maxIdlePerServer)
            if !kept { closing.append(channel) }
            guard now - state.lastSweep > .seconds(10) else { return }
            state.lastSweep = now
            for (key, entries) in state.idle {
                let (fresh, expired) = entries.reduce(into: ([Idle](), [Idle]())) { split, entry in
                    if entry.isUsable(at: now, timeout: idleTimeout) { split.0.append(entry) } else { split.1.append(entry) }
                }
                guard !expired.isEmpty else { continue }
                state.idle[key] = fresh.isEmpty ? nil : fresh
                closing.append(contentsOf: expired.map(\.channel))
            }
        }
        for channel in closing { channel.close(promise: nil) }
    }

    /// Appends `idle` to `entries` unless they hold `max` already; whether it did.
    private static func keep(_ idle: Idle, in entries: inout [Idle], max: Int) -> Bool {
        guard entries.count < max else { return false }
        entries.append(idle)
        return true
    }

    /// Closes every idle connection; connections given back later are closed too.
    func close() {
        let all = state.withLock { state -> [any Channel] in
            state.closed = true
            defer { state.idle = [:] }
            return state.idle.values.flatMap { $0.map(\.channel) }
        }
        for channel in all { channel.close(promise: nil) }
    }
}
