import ArgumentParser
import Foundation
import MuseCore
import MuseHost

/// `muse-run`: runs a pipeline graph of plugin stages from a YAML file.
@main
struct MuseRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "muse-run",
        abstract: "Run a muse-swift pipeline (a YAML graph of plugin stages).",
        discussion: """
        Examples:
          muse-run Pipelines/txt2img-64.yaml --prompt "a red circle above two blue stars" --out out/red.png
          muse-run Pipelines/resize-ab.yaml --image photo.png           (A/B: one grid, one JSON report)
          muse-run Pipelines/resize.yaml --set resize.filter=bilinear --seed 7
          muse-run --list-plugins
          muse-run --describe image.resize
          muse-run Pipelines/outpaint.yaml --describe                   (the pipeline's inputs and stages)

        Plugins are found next to muse-run, in each folder of $MUSE_PLUGIN_PATH
        (colon-separated), in --plugins folders or files, and in the pipeline's own
        `plugins:` list (paths relative to the YAML file). The pipeline format is
        documented in docs/pipelines.md.
        """)

    @Argument(help: "The pipeline YAML file to run (or, with --describe, a stage kind to describe).")
    var pipeline: String?

    @Option(help: "Text prompt: sets the pipeline input 'prompt'. Repeat it for a batch run: every prompt (times --seeds) goes through the pipeline together, batched through the transformer.")
    var prompt: [String] = []

    @Option(name: .customLong("prompts-file"), help: ArgumentHelp("A file of prompts, one per line (blank lines skipped): a batch run, like repeating --prompt.", valueName: "file"))
    var promptsFile: String?

    @Option(help: "Images per prompt, with seeds seed, seed+1, ... (a batch run when more than 1 item in all).")
    var seeds: Int = 1

    @Option(name: .customLong("negative-prompt"), help: "Negative prompt: sets the pipeline input 'negative_prompt'.")
    var negativePrompt: String?

    @Option(help: "PNG file: sets the pipeline input 'image'.")
    var image: String?

    @Option(help: "PNG file (white = region to generate): sets the pipeline input 'mask'.")
    var mask: String?

    @Option(help: "Run seed (default: the pipeline's 'seed' input, else 0). The same seed gives the same output.")
    var seed: UInt64?

    @Option(name: .customLong("from"), help: ArgumentHelp("Rerun what made this PNG: its pipeline, inputs, seed and settings (written into every image muse-run saves, as a 'muse:run' text chunk). Other options given here override them.", valueName: "png"))
    var from: String?

    @Option(name: .customLong("input"), help: ArgumentHelp("Set any pipeline input (repeatable).", valueName: "name=value"))
    var inputs: [String] = []

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a stage's config key (repeatable).", valueName: "stage.key=value"))
    var sets: [String] = []

    @Option(help: "Where to write the output (.png for images and masks, .safetensors for embeddings and token grids). Default: out/<pipeline>.<ext>.")
    var out: String?

    @Option(help: "Which of the pipeline's outputs to write (default: the first); in an A/B run, the one laid out in the grid.")
    var output: String?

    @Option(help: "Run only this A/B variant instead of all of them.")
    var variant: String?

    @Option(name: .customLong("plugins"), help: ArgumentHelp("A plugin folder or .so file to load (repeatable).", valueName: "path"))
    var pluginPaths: [String] = []

    @Flag(name: .customLong("list-plugins"), help: "List the plugins found and the stage kinds each provides, then exit.")
    var listPlugins = false

    @Flag(help: "Describe stage kinds (all, or the one named), or a pipeline's inputs and stages, then exit.")
    var describe = false

    @Flag(help: "Print nothing but errors (no progress line, no timings).")
    var quiet = false

    /// Refuses arguments that are not valid UTF-8 before parsing them: Swift would
    /// turn the bad bytes into U+FFFD, which the text encoder silently drops.
    static func main() {
        if let problem = UTF8Check.problem(inArguments: UTF8Check.rawArguments) {
            FileHandle.standardError.write(Data("error: \(problem)\n".utf8))
            Foundation.exit(1)
        }
        main(nil)
    }

    mutating func run() throws {
        do { try execute() } catch let e as PipelineError {
            FileHandle.standardError.write((e.description + "\n").data(using: .utf8)!)
            throw ExitCode(1)
        } catch let e as ExitCode {
            throw e
        } catch {
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
            throw ExitCode(1)
        }
    }

    func info(_ s: String) { if !quiet { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) } }

    func execute() throws {
        let registry = PluginRegistry()
        for folder in PluginRegistry.defaultFolders() { registry.loadFolder(folder) }
        for p in pluginPaths {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue { registry.loadFolder(p) }
            else { try registry.load(p) }
        }

        if listPlugins {
            for lp in registry.plugins {
                print("\(lp.plugin.name) \(lp.plugin.version)  \(lp.path)")
                for d in lp.plugin.stages { print("  \(d.spec.kind): \(d.spec.summary)") }
            }
            for f in registry.failures { print("FAILED \(f.path): \(f.error)") }
            return
        }

        if describe && (pipeline == nil || !(pipeline!.hasSuffix(".yaml") || pipeline!.hasSuffix(".yml"))) {
            let kinds = pipeline.map { [$0] } ?? registry.sortedKinds
            for k in kinds {
                guard let e = registry.kinds[k] else {
                    throw MuseError("no stage kind '\(k)' among the loaded plugins\(didYouMean(k, among: registry.sortedKinds))")
                }
                print(e.spec.describe + "  (plugin \(e.plugin.name), \(e.path))\n")
            }
            return
        }

        let recorded = try from.map { try RunProvenance.read(URL(fileURLWithPath: $0)) }
        guard let pipelinePath = (pipeline ?? recorded?.pipeline).map(PathCase.resolve) else {
            throw ValidationError("name a pipeline YAML file to run (see --help), or use --list-plugins / --describe")
        }
        let doc = try PipelineDocument.load(URL(fileURLWithPath: pipelinePath))
        for p in doc.plugins {
            let url = URL(fileURLWithPath: p.value, relativeTo: doc.directory).standardizedFileURL
            do { try registry.load(url.path) } catch { throw PipelineError(p.location, "\(error)") }
        }

        var overrides = PipelineOverrides()
        if let recorded {
            overrides.inputs = recorded.inputs
            overrides.seed = recorded.seed
            overrides.sets = recorded.sets
        }
        if let seed { overrides.seed = seed }
        overrides.sets += sets
        var prompts = prompt
        if let promptsFile {
            let text: String
            do { text = try String(contentsOfFile: promptsFile, encoding: .utf8) } catch {
                throw MuseError("\(promptsFile): cannot read the prompts file (\(error.localizedDescription))")
            }
            prompts += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard seeds >= 1 else { throw ValidationError("--seeds must be at least 1") }
        if prompts.count == 1 { overrides.inputs["prompt"] = prompts[0] }
        if let negativePrompt { overrides.inputs["negative_prompt"] = negativePrompt }
        if let image { overrides.inputs["image"] = image }
        if let mask { overrides.inputs["mask"] = mask }
        for kv in inputs {
            guard let eq = kv.firstIndex(of: "=") else { throw ValidationError("--input wants name=value, got '\(kv)'") }
            overrides.inputs[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
        }

        let validator = PipelineValidator(registry: registry)
        if describe {
            print(describePipeline(doc, registry))
            return
        }
        let progress: ProgressReporter = (!quiet && TerminalProgress.stderrIsTerminal) ? TerminalProgress() : SilentProgress()
        let name = URL(fileURLWithPath: pipelinePath).deletingPathExtension().lastPathComponent

        if !doc.variants.isEmpty && variant == nil && recorded?.variant == nil {
            let outcome = try ABRun(document: doc, validator: validator, overrides: overrides, progress: progress, output: output).run()
            let outURL = URL(fileURLWithPath: out ?? "out/\(name)-ab.png")
            guard outURL.pathExtension.lowercased() == "png" else { throw MuseError("an A/B run writes a PNG grid: give --out a .png path") }
            try PNGCodec.write(outcome.grid, to: outURL)
            let reportURL = outURL.deletingPathExtension().appendingPathExtension("json")
            let json = try JSONSerialization.data(withJSONObject: outcome.report, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(json, to: reportURL, what: "JSON report")
            for v in (outcome.report["variants"] as? [[String: Any]]) ?? [] {
                info(String(format: "  %@: %.3f s", (v["name"] as? String) ?? "?", (v["total_seconds"] as? Double) ?? 0))
            }
            print(outURL.path)
            info("wrote \(outURL.path) and \(reportURL.path)")
            return
        }

        let chosenVariant = variant ?? recorded?.variant
        if prompts.count > 1 || seeds > 1 {
            try runBatch(doc: doc, validator: validator, overrides: overrides, prompts: prompts.count > 1 ? prompts : [],
                         variant: chosenVariant, progress: progress, name: name, pipelinePath: pipelinePath)
            return
        }
        let resolved = try validator.resolve(doc, overrides: overrides, variant: chosenVariant)
        let result = try PipelineRunner(progress: progress).run(resolved)
        for t in result.timings {
            info(String(format: "  %-16@ %-18@ setup %7.3f s  run %7.3f s", t.stage as NSString, t.kind as NSString, t.setupSeconds, t.runSeconds))
        }
        guard !result.outputs.isEmpty else { return }
        let chosen: (name: String, value: Value)
        if let want = output ?? recorded?.output {
            guard let o = result.outputs.first(where: { $0.name == want }) else {
                throw MuseError("the pipeline has no output '\(want)'\(didYouMean(want, among: result.outputs.map(\.name)))")
            }
            chosen = o
        } else {
            chosen = result.outputs[0]
        }
        let outURL = URL(fileURLWithPath: out ?? "out/\(name).\(ValueWriter.defaultExtension(chosen.value.type))")
        let provenance = RunProvenance.of(document: doc, pipelinePath: pipelinePath, overrides: overrides, seed: resolved.seed,
                                          variant: chosenVariant, output: chosen.name)
        try ValueWriter.write(chosen.value, to: outURL, texts: [(RunProvenance.keyword, try provenance.json())])
        print(outURL.path)
        info("wrote \(chosen.name) (\(chosen.value.summary)) to \(outURL.path)")
    }

    /// Several prompts and/or seeds through the pipeline together: one resolved pipeline
    /// per item (seeds seed, seed+1, ... for each prompt), run by `PipelineRunner.runBatch`
    /// (a `BatchStage` such as a sampler gets every item in one call). Writes each item's
    /// output (`<out>-<i>.png`, with its own provenance) and a labelled grid (`<out>-grid.png`).
    func runBatch(doc: PipelineDocument, validator: PipelineValidator, overrides: PipelineOverrides, prompts: [String],
                  variant: String?, progress: ProgressReporter, name: String, pipelinePath: String) throws {
        if !doc.variants.isEmpty && variant == nil {
            throw MuseError("a batch run (several prompts or --seeds) runs one variant: add --variant NAME (variants: \(doc.variants.map(\.name).joined(separator: ", ")))")
        }
        var first = overrides
        if let p = prompts.first { first.inputs["prompt"] = p }
        let base = try validator.resolve(doc, overrides: first, variant: variant).seed
        var items: [(prompt: String?, seed: UInt64, overrides: PipelineOverrides)] = []
        for p in prompts.isEmpty ? [nil] : prompts.map({ Optional($0) }) {
            for k in 0..<seeds {
                var o = overrides
                if let p { o.inputs["prompt"] = p }
                let (s, overflow) = base.addingReportingOverflow(UInt64(k))
                guard !overflow, s < 1 << 63 else { throw MuseError("seed \(base) + \(k) is past 2^63") }
                o.seed = s
                items.append((p, s, o))
            }
        }
        let resolved = try items.map { try validator.resolve(doc, overrides: $0.overrides, variant: variant) }
        let t0 = Date()
        let results = try PipelineRunner(progress: progress).runBatch(resolved)
        info(String(format: "  %d items in %.2f s (%.3f s per item)", items.count, Date().timeIntervalSince(t0), Date().timeIntervalSince(t0) / Double(items.count)))
        guard let firstOutputs = results.first?.outputs, !firstOutputs.isEmpty else { return }
        let want = output ?? firstOutputs[0].name
        guard firstOutputs.contains(where: { $0.name == want }) else {
            throw MuseError("the pipeline has no output '\(want)'\(didYouMean(want, among: firstOutputs.map(\.name)))")
        }
        let type = firstOutputs.first { $0.name == want }!.value.type
        let outURL = URL(fileURLWithPath: out ?? "out/\(name).\(ValueWriter.defaultExtension(type))")
        let stem = outURL.deletingPathExtension().path, ext = outURL.pathExtension
        var images: [Image] = [], labels: [String] = []
        for (i, r) in results.enumerated() {
            let value = r.outputs.first { $0.name == want }!.value
            let url = URL(fileURLWithPath: "\(stem)-\(i).\(ext)")
            let provenance = RunProvenance.of(document: doc, pipelinePath: pipelinePath, overrides: items[i].overrides, seed: items[i].seed,
                                              variant: variant, output: want)
            try ValueWriter.write(value, to: url, texts: [(RunProvenance.keyword, try provenance.json())])
            print(url.path)
            if case .image(let img) = value {
                images.append(img)
                labels.append((items[i].prompt.map { "\($0), " } ?? "") + "seed \(items[i].seed)")
            }
        }
        if !images.isEmpty {
            let size = max(64, min(256, images.map { max($0.width, $0.height) }.max() ?? 64))
            let grid = ImageGrid.make(images: images, labels: labels, columns: min(8, images.count), cellSize: size, labelLines: 3)
            let gridURL = URL(fileURLWithPath: "\(stem)-grid.png")
            try PNGCodec.write(grid, to: gridURL)
            print(gridURL.path)
            info("wrote \(results.count) \(want) outputs and the grid \(gridURL.path)")
        }
    }

    func describePipeline(_ doc: PipelineDocument, _ registry: PluginRegistry) -> String {
        var s = "\(doc.file.path)\n"
        if !doc.description.isEmpty { s += "  \(doc.description)\n" }
        s += "inputs (set with --NAME for prompt/negative-prompt/image/mask/seed, or --input NAME=VALUE):\n"
        for i in doc.inputs {
            s += "  \(i.name) (\(i.type.rawValue))\(i.defaultValue.map { ", default \"\($0.text)\"" } ?? (i.optional ? ", optional" : ", required")): \(i.doc)\n"
        }
        s += "stages:\n"
        for st in doc.stages {
            let plugin = registry.kinds[st.kind.value].map { " [\($0.plugin.name)]" } ?? " [not loaded]"
            s += "  \(st.name): \(st.kind.value)\(plugin)\n"
        }
        if !doc.outputs.isEmpty { s += "outputs: " + doc.outputs.map { "\($0.name) = \($0.ref.value)" }.joined(separator: ", ") + "\n" }
        if !doc.variants.isEmpty { s += "variants (A/B): " + doc.variants.map(\.name).joined(separator: ", ") + "\n" }
        return s
    }
}
