import NIOCore

/// The endpoint's parsed URL and the checked address to connect to (the SSRF guard), both cached.
extension WebhookHTTPClient {
    /// The address to connect to for the target's host, after checking it; the refusal when it is
    /// not allowed.
    func address(for target: HTTP1RequestTarget) async -> Result<IPAddress, AttemptFailure> {
        let host = target.host
        if let literal = target.literal {
            // An address literal needs no resolution: check it and connect to it.
            if case .refused(let reason) = configuration.addressPolicy.check(literal) {
                return .failure(.refused(AddressRefusal(host: host, address: literal, reason: reason)))
            }
            return .success(literal)
        }
        let now = ContinuousClock.now
        if let entry = pinned.withLock({ $0[host] }), entry.expiresAt > now {
            return .success(entry.address)
        }
        let addresses: [IPAddress]
        do {
            addresses = try await AddressResolver.resolve(host: host)
        } catch {
            return .failure(.unusable("\(error)"))
        }
        switch AddressResolver.pick(ResolvedHost(host: host, addresses: addresses), policy: configuration.addressPolicy) {
        case .failure(let refusal):
            return .failure(.refused(refusal))
        case .success(let address):
            // Connections to an earlier address of the host stay in the pool until they idle out.
            pinned.withLock { $0[host] = Pinned(address: address, expiresAt: now.advanced(by: configuration.resolutionTTL)) }
            return .success(address)
        }
    }

    enum AttemptFailure: Error {
        case refused(AddressRefusal)
        case unusable(String)
    }

    /// The parsed URL, cached: endpoints' URLs repeat for every delivery.
    func target(_ url: String) -> Result<HTTP1RequestTarget, HTTPRequestProblem> {
        if let cached = targets.withLock({ $0[url] }) { return .success(cached) }
        let parsed = HTTP1RequestTarget.parse(url, userAgent: userAgent)
        if case .success(let target) = parsed {
            targets.withLock { targets in
                if targets.count >= 10_000 { targets.removeAll() }
                targets[url] = target
            }
        }
        return parsed
    }
}
