import ArgumentParser

/// `muse-train`: training runs and checkpoint tools.
struct MuseTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "muse-train", abstract: "Train muse-swift models and manage checkpoints.", subcommands: [])
}

MuseTrain.main()
