import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import WebhookRelay

/// Address parsing, CIDR matching, the SSRF policy and host resolution ("localhost" only).
struct IPAddressParsingTests {
    @Test func parsesIPv4() throws {
        #expect(IPAddress("1.2.3.4")?.bytes == [1, 2, 3, 4])
        #expect(IPAddress("0.0.0.0")?.bytes == [0, 0, 0, 0])
        #expect(IPAddress("255.255.255.255")?.bytes == [255, 255, 255, 255])
        #expect(IPAddress("1.2.3.4")?.family == .v4)
        #expect(IPAddress("10.0.0.1")?.description == "10.0.0.1")
    }

    @Test func parsesIPv6() throws {
        #expect(IPAddress("::")?.bytes == Array(repeating: 0, count: 16))
        #expect(IPAddress("::1")?.bytes == Array(repeating: 0, count: 15) + [1])
        #expect(IPAddress("[::1]") == IPAddress("::1"))
        #expect(IPAddress("1:2:3:4:5:6:7:8")?.description == "1:2:3:4:5:6:7:8")
        #expect(IPAddress("2001:0DB8:0000:0000:0000:0000:0000:0001")?.description == "2001:db8::1")
        #expect(IPAddress("::ffff:1.2.3.4")?.bytes == Array(repeating: 0, count: 10) + [0xFF, 0xFF, 1, 2, 3, 4])
        #expect(IPAddress("::ffff:7f00:1") == IPAddress("::ffff:127.0.0.1"))
        #expect(IPAddress("1:2:3:4:5:6:1.2.3.4")?.description == "1:2:3:4:5:6:102:304")
        #expect(IPAddress("1:2:3:4:5:6:7::")?.description == "1:2:3:4:5:6:7:0")
        #expect(IPAddress("fe80::1%eth0") == IPAddress("fe80::1"))
        #expect(IPAddress("[fe80::1%25eth0]") == IPAddress("fe80::1"))
        #expect(IPAddress("::ffff:1.2.3.4") != IPAddress("1.2.3.4"), "mapped and plain IPv4 are distinct values")
        #expect(IPAddress("::1")?.family == .v6)
    }

    @Test func canonicalDescriptionsRoundTrip() throws {
        let cases = [
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), // first of equal runs
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), // single zero group not compressed
            ("0:0:0:0:0:0:0:0", "::"),
            ("1:0:0:0:0:0:0:0", "1::"),
            ("::ffff:7f00:1", "::ffff:127.0.0.1"),
            ("::7f00:1", "::7f00:1"),
            ("2606:4700:4700:0:0:0:0:1111", "2606:4700:4700::1111"),
        ]
        for (input, expected) in cases {
            let address = try #require(IPAddress(input), "\(input)")
            #expect(address.description == expected)
            #expect(IPAddress(address.description) == address)
        }
    }

    @Test func rejectsMalformedAddresses() {
        let malformed = [
            "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "010.0.0.1", "1.2.3.04", "+1.2.3.4", "1.2.3.-4",
            "1..2.3", ".1.2.3", "1.2.3.4.", " 1.2.3.4", "1.2.3.4 ", "0x7f.0.0.1", "127.1", "2130706433",
            "1::2::3", ":::", "gggg::", ":", "::1::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::",
            "12345::", ":1::", "1::2:", "1.2.3.4::", "::1.2.3.4:1", "::1.2.3", "::256.0.0.1", "::01.2.3.4",
            "[1.2.3.4]", "1.2.3.4%eth0", "[::1", "::1]", "[]", "fe80::1%", "fe80::1%eth 0", "fe80::1%a%b",
            "１.２.３.４", "::１", "1.2.3.4/32",
        ]
        for text in malformed {
            #expect(IPAddress(text) == nil, "\(text) must not parse")
        }
    }

    /// Deterministic pseudo-random inputs (a fixed-seed LCG, so failures reproduce).
    private struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    @Test func agreesWithInetPton() {
        var random = Generator(state: 0x9E37_79B9_7F4A_7C15)
        let characters = Array("0123456789abcdefAF:.:.:0010f255256")
        let pieces = ["0", "1", "ff", "ffff", "FfFf", "00", "0000", "00000", "abcd", "", "", "1.2.3.4",
                      "255.255.255.255", "256.0.0.1", "01.2.3.4", "0.0.0.0", "1.2.3", "g", "10.0.0.01"]
        var parsed = 0
        for _ in 0..<60_000 {
            var text: String
            if random.next(2) == 0 {
                text = String((0..<random.next(24)).map { _ in characters[random.next(characters.count)] })
            } else {
                text = (0..<random.next(10)).map { _ in pieces[random.next(pieces.count)] }.joined(separator: ":")
                if random.next(3) == 0 { text = ":" + text }
                if random.next(3) == 0 { text += ":" }
            }
            var v4 = in_addr()
            var v6 = in6_addr()
            let expected: [UInt8]? = if inet_pton(AF_INET, text, &v4) == 1 {
                withUnsafeBytes(of: v4) { Array($0) }
            } else if inet_pton(AF_INET6, text, &v6) == 1 {
                withUnsafeBytes(of: v6) { Array($0) }
            } else {
                nil
            }
            let address = IPAddress(text)
            #expect(address?.bytes == expected, "\(text)")
            if let address {
                parsed += 1
                #expect(IPAddress(address.description) == address, "\(text)")
            }
        }
        #expect(parsed > 500)
    }

    @Test func descriptionsOfRandomIPv6AddressesRoundTrip() {
        var random = Generator(state: 42)
        for _ in 0..<30_000 {
            let bytes = (0..<8).flatMap { _ -> [UInt8] in
                random.next(2) == 0 ? [0, 0] : [UInt8(random.next(256)), UInt8(random.next(256))]
            }
            guard let address = IPAddress(bytes: bytes) else {
                Issue.record("16 bytes must make an address")
                return
            }
            var parsed = in6_addr()
            #expect(inet_pton(AF_INET6, address.description, &parsed) == 1, "\(address)")
            #expect(withUnsafeBytes(of: parsed) { Array($0) } == bytes, "\(address)")
            #expect(IPAddress(address.description) == address)
        }
    }

    @Test func bytesInitializerChecksLength() {
        #expect(IPAddress(bytes: [1, 2, 3, 4]) == IPAddress(1, 2, 3, 4))
        #expect(IPAddress(bytes: Array(repeating: 0, count: 15) + [1]) == IPAddress("::1"))
        #expect(IPAddress(bytes: []) == nil)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: Array(repeating: 0, count: 17)) == nil)
    }
}

struct CIDRTests {
    @Test func parsesAndMatches() throws {
        let ten = try #require(CIDR("10.0.0.0/8"))
        #expect(ten.contains(try #require(IPAddress("10.255.1.2"))))
        #expect(!ten.contains(try #require(IPAddress("11.0.0.0"))))
        #expect(!ten.contains(try #require(IPAddress("::ffff:10.0.0.1"))), "families never match")
        let ula = try #require(CIDR("fc00::/7"))
        #expect(ula.contains(try #require(IPAddress("fdff:ffff::1"))))
        #expect(!ula.contains(try #require(IPAddress("fe00::"))))
        #expect(CIDR("0.0.0.0/0")?.contains(IPAddress(8, 8, 8, 8)) == true)
        #expect(CIDR("::/0")?.contains(IPAddress(8, 8, 8, 8)) == false)
    }

    @Test func bareAddressIsSingleHost() {
        #expect(CIDR("1.2.3.4")?.description == "1.2.3.4/32")
        #expect(CIDR("::1")?.description == "::1/128")
        #expect(CIDR("1.2.3.4")?.contains(IPAddress(1, 2, 3, 5)) == false)
    }

    @Test func hostBitsAreMasked() {
        #expect(CIDR("10.1.2.3/16")?.description == "10.1.0.0/16")
        #expect(CIDR("10.1.2.3/16") == CIDR("10.1.0.0/16"))
        #expect(CIDR("fe80::1/10")?.description == "fe80::/10")
        #expect(CIDR("172.31.255.255/12")?.description == "172.16.0.0/12")
        #expect(CIDR(network: IPAddress(192, 168, 1, 1), prefixLength: 33) == nil)
    }

    @Test func rejectsMalformedNetworks() {
        for text in ["", "/8", "1.2.3.4/33", "::/129", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/08",
                     "1.2.3.4/8/8", "10.0.0.0/ 8", "1.2.3/8", "fe80::1%eth0/64", "::/1000", "1.2.3.4/x"] {
            #expect(CIDR(text) == nil, "\(text) must not parse")
        }
    }
}

struct AddressPolicyTests {
    let policy = AddressPolicy()

    private func verdict(_ text: String, _ policy: AddressPolicy = AddressPolicy()) throws -> AddressVerdict {
        policy.check(try #require(IPAddress(text), "\(text) must parse"))
    }

    /// The first, a middle and the last address of a network.
    private func samples(of network: CIDR) throws -> [IPAddress] {
        let bytes = network.network.bytes
        let hostBits = bytes.count * 8 - network.prefixLength
        func setting(_ value: (Int) -> UInt8) -> [UInt8] {
            bytes.enumerated().map { index, byte in
                let bits = min(max(hostBits - (bytes.count - 1 - index) * 8, 0), 8)
                return bits == 0 ? byte : byte | (value(index) & UInt8(truncatingIfNeeded: (1 << bits) - 1))
            }
        }
        let last = setting { _ in 0xFF }
        let middle = setting { $0 == 0 ? 0x80 : 0x5A } // top host bit set, then a pattern
        return try [bytes, middle, last].map { try #require(IPAddress(bytes: $0)) }
    }

    @Test func refusesStartMiddleAndEndOfEveryRange() throws {
        #expect(AddressPolicy.refusedRanges.count == 16)
        for (network, label) in AddressPolicy.refusedRanges {
            for address in try samples(of: network) {
                #expect(network.contains(address))
                #expect(
                    policy.check(address) == .refused(reason: "\(address) is in \(network) (\(label))"),
                    "\(address) in \(network)"
                )
            }
        }
    }

    @Test func refusesTheSpecifiedRangeBoundaries() throws {
        let refused = [
            "0.0.0.0", "0.255.255.255", "10.0.0.0", "10.128.0.1", "10.255.255.255", "100.64.0.0", "100.100.1.1",
            "100.127.255.255", "127.0.0.0", "127.0.0.1", "127.255.255.255", "169.254.0.0", "169.254.169.254",
            "169.254.255.255", "172.16.0.0", "172.20.1.1", "172.31.255.255", "192.0.0.0", "192.0.0.170",
            "192.0.0.255", "192.168.0.0", "192.168.1.1", "192.168.255.255", "198.18.0.0", "198.19.0.1",
            "198.19.255.255", "224.0.0.0", "230.1.2.3", "239.255.255.255", "240.0.0.0", "250.0.0.1",
            "255.255.255.255", "::", "::1", "fc00::", "fd12:3456::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::", "fe80::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff00::", "ff02::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        for text in refused {
            #expect(try !verdict(text).isAllowed, "\(text) must be refused")
        }
        let justOutside = [
            "1.0.0.0", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255",
            "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.0.1.0",
            "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255",
        ]
        for text in justOutside {
            #expect(try verdict(text) == .allowed, "\(text) must be allowed")
        }
    }

    @Test func reasonsNameTheAddressAndRange() throws {
        #expect(try verdict("127.0.0.1") == .refused(reason: "127.0.0.1 is in 127.0.0.0/8 (loopback)"))
        #expect(try verdict("255.255.255.255") == .refused(reason: "255.255.255.255 is in 240.0.0.0/4 (reserved, including broadcast)"))
        #expect(try verdict("0.0.0.0") == .refused(reason: "0.0.0.0 is in 0.0.0.0/8 (\"this\" network)"))
        #expect(try verdict("::ffff:7f00:1") == .refused(
            reason: "::ffff:127.0.0.1 is the IPv4-mapped form for 127.0.0.1, which is in 127.0.0.0/8 (loopback)"))
    }

    @Test func allowsPublicAddresses() throws {
        for text in ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2001:4860:4860::8888",
                     "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
            #expect(try verdict(text) == .allowed, "\(text) must be allowed")
        }
    }

    @Test func refusesIPv4MappedAndCompatibleForms() throws {
        for text in ["::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
                     "::ffff:0.0.0.0", "::ffff:255.255.255.255", "[::ffff:192.168.0.1]",
                     "::127.0.0.1", "::a9fe:a9fe", "::10.1.2.3", "::0.0.0.2", "::224.0.0.1"] {
            #expect(try !verdict(text).isAllowed, "\(text) must be refused")
        }
        // Every IPv4 range, through every embedding.
        for (network, _) in AddressPolicy.refusedIPv4Ranges {
            for v4 in try samples(of: network) {
                let b = v4.bytes
                let embeddings: [[UInt8]] = [
                    Array(repeating: 0, count: 10) + [0xFF, 0xFF] + b,
                    Array(repeating: 0, count: 12) + b,
                    [0x00, 0x64, 0xFF, 0x9B] + Array(repeating: 0, count: 8) + b,
                    [0x20, 0x02] + b + Array(repeating: 0, count: 9) + [1],
                ]
                for bytes in embeddings {
                    let address = try #require(IPAddress(bytes: bytes))
                    #expect(!policy.check(address).isAllowed, "\(address) embeds \(v4)")
                }
            }
        }
    }

    @Test func refusesNAT64And6to4EmbeddingsOfPrivateAddresses() throws {
        #expect(try verdict("64:ff9b::127.0.0.1") == .refused(
            reason: "64:ff9b::7f00:1 is the NAT64 (64:ff9b::/96) form for 127.0.0.1, which is in 127.0.0.0/8 (loopback)"))
        #expect(try !verdict("64:ff9b::a00:1").isAllowed)
        #expect(try !verdict("64:ff9b::a9fe:a9fe").isAllowed)
        #expect(try verdict("2002:c0a8:101::1") == .refused(
            reason: "2002:c0a8:101::1 is a 6to4 (2002::/16) address for 192.168.1.1, which is in 192.168.0.0/16 (private network)"))
        #expect(try !verdict("2002:7f00:1::").isAllowed)
        #expect(try !verdict("2002:a00:1:1234::5").isAllowed)
    }

    @Test func refusesIPv6OutsideGlobalUnicast() throws {
        for text in ["fec0::1", "64:ff9b:1::a00:1", "100::1", "::ffff:0:7f00:1", "4000::1", "::2:0:0:1", "e000::"] {
            #expect(try !verdict(text).isAllowed, "\(text) must be refused")
        }
        #expect(try verdict("fec0::1") == .refused(reason: "fec0::1 is outside 2000::/3 (not IPv6 global unicast)"))
        #expect(try verdict("3fff:ffff::1") == .allowed)
    }

    @Test func allowListWins() throws {
        let allowing = AddressPolicy(allowedNetworks: [try #require(CIDR("10.1.0.0/16"))])
        #expect(try verdict("10.1.2.3", allowing) == .allowed)
        #expect(try verdict("::ffff:10.1.2.3", allowing) == .allowed)
        #expect(try !verdict("10.2.0.1", allowing).isAllowed)
        #expect(try !verdict("127.0.0.1", allowing).isAllowed)

        let loopback = AddressPolicy(allowedNetworks: [try #require(CIDR("127.0.0.0/8"))])
        #expect(try verdict("127.0.0.1", loopback) == .allowed)
        #expect(try verdict("::ffff:127.0.0.1", loopback) == .allowed)
        #expect(try verdict("::127.0.0.1", loopback) == .allowed)
        #expect(try !verdict("::1", loopback).isAllowed, "IPv6 loopback is a different network")

        let ipv6 = AddressPolicy(allowedNetworks: [try #require(CIDR("fd00::/8")), try #require(CIDR("::1"))])
        #expect(try verdict("fd00::5", ipv6) == .allowed)
        #expect(try verdict("::1", ipv6) == .allowed)
        #expect(try !verdict("fc00::5", ipv6).isAllowed)
        #expect(try !verdict("127.0.0.1", ipv6).isAllowed)
    }

    @Test func allowPrivateNetworkAllowsEverything() throws {
        let open = AddressPolicy(allowPrivateNetwork: true)
        for text in ["127.0.0.1", "10.0.0.1", "::1", "::", "fe80::1", "::ffff:127.0.0.1", "255.255.255.255", "8.8.8.8"] {
            #expect(try verdict(text, open) == .allowed)
        }
    }
}

struct AddressResolverTests {
    private func addresses(_ texts: String...) throws -> [IPAddress] {
        try texts.map { try #require(IPAddress($0)) }
    }

    @Test func pickRefusesIfAnyAddressIsRefused() throws {
        let policy = AddressPolicy()
        let mixed = try addresses("93.184.216.34", "10.0.0.5")
        let refusal = try #require(AddressResolver.pick(mixed, policy: policy).failureValue)
        #expect(refusal.address == IPAddress(10, 0, 0, 5))
        #expect(refusal.description == "refusing to connect: 10.0.0.5 is in 10.0.0.0/8 (private network); "
            + "only globally routable addresses are allowed unless the network is explicitly allowed")

        let named = AddressResolver.pick(ResolvedHost(host: "hooks.example.com", addresses: mixed), policy: policy)
        #expect(named.failureValue?.description.hasPrefix("refusing to connect to hooks.example.com: 10.0.0.5 is in 10.0.0.0/8") == true)

        #expect(AddressResolver.pick(try addresses("2606:4700:4700::1111", "1.1.1.1"), policy: policy).successValue
            == IPAddress("2606:4700:4700::1111"))
        #expect(AddressResolver.pick(mixed, policy: AddressPolicy(allowPrivateNetwork: true)).successValue
            == IPAddress(93, 184, 216, 34))
        #expect(AddressResolver.pick([], policy: policy).failureValue?.description == "refusing to connect: no addresses to connect to")
    }

    @Test func resolvesIPLiteralsWithoutDNS() async throws {
        #expect(try await AddressResolver.resolve(host: "93.184.216.34") == [IPAddress(93, 184, 216, 34)])
        #expect(try await AddressResolver.resolve(host: "[::1]") == addresses("::1"))
        #expect(try await AddressResolver.resolve(host: "2606:4700:4700::1111") == addresses("2606:4700:4700::1111"))
    }

    @Test func localhostResolvesToLoopbackAndIsRefused() async throws {
        let resolved = try await AddressResolver.resolve(host: "localhost")
        #expect(!resolved.isEmpty)
        #expect(Set(resolved).count == resolved.count, "addresses are unique")
        for address in resolved {
            #expect(address == IPAddress(127, 0, 0, 1) || address == IPAddress("::1") || address.bytes.first == 127)
        }
        let refusal = AddressResolver.pick(ResolvedHost(host: "localhost", addresses: resolved), policy: AddressPolicy())
        #expect(refusal.failureValue?.description.contains("(loopback)") == true)
        let allowed = AddressResolver.pick(resolved, policy: AddressPolicy(allowPrivateNetwork: true))
        #expect(allowed.successValue == resolved.first)
    }

    @Test func rejectsMalformedAndAmbiguousHostsBeforeLookup() async {
        for host in ["", "010.0.0.1", "127.1", "0x7f000001", "2130706433", "1.2.3", "1.2.3.4.5", "0x7f.0.0.1",
                     "256.1.1.1", "1::2::3", "[1.2.3.4]", "[::1", "a\u{0}b", "example.com:443", "example.123."] {
            await #expect(throws: AddressResolutionError.self, "\(host)") {
                try await AddressResolver.resolve(host: host)
            }
        }
        #expect(AddressResolver.problem(with: "hooks.example.com") == nil)
        #expect(AddressResolver.problem(with: "1password.com") == nil)
        #expect(AddressResolver.problem(with: "localhost.") == nil)
        #expect(AddressResolver.problem(with: "0x7f000001") != nil)
    }

    @Test func resolutionErrorsReadClearly() {
        let error = AddressResolutionError(host: "hooks.example.com", reason: "Name or service not known", code: EAI_NONAME)
        #expect(error.description == "cannot resolve host \"hooks.example.com\": Name or service not known")
        #expect(!error.isTemporary)
        #expect(AddressResolutionError(host: "h", reason: "Temporary failure in name resolution", code: EAI_AGAIN).isTemporary)
    }
}

private extension Result {
    var successValue: Success? { try? get() }
    var failureValue: Failure? {
        guard case .failure(let failure) = self else { return nil }
        return failure
    }
}
