/// What the names of librdkafka properties say about their values.
public enum KafkaPropertyNames {
    /// Whether the property's value is a credential, never to be shown: passwords, secrets, keys
    /// and tokens (`sasl.password`, `ssl.key.password`, `ssl.key.pem`, `sasl.oauthbearer.client.secret`),
    /// and the settings that embed them (`sasl.oauthbearer.config`, `sasl.jaas.config`,
    /// `sasl.kerberos.keytab` contents). Paths to files (`*.location`) are not credentials.
    public static func isSensitive(_ name: String) -> Bool {
        let lowered = name.lowercased()
        guard !lowered.hasSuffix(".location") else { return false }
        let words = ["password", "secret", "key", "token", "credential", "jaas", "oauthbearer.config", "keytab", ".pem"]
        return words.contains { lowered.contains($0) } && lowered != "ssl.ca.pem" && lowered != "ssl.certificate.pem"
    }
}
