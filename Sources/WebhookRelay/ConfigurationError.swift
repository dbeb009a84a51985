/// A configuration value, flag or file that cannot be used, with a message naming the problem.
/// Messages never contain secret values.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong and where.
    public let message: String

    /// Creates an error with a message naming the problem.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
