import ArgumentParser
import NIOCore
import NIOPosix
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
            ConfigCommand.self,
            DemoCommand.self,
            BrokerCommand.self,
            ListenCommand.self,
            SecretCommand.self,
            SignCommand.self,
            VerifyCommand.self,
        ]
    )

    /// Runs the command with Swift concurrency's jobs on NIO's event loops instead of a second
    /// thread pool: tasks resumed by network events go on on the thread that saw the event.
    /// Installed once, on the main thread, before the command starts any task. Nothing the relay
    /// runs as a task blocks its thread (librdkafka's blocking calls and `getaddrinfo` have threads
    /// of their own), which is what this requires.
    static func main() async {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await main(nil)
    }
}
