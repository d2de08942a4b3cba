import ArgumentParser
import Foundation
import MuseCore
import MuseEngine

/// `muse-train precision-check`: fp32 vs bf16 (mixed precision) loss curves.
struct PrecisionCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "precision-check",
        abstract: "Train a small transformer and a small conv net on fp32 and on bf16 (mixed precision) and compare the loss curves.",
        discussion: """
        Both runs start from the same seed and see the same data; only the
        backend of the GEMMs and convolutions differs (bf16 operands, fp32
        accumulation, fp32 master weights and AdamW state). Prints the mean loss
        per window of steps for both, their relative difference, and the time
        per step of each backend. On a CPU without native bf16 (no AMX, no
        AVX512-BF16) oneDNN emulates bf16, so the bf16 run is slower there;
        below AVX-512 oneDNN has no bf16 and the command stops with an error.
        """)

    @Option(help: "Training steps per run.")
    var steps = 3000

    @Option(help: "Steps per reported window.")
    var window = 250

    @Option(help: "Seed for data and initialisation.")
    var seed: UInt64 = 1

    @Option(help: "Which tasks: transformer, conv, or both.")
    var task = "both"

    func run() throws {
        let tasks: [MixedPrecisionCheck.Task]
        switch task {
        case "both": tasks = MixedPrecisionCheck.Task.allCases
        default:
            guard let t = MixedPrecisionCheck.Task(rawValue: task) else { throw ValidationError("--task must be transformer, conv or both") }
            tasks = [t]
        }
        let backends: [ComputeBackend] = [try BackendChoice.fp32.makeBackend(), try BackendChoice.bf16.makeBackend()]
        let progress = TerminalProgress()
        for t in tasks {
            var curves: [MixedPrecisionCheck.Curve] = []
            var seconds: [Double] = []
            for be in backends {
                let t0 = Date()
                let task = "\(t.rawValue) on \(be.name)"
                curves.append(MixedPrecisionCheck.run(t, steps: steps, seed: seed, backend: be) { step, loss in
                    progress.update(stage: task, step: step, total: steps, note: String(format: "loss %.4f", loss))
                })
                seconds.append(Date().timeIntervalSince(t0))
                progress.finish(stage: task)
            }
            let a = MixedPrecisionCheck.windowMeans(curves[0].losses, window: window)
            let b = MixedPrecisionCheck.windowMeans(curves[1].losses, window: window)
            print("\(t.rawValue): mean loss per \(window) steps")
            print("  steps        fp32        bf16    rel.diff")
            for i in 0..<a.count {
                print(String(format: "  %5d  %10.5f  %10.5f  %9.2f%%", min(steps, (i + 1) * window), a[i], b[i], 100 * abs(b[i] - a[i]) / max(a[i], 1e-8)))
            }
            print(String(format: "  time per step: fp32 %.2f ms (%@), bf16 %.2f ms (%@)",
                         1000 * seconds[0] / Double(steps), backends[0].name, 1000 * seconds[1] / Double(steps), backends[1].name))
        }
    }
}
