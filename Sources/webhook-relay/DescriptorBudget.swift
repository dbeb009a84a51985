#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's file-descriptor limit, and how it is shared: deliveries first (a connection per
/// attempt in flight, Kafka's sockets, files), the admin server with what is left, capped.
struct DescriptorBudget {
    /// The soft `RLIMIT_NOFILE` after ``raiseToHardLimit()``.
    var limit: Int
    /// Descriptors kept for everything but admin connections: Kafka's sockets and pipes, the
    /// event loops, log files, idle delivery connections beyond those in flight.
    static let reserve = 256

    /// Raises the soft limit to the hard one (as Go and nginx do), and reads it.
    static func raiseToHardLimit() -> DescriptorBudget {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return DescriptorBudget(limit: 1_024) }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        return DescriptorBudget(limit: Int(clamping: limits.rlim_cur))
    }

    /// What deliveries need with `maxInFlight` attempts in flight.
    static func deliveriesNeed(maxInFlight: Int) -> Int { maxInFlight + reserve }

    /// The admin server's connection cap: `wanted`, or less when the limit leaves less (at least 2,
    /// so a probe still gets in).
    func adminConnections(wanted: Int, maxInFlight: Int) -> Int {
        let left = limit - Self.deliveriesNeed(maxInFlight: maxInFlight)
        return max(2, min(wanted, left / 2))
    }
}
