/// The header scheme a webhook is signed with.
///
/// Each scheme fixes the header names, the signed content and the signature encoding:
///
/// - ``standard``: Standard Webhooks 1.0 (as used by Svix and Outpost). Headers `webhook-id`,
///   `webhook-timestamp`, `webhook-signature`; symmetric `whsec_` secrets produce `v1,` HMAC-SHA256
///   signatures. A `standard` signer or verifier also accepts Ed25519 keys (`whsk_` / `whpk_`), which
///   produce and check `v1a,` signatures in the same header.
/// - ``nself``: the nSelf webhook package's headers (`X-Nself-Signature-256: sha256=<hex>`,
///   `X-Nself-Delivery`, `X-Nself-Event`, `X-Nself-Timestamp`), byte-compatible with the original.
/// - ``ed25519``: Standard Webhooks headers with asymmetric `v1a,` Ed25519 signatures only:
///   signing takes `whsk_` keys, verifying takes `whpk_` keys.
public enum SignatureScheme: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Standard Webhooks 1.0, symmetric `v1` (HMAC-SHA256) signatures, optionally mixed with `v1a` ones.
    case standard
    /// The nSelf webhook package's `X-Nself-*` headers with a hex HMAC-SHA256 signature.
    case nself
    /// Standard Webhooks 1.0 headers with asymmetric `v1a` (Ed25519) signatures only.
    case ed25519

    /// The scheme's name as used on the command line and in configuration (`standard`, `nself`, `ed25519`).
    public var description: String { rawValue }

    /// The verification tolerance used when none is configured: five minutes for every scheme.
    /// The original nSelf package checks no timestamp, so a signature from a month ago verified
    /// there — a replay waiting to happen; this verifier checks it for `nself` too (the relay signs
    /// each attempt with the current time). `Configuration(tolerance: nil)` matches the original.
    public var defaultTolerance: Duration? {
        switch self {
        case .standard, .ed25519, .nself: .seconds(300)
        }
    }
}
