import Foundation
import MuseCore

/// The result of running a pipeline once.
public struct RunResult {
    /// Every value produced, keyed `stage.port` (and `input.name`).
    public let values: [String: Value]
    /// The pipeline's declared outputs, in file order.
    public let outputs: [(name: String, value: Value)]
    /// Wall time per stage (creating the stage, with its weights, + running it), in execution
    /// order; `reused` when the stage instance came from a `StageCache` (no setup).
    public let timings: [(stage: String, kind: String, setupSeconds: Double, runSeconds: Double, reused: Bool)]
}

/// Stage instances kept across runs of the same pipeline's variants (A/B), so a
/// stage that no variant changes is created, and its weights loaded, once.
///
/// The key is everything a stage is made from: the plugin file, the stage kind
/// and name, the folder relative paths resolve against, every config value with
/// its type, and the weights file (path, size and modification time). A stage
/// instance may therefore run more than once; stages keep no per-run state
/// (each run gets its inputs and a `StageContext`).
public final class StageCache {
    private var stages: [String: Stage] = [:]
    /// Stages created, and stages handed out again, so far.
    public private(set) var created = 0, reused = 0
    public init() {}

    /// The cache key of a resolved stage.
    public static func key(_ s: ResolvedStage) -> String {
        var parts = [s.entry.path, s.kind, s.name, s.config.baseDirectory.standardizedFileURL.path]
        for (k, v) in s.config.values.sorted(by: { $0.key < $1.key }) {
            switch v {
            case .int(let x): parts.append("\(k)=int:\(x)")
            case .float(let x): parts.append("\(k)=float:\(x.bitPattern)")
            case .bool(let x): parts.append("\(k)=bool:\(x)")
            case .string(let x): parts.append("\(k)=string:\(x)")
            }
        }
        if let w = s.config.weights {
            let attributes = try? FileManager.default.attributesOfItem(atPath: w.path)
            let size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            parts.append("weights=\(w.standardizedFileURL.path)@\(size)@\(modified)")
        }
        return parts.joined(separator: "\u{0}")
    }

    private var used: Set<String> = []
    /// Starts noting which stages the next runs use (see `dropUnused`).
    public func beginTracking() { used = [] }
    /// Drops every stage that no run used since `beginTracking`: a long-lived host
    /// (muse-serve) keeps only what its last run needed, so an edited config or a
    /// replaced weights file does not pile up copies of the weights.
    public func dropUnused() { stages = stages.filter { used.contains($0.key) } }
    /// Stages held now.
    public var count: Int { stages.count }

    /// The stage for `s`: a cached instance, or one made now (and kept).
    func stage(for s: ResolvedStage) throws -> (stage: Stage, reused: Bool) {
        let k = StageCache.key(s)
        used.insert(k)
        if let st = stages[k] { reused += 1; return (st, true) }
        let st = try s.entry.descriptor.make(s.config)
        stages[k] = st
        created += 1
        return (st, false)
    }
}

/// Runs a validated pipeline: stages in topological order, one after another.
/// A run whose progress reporter says it is cancelled stops before the next stage
/// (and inside stages that check, such as samplers) with `CancelledError`.
public struct PipelineRunner {
    public let progress: ProgressReporter
    /// Where stage instances are kept across runs (nil: each run creates its own).
    public let stageCache: StageCache?
    public init(progress: ProgressReporter = SilentProgress(), stageCache: StageCache? = nil) {
        self.progress = progress; self.stageCache = stageCache
    }

    public func run(_ p: ResolvedPipeline) throws -> RunResult {
        var values: [String: Value] = [:]
        for (name, v) in p.inputValues { values["input.\(name)"] = v }
        var timings: [(String, String, Double, Double, Bool)] = []
        for s in p.stages {
            if progress.isCancelled { throw CancelledError() }
            let t0 = DispatchTime.now()
            let stage: Stage
            var reused = false
            do {
                if let stageCache {
                    let got = try stageCache.stage(for: s)
                    stage = got.stage; reused = got.reused
                } else {
                    stage = try s.entry.descriptor.make(s.config)
                }
            } catch {
                throw MuseError("stage '\(s.name)' (\(s.kind)) could not be created: \(error)")
            }
            let t1 = DispatchTime.now()
            var inputs: [String: Value] = [:]
            for (port, src) in s.inputs { inputs[port] = values[src.description] }
            let context = StageContext(stageName: s.name, seed: SeededRNG.derive(p.seed, s.name), progress: progress)
            let produced: [String: Value]
            do { produced = try stage.run(StageInputs(inputs, stageName: s.name), context) } catch let e as CancelledError {
                throw e
            } catch {
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
            timings.append((s.name, s.kind, seconds(t0, t1), seconds(t1, t2), reused))
        }
        let outputs = p.outputs.compactMap { o in values[o.source.description].map { (o.name, $0) } }
        return RunResult(values: values, outputs: outputs, timings: timings)
    }

    /// Runs several items of one pipeline (the same stages and config; other inputs
    /// and seeds) together: stage by stage, a `BatchStage` gets every item in one
    /// call, any other stage runs once per item. Returns one result per item.
    public func runBatch(_ items: [ResolvedPipeline]) throws -> [RunResult] {
        guard let first = items.first else { return [] }
        for p in items {
            guard p.stages.map({ StageCache.key($0) }) == first.stages.map({ StageCache.key($0) }) else {
                throw MuseError("a batch run needs the same stages and config for every item")
            }
        }
        var values = items.map { p -> [String: Value] in
            var v: [String: Value] = [:]
            for (name, x) in p.inputValues { v["input.\(name)"] = x }
            return v
        }
        var timings: [(String, String, Double, Double, Bool)] = []
        let cache = stageCache ?? StageCache()
        for (k, s) in first.stages.enumerated() {
            if progress.isCancelled { throw CancelledError() }
            let t0 = DispatchTime.now()
            let got: (stage: Stage, reused: Bool)
            do { got = try cache.stage(for: s) } catch {
                throw MuseError("stage '\(s.name)' (\(s.kind)) could not be created: \(error)")
            }
            let t1 = DispatchTime.now()
            let inputs = items.indices.map { i -> StageInputs in
                var d: [String: Value] = [:]
                for (port, src) in items[i].stages[k].inputs { d[port] = values[i][src.description] }
                return StageInputs(d, stageName: s.name)
            }
            let contexts = items.map { StageContext(stageName: s.name, seed: SeededRNG.derive($0.seed, s.name), progress: progress) }
            var produced: [[String: Value]] = []
            do {
                if let b = got.stage as? BatchStage, items.count > 1 {
                    produced = try b.runBatch(inputs, contexts)
                    guard produced.count == items.count else {
                        throw MuseError("returned \(produced.count) results for \(items.count) items: a plugin bug")
                    }
                } else {
                    for i in items.indices { produced.append(try got.stage.run(inputs[i], contexts[i])) }
                }
            } catch let e as CancelledError {
                throw e
            } catch {
                throw MuseError("stage '\(s.name)' (\(s.kind)) failed: \(error)")
            }
            progress.finish(stage: s.name)
            for i in items.indices {
                for out in s.entry.spec.outputs {
                    guard let v = produced[i][out.name] else {
                        if out.optional { continue }
                        throw MuseError("stage '\(s.name)' (\(s.kind), plugin \(s.entry.plugin.name)) did not produce its output '\(out.name)': a plugin bug")
                    }
                    guard v.type == out.type else {
                        throw MuseError("stage '\(s.name)' (\(s.kind), plugin \(s.entry.plugin.name)) produced \(v.type.rawValue) on output '\(out.name)', declared \(out.type.rawValue): a plugin bug")
                    }
                    values[i]["\(s.name).\(out.name)"] = v
                }
            }
            let t2 = DispatchTime.now()
            timings.append((s.name, s.kind, seconds(t0, t1), seconds(t1, t2), got.reused))
        }
        return items.indices.map { i in
            RunResult(values: values[i], outputs: items[i].outputs.compactMap { o in values[i][o.source.description].map { (o.name, $0) } },
                      timings: timings)
        }
    }

    private func seconds(_ a: DispatchTime, _ b: DispatchTime) -> Double { Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e9 }
}
