import ArgumentParser
import WebhookSignature

/// Lets `--scheme standard|nself|ed25519` parse straight into a ``SignatureScheme``.
extension SignatureScheme: ExpressibleByArgument {}
