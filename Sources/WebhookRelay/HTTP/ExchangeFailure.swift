import NIOCore
import NIOSSL

/// A failure while the connection for an exchange was being opened (TCP or TLS), as opposed to
/// one during the exchange itself: the two are told apart in the attempt's outcome.
struct ConnectFailure: Error {
    let underlying: any Error
}

extension AttemptOutcome {
    /// The outcome of an attempt whose exchange failed with `error`.
    static func failure(_ error: any Error) -> AttemptOutcome {
        let connecting = error is ConnectFailure
        let error = (error as? ConnectFailure)?.underlying ?? error
        switch error {
        case HTTP1ExchangeError.timedOut: return .timeout
        case HTTP1ExchangeError.cancelled: return .cutShort
        case HTTP1ExchangeError.noLocalResources(let reason): return .localShortage(reason)
        case HTTP1ExchangeError.tlsFailed(let reason): return .tlsFailed(reason)
        case let error as HTTP1ParseError: return .invalidResponse(error.description)
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError, is WebhookHTTPClient.TLSSetupError:
            return .tlsFailed(WebhookHTTPClient.describe(error))
        default:
            let text = WebhookHTTPClient.describe(error)
            return connecting ? .connectFailed(text) : .connectionFailed(text)
        }
    }
}

extension WebhookHTTPClient {
    /// A short text for an attempt's error: `timeout`, `connect timeout`, the socket error.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HTTP1ExchangeError: error.description
        case let error as HTTP1ParseError: error.description
        case ChannelError.connectTimeout: "connect timeout"
        case let error as IOError: "connection failed: \(error.description)"
        case let error as NIOSSLError: "TLS: \(error)"
        case let error as BoringSSLError: "TLS: \(error)"
        case let error as NIOSSLExtraError: "TLS: \(error)"
        case let error as TLSSetupError: error.description
        default: "\(error)"
        }
    }
}
