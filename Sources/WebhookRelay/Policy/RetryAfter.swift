import Foundation

/// The `Retry-After` response header: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
public enum RetryAfter {
    /// The wait it asks for, relative to `now`; `nil` when absent or unparsable. A date in the past
    /// is a wait of zero.
    public static func parse(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmedSpaces, !value.isEmpty else { return nil }
        if value.allSatisfy(\.isASCIIDigit) {
            guard let seconds = Int64(value) else { return .seconds(Int64.max / 1_000_000) }
            return .seconds(seconds)
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: value) {
                let milliseconds = Int64((date.timeIntervalSince(now) * 1_000).rounded(.up))
                return .milliseconds(max(0, milliseconds))
            }
        }
        return nil
    }
}
