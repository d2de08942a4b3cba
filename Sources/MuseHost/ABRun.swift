import Foundation
import MuseCore

extension ConfigValue {
    /// The value as a JSON-ready object (numbers stay numbers).
    var jsonValue: Any {
        switch self {
        case .int(let v): return v
        case .float(let v): return v
        case .bool(let v): return v
        case .string(let v): return v
        }
    }
}

/// Runs every variant of a pipeline on the same inputs and seed, and lays the
/// results side by side in one labelled grid, with a JSON report of each
/// variant's settings and per-stage wall times.
public struct ABRun {
    public let document: PipelineDocument
    public let validator: PipelineValidator
    public let overrides: PipelineOverrides
    public let progress: ProgressReporter
    /// The output laid out in the grid (`muse-run --output`); nil: the first.
    public let output: String?
    /// Stage instances shared by the variants (see `StageCache`), and by later runs
    /// when the caller passes its own (muse-serve keeps one per pipeline).
    public let stageCache: StageCache

    public init(document: PipelineDocument, validator: PipelineValidator, overrides: PipelineOverrides, progress: ProgressReporter,
                output: String? = nil, stageCache: StageCache = StageCache()) {
        self.document = document; self.validator = validator; self.overrides = overrides; self.progress = progress
        self.output = output; self.stageCache = stageCache
    }

    public struct Outcome {
        public let grid: Image
        /// Each variant's laid-out output, in variant order.
        public let images: [Image]
        public let report: [String: Any]
    }

    /// Validates every variant first (all problems reported together), then runs them.
    public func run(cellSize: Int = 256) throws -> Outcome {
        precondition(!document.variants.isEmpty)
        var resolved: [ResolvedPipeline] = []
        var issues: [PipelineIssue] = []
        for v in document.variants {
            do { resolved.append(try validator.resolve(document, overrides: overrides, variant: v.name)) }
            catch let e as PipelineError { issues += e.issues.map { PipelineIssue(location: $0.location, message: "variant '\(v.name)': \($0.message)") } }
        }
        if !issues.isEmpty { throw PipelineError(issues) }
        // Every variant must lay out the same, image-typed output (the one named by
        // `output`, else the first): check them all before running any.
        let fileLocation = SourceLocation(file: document.file.path, line: 0, column: 0)
        guard let declared = resolved.first?.outputs, !declared.isEmpty else {
            throw PipelineError(fileLocation, "an A/B run needs an image output under `outputs:`")
        }
        let first: (name: String, source: ValueSource, type: ValueType)
        if let want = output {
            guard let o = declared.first(where: { $0.name == want }) else {
                throw PipelineError(SourceLocation.commandLine("--output"),
                                    "the pipeline has no output '\(want)'\(didYouMean(want, among: declared.map(\.name))); its outputs: \(declared.map(\.name).joined(separator: ", "))")
            }
            first = o
        } else {
            first = declared[0]
        }
        for (v, p) in zip(document.variants, resolved) {
            guard let o = p.outputs.first(where: { $0.name == first.name }), o.type == .image || o.type == .mask else {
                throw PipelineError(fileLocation, "variant '\(v.name)': an A/B run lays out the output '\(first.name)', which must be an image or mask in every variant")
            }
        }
        var images: [Image] = []
        var labels: [String] = []
        var variantsReport: [[String: Any]] = []
        // Stages that no variant changes are created (and their weights loaded) once.
        let runner = PipelineRunner(progress: progress, stageCache: stageCache)
        for (v, p) in zip(document.variants, resolved) {
            let result = try runner.run(p)
            guard let out = result.outputs.first(where: { $0.name == first.name })?.value else {
                throw MuseError("variant '\(v.name)' produced no '\(first.name)' output")
            }
            switch out {
            case .image(let img): images.append(img)
            case .mask(let m): images.append(Image(mask: m))
            default: throw MuseError("variant '\(v.name)': first output is not an image")
            }
            let changes = v.sets.map { "\($0.path.value)=\($0.value.text)" }
                + v.stages.map { o in "\(o.stage.value):" + ([o.kind.map { "kind=\($0.value)" }, o.plugin.map { "plugin=\($0.value)" },
                                                            o.weights.map { "weights=\(URL(fileURLWithPath: $0.value).lastPathComponent)" }].compactMap { $0 }
                                                           + o.config.map { "\($0.key.value)=\($0.value.text)" }).joined(separator: ",") }
            labels.append(([v.name] + changes).joined(separator: " "))
            let total = result.timings.reduce(0) { $0 + $1.setupSeconds + $1.runSeconds }
            variantsReport.append([
                "name": v.name,
                "changes": changes,
                "stages": p.stages.map { s -> [String: Any] in
                    ["name": s.name, "kind": s.kind, "plugin": s.entry.plugin.name,
                     "config": Dictionary(uniqueKeysWithValues: s.config.values.map { ($0.key, $0.value.jsonValue) }),
                     "weights": s.config.weights?.path ?? NSNull()]
                },
                "timings": result.timings.map { ["stage": $0.stage, "kind": $0.kind, "setup_seconds": $0.setupSeconds, "run_seconds": $0.runSeconds,
                                                 "reused": $0.reused] },
                "total_seconds": total,
            ])
        }
        let size = min(cellSize, max(images.map { max($0.width, $0.height) }.max() ?? 64, 64))
        let title = "\(document.file.lastPathComponent)  seed \(resolved[0].seed)"
        let grid = ImageGrid.make(images: images, labels: labels, columns: images.count, cellSize: size,
                                  labelLines: 3, title: title)
        let report: [String: Any] = [
            "pipeline": document.file.path,
            "seed": resolved[0].seed,
            "inputs": Dictionary(uniqueKeysWithValues: resolved[0].inputValues.map { ($0.key, $0.value.summary) }),
            "output": first.name,
            "variants": variantsReport,
        ]
        return Outcome(grid: grid, images: images, report: report)
    }
}
