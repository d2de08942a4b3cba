import ArgumentParser

/// `muse-bench`: engine benchmarks, each figure printed next to its ceiling.
struct MuseBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "muse-bench", abstract: "Benchmarks of the muse-swift engine.")
    func run() throws {}
}

MuseBench.main()
