/// Every setting a flag, an environment variable or the `--config` file can give: the one list of
/// them. Its raw value is the config file's key; the flag and the variable follow from it
/// (`max_in_flight` → `--max-in-flight`, `WEBHOOK_RELAY_MAX_IN_FLIGHT`), and the config file
/// accepts exactly these keys.
enum Setting: String, CaseIterable, Sendable {
    case brokers, endpoints, group
    case endpointRegistry = "endpoint_registry"
    case registryKey = "registry_key"
    case groupInstanceID = "group_instance_id"
    case operationalEndpoint = "operational_endpoint"
    case topicPrefix = "topic_prefix"
    case retrySchedule = "retry_schedule"
    case retryJitter = "retry_jitter"
    case kafka
    case maxInFlight = "max_in_flight"
    case bodyLimit = "body_limit"
    case drainTimeout = "drain_timeout"
    case rebalanceDrainTimeout = "rebalance_drain_timeout"
    case allowNetwork = "allow_network"
    case allowPrivateNetwork = "allow_private_network"
    case caFile = "ca_file"
    case adminPort = "admin_port"
    case adminBind = "admin_bind"
    case apiToken = "api_token"
    case logLevel = "log_level"
    case logFormat = "log_format"

    /// The config file's key.
    var key: String { rawValue }
    /// The command-line flag, e.g. `--max-in-flight`.
    var flag: String { "--" + rawValue.replacingOccurrences(of: "_", with: "-") }
    /// The environment variable, e.g. `WEBHOOK_RELAY_MAX_IN_FLIGHT`.
    var variable: String { "WEBHOOK_RELAY_" + rawValue.uppercased() }
}
