import NIOCore
import Synchronization

/// Idle keep-alive connections, per server and checked address.
///
/// A connection is taken for one exchange and given back after it; one given back that cannot be
/// reused, or beyond ``maxIdlePerServer``, is closed. Connections idle for longer than
/// ``idleTimeout`` are closed (checked whenever a connection is taken or given back).
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

    private struct State {
        var idle: [Server: [Idle]] = [:]
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

    /// An open idle connection to `server`, most recently used first; `nil` when there is none.
    func take(_ server: Server) -> (any Channel)? {
        let now = NIODeadline.now()
        var stale: [any Channel] = []
        defer { for channel in stale { channel.close(promise: nil) } }
        return state.withLock { state -> (any Channel)? in
            while let entry = state.idle[server]?.popLast() {
                if entry.isUsable(at: now, timeout: idleTimeout) { return entry.channel }
                stale.append(entry.channel)
            }
            return nil
        }
    }

    /// Gives a connection back after an exchange: kept when `reusable` and there is room.
    func giveBack(_ channel: any Channel, to server: Server, reusable: Bool) {
        let now = NIODeadline.now()
        var closing: [any Channel] = []
        state.withLock { state in
            if reusable, !state.closed, channel.isActive, state.idle[server, default: []].count < maxIdlePerServer {
                state.idle[server, default: []].append(Idle(channel: channel, since: now))
            } else {
                closing.append(channel)
            }
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
