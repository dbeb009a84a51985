import Foundation

/// Unix-seconds timestamps as they travel in headers.
enum UnixTimestamp {
    /// Parses a header value of 1–18 ASCII digits (surrounding spaces allowed), without leading
    /// zeros. Signs, decimals, exponents and anything that would overflow are rejected. Leading
    /// zeros are refused because the official Standard Webhooks libraries sign the number, not the
    /// header's text: `0123` would verify here and fail there.
    static func parse(_ value: String) -> Int64? {
        let trimmed = value.trimmingHTTPWhitespace
        guard !trimmed.isEmpty, trimmed.utf8.count <= 18,
              trimmed.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              trimmed.utf8.count == 1 || trimmed.utf8.first != UInt8(ascii: "0")
        else { return nil }
        return Int64(trimmed)
    }

    /// Whole seconds since 1970 for `date`, rounded down and clamped to `Int64`.
    static func seconds(_ date: Date) -> Int64 {
        let value = date.timeIntervalSince1970.rounded(.down)
        guard value.isFinite else { return value > 0 ? .max : .min }
        if value >= 9.2e18 { return .max }
        if value <= -9.2e18 { return .min }
        return Int64(value)
    }

    /// Whether `timestamp` lies within `tolerance` of `now` in either direction (edges included).
    static func isWithin(_ timestamp: Int64, of now: Int64, tolerance: Duration) -> Bool {
        let allowed = max(tolerance.components.seconds, 0)
        let (difference, overflow) = timestamp.subtractingReportingOverflow(now)
        return !overflow && difference.magnitude <= UInt64(allowed)
    }
}
