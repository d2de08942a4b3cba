import Foundation
import MuseCore

/// The result of running a pipeline once.
public struct RunResult {
    /// Every value produced, keyed `stage.port` (and `input.name`).
    public let values: [String: Value]
    /// The pipeline's declared outputs, in file order.
    public let outputs: [(name: String, value: Value)]
    /// Wall time per stage (creating the stage, with its weights, + running it), in execution order.
    public let timings: [(stage: String, kind: String, setupSeconds: Double, runSeconds: Double)]
}

/// Runs a validated pipeline: stages in topological order, one after another.
public struct PipelineRunner {
    public let progress: ProgressReporter
    public init(progress: ProgressReporter = SilentProgress()) { self.progress = progress }

    public func run(_ p: ResolvedPipeline) throws -> RunResult {
        var values: [String: Value] = [:]
        for (name, v) in p.inputValues { values["input.\(name)"] = v }
        var timings: [(String, String, Double, Double)] = []
        for s in p.stages {
            let t0 = DispatchTime.now()
            let stage: Stage
            do { stage = try s.entry.descriptor.make(s.config) } catch {
                throw MuseError("stage '\(s.name)' (\(s.kind)) could not be created: \(error)")
            }
            let t1 = DispatchTime.now()
            var inputs: [String: Value] = [:]
            for (port, src) in s.inputs { inputs[port] = values[src.description] }
            let context = StageContext(stageName: s.name, seed: SeededRNG.derive(p.seed, s.name), progress: progress)
            let produced: [String: Value]
            do { produced = try stage.run(StageInputs(inputs, stageName: s.name), context) } catch {
                throw MuseError("stage '\(s.name)' (\(s.kind)) failed: \(error)")
            }
            progress.finish(stage: s.name)
            for out in s.entry.spec.outputs {
                guard let v = produced[out.name] else {
                    if out.optional { continue }
                    throw MuseError("stage '\(s.name)' (\(s.kind), plugin \(s.entry.plugin.name)) did not produce its output '\(out.name)': a plugin bug")
                }
                guard v.type == out.type else {
                    throw MuseError("stage '\(s.name)' (\(s.kind), plugin \(s.entry.plugin.name)) produced \(v.type.rawValue) on output '\(out.name)', declared \(out.type.rawValue): a plugin bug")
                }
                values["\(s.name).\(out.name)"] = v
            }
            let t2 = DispatchTime.now()
            timings.append((s.name, s.kind, seconds(t0, t1), seconds(t1, t2)))
        }
        let outputs = p.outputs.compactMap { o in values[o.source.description].map { (o.name, $0) } }
        return RunResult(values: values, outputs: outputs, timings: timings)
    }

    private func seconds(_ a: DispatchTime, _ b: DispatchTime) -> Double { Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e9 }
}

/// A one-line progress display on stderr (`\r`-updated), for terminals.
public final class TerminalProgress: ProgressReporter {
    private var lastWidth = 0
    private var lastDraw = DispatchTime(uptimeNanoseconds: 0)
    public init() {}

    public func update(stage: String, step: Int, total: Int, note: String) {
        let now = DispatchTime.now()
        // Redraw at most 20 times a second, but always the last step.
        if step < total && now.uptimeNanoseconds - lastDraw.uptimeNanoseconds < 50_000_000 { return }
        lastDraw = now
        let frac = total > 0 ? min(1, max(0, Double(step) / Double(total))) : 0
        let barWidth = 24
        let filled = Int(frac * Double(barWidth))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled)
        var line = "\(stage) [\(bar)] \(step)/\(total)"
        if !note.isEmpty { line += " \(note)" }
        let pad = max(0, lastWidth - line.count)
        FileHandle.standardError.write(("\r" + line + String(repeating: " ", count: pad)).data(using: .utf8)!)
        lastWidth = line.count
    }

    public func finish(stage: String) {
        if lastWidth > 0 { FileHandle.standardError.write("\n".data(using: .utf8)!); lastWidth = 0 }
    }

    /// True when stderr is a terminal.
    public static var stderrIsTerminal: Bool { isatty(2) != 0 }
}
