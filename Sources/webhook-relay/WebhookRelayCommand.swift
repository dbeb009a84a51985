import ArgumentParser
import WebhookRelay

/// The `webhook-relay` command line: delivers webhooks from Kafka and the tools around it.
@main
struct WebhookRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook-relay",
        abstract: "Delivers signed webhooks from Kafka, with retries through delay topics and a dead-letter topic.",
        version: WebhookRelayVersion.current,
        subcommands: [
            RunCommand.self,
            SendCommand.self,
            TopicsCommand.self,
            DeadLetterCommand.self,
            RepublishCommand.self,
            EndpointsCommand.self,
            ConfigCommand.self,
            DemoCommand.self,
            BrokerCommand.self,
            ListenCommand.self,
            SecretCommand.self,
            SignCommand.self,
            VerifyCommand.self,
        ]
    )
}
