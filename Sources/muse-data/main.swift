import ArgumentParser

/// `muse-data`: builds, inspects and scores the training data sets.
struct MuseData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "muse-data",
        abstract: "Build, inspect and score muse-swift's training data sets.",
        discussion: "Data set formats, the split rule, the caption grammar and the scorer's method: docs/data.md.",
        subcommands: [EmojiCommand.self, ScenesCommand.self, ScoreCommand.self, CheckScorerCommand.self,
                      ContactSheetCommand.self])
}

MuseData.main()
