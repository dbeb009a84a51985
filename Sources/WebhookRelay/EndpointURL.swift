import Foundation

/// The rules an endpoint URL must meet to be deliverable, one set for every place a URL comes in
/// (the endpoints file, the management API), and how a URL is shown in messages.
public enum EndpointURL {
    /// Why `url` can never be delivered to, or `nil`. URLs that parse but could never get a
    /// request (user info, port 0, IPv4 addresses in the short or non-decimal forms resolvers
    /// accept but the SSRF guard does not, percent-encoded or trailing-dot hosts) are refused here,
    /// when they are loaded, instead of dying `exhausted` on every delivery.
    public static func problem(_ url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return "is not a URL"
        }
        guard scheme == "http" || scheme == "https" else { return "is not an http:// or https:// URL" }
        guard components.user == nil, components.password == nil, !(components.percentEncodedHost ?? "").contains("@") else {
            return "must not carry user info (user:password@); send credentials in the endpoint's headers"
        }
        guard let host = components.percentEncodedHost, !host.isEmpty else { return "has no host" }
        if let port = components.port, !(1...65_535).contains(port) { return "has port \(port); ports are 1-65535" }
        if host.hasPrefix("[") { return nil }  // an IPv6 literal: URLComponents checked its form
        // The URL's own text, not URLComponents' host: Foundation turns an IDN (`xn--…`) into
        // percent-encoded UTF-8 there.
        guard !(authority(of: url) ?? "").contains("%") else { return "has a percent-encoded host; write the host as it is" }
        guard !host.hasSuffix(".") else { return "has a host ending in '.'; write it without the trailing dot" }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.allSatisfy({ !$0.isEmpty }) else { return "has an empty label in its host" }
        // No top-level domain is numeric: a host ending in a number is an IPv4 address, and only
        // the dotted-decimal form means the same thing to every resolver and to the SSRF guard.
        if let last = labels.last, last.allSatisfy(\.isASCIIDigit) || last.lowercased().hasPrefix("0x") {
            let canonical = labels.count == 4 && labels.allSatisfy { label in
                label.allSatisfy(\.isASCIIDigit) && label.count <= 3 && (label == "0" || !label.hasPrefix("0")) && (Int(label) ?? 256) <= 255
            }
            guard canonical else {
                return "has host '\(EndpointsFile.shown(host, limit: 60))', an IPv4 address in a short, octal or hexadecimal form; write it as four decimal numbers (a.b.c.d)"
            }
        }
        return nil
    }

    /// `url` as shown in messages and logs: any user info replaced by `****`, control characters
    /// escaped, at most 80 bytes.
    public static func shown(_ url: String) -> String {
        var text = url
        if let authority = authorityRange(of: text), let at = text[authority].lastIndex(of: "@") {
            text.replaceSubrange(authority.lowerBound...at, with: "****@")
        }
        return EndpointsFile.shown(text)
    }

    /// The text between `://` and the path, query or fragment.
    static func authority(of url: String) -> Substring? { authorityRange(of: url).map { url[$0] } }

    private static func authorityRange(of url: String) -> Range<String.Index>? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let end = url[schemeEnd.upperBound...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
        return schemeEnd.upperBound..<end
    }
}
