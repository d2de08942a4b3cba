import Foundation
import MuseCore

/// Checks a whole pipeline against the loaded plugins' declarations before
/// anything runs, and resolves it. Reports every problem with `file:line:column`.
public struct PipelineValidator {
    public let registry: PluginRegistry
    public init(registry: PluginRegistry) { self.registry = registry }

    public func resolve(_ doc: PipelineDocument, overrides: PipelineOverrides = PipelineOverrides(),
                        variant: String? = nil) throws -> ResolvedPipeline {
        var issues: [PipelineIssue] = []
        func fail(_ at: SourceLocation, _ msg: String) { issues.append(PipelineIssue(location: at, message: msg)) }

        // 1. Apply the variant and the --set overrides to the stage declarations.
        var stages = doc.stages
        if let variantName = variant {
            guard let v = doc.variants.first(where: { $0.name == variantName }) else {
                throw PipelineError(SourceLocation(file: doc.file.path, line: 0, column: 0),
                                    "no variant '\(variantName)'\(didYouMean(variantName, among: doc.variants.map(\.name)))")
            }
            for o in v.stages {
                guard let i = stages.firstIndex(where: { $0.name == o.stage.value }) else {
                    fail(o.stage.location, "variant '\(v.name)' changes stage '\(o.stage.value)', which the pipeline does not have\(didYouMean(o.stage.value, among: stages.map(\.name)))")
                    continue
                }
                if let k = o.kind { stages[i].kind = k }
                if let p = o.plugin { stages[i].plugin = p }
                if let w = o.weights { stages[i].weights = w }
                if o.kind != nil { stages[i].config = [] }   // a new kind starts from its own defaults
                for c in o.config { setConfig(&stages[i], c.key, c.value) }
            }
            for s in v.sets { applySet(&stages, path: s.path, value: s.value, &issues) }
        }
        for s in overrides.sets {
            let at = SourceLocation.commandLine("--set \(s)")
            guard let eq = s.firstIndex(of: "=") else { fail(at, "--set wants stage.key=value"); continue }
            let path = String(s[..<eq]), text = String(s[s.index(after: eq)...])
            applySet(&stages, path: Located(path, at), value: RawScalar(text: text, quoted: false, location: at), &issues)
        }

        // 2. Pipeline inputs: command-line values over defaults, loaded and typed.
        var inputValues: [String: Value] = [:]
        var failedInputs: Set<String> = []
        var inputTypes: [String: ValueType] = [:]
        for name in overrides.inputs.keys.sorted() where !doc.inputs.contains(where: { $0.name == name }) {
            fail(.commandLine("--\(name)"), "this pipeline has no input '\(name)'\(didYouMean(name, among: doc.inputs.map(\.name)))"
                 + (doc.inputs.isEmpty ? "" : "; its inputs: \(doc.inputs.map(\.name).joined(separator: ", "))"))
        }
        for decl in doc.inputs {
            inputTypes[decl.name] = decl.type
            let raw: RawScalar?, relativeTo: URL
            if let cli = overrides.inputs[decl.name] {
                raw = RawScalar(text: cli, quoted: true, location: .commandLine("--\(decl.name)"))
                relativeTo = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            } else {
                raw = decl.defaultValue
                relativeTo = doc.directory
            }
            guard let raw else { continue }   // checked below only if a stage uses it
            do { inputValues[decl.name] = try Self.inputValue(raw, type: decl.type, name: decl.name, relativeTo: relativeTo) }
            catch { fail(raw.location, "\(error)"); failedInputs.insert(decl.name) }
        }

        // 3. Each stage: kind, plugin, config, weights, input wiring.
        var resolved: [String: ResolvedStage] = [:]
        var stageOrder: [String] = []
        let names = stages.map(\.name)
        for s in stages {
            guard let entry = registry.kinds[s.kind.value] else {
                var msg = "unknown stage kind '\(s.kind.value)'\(didYouMean(s.kind.value, among: registry.sortedKinds))"
                if !registry.failures.isEmpty { msg += "; plugins that failed to load: " + registry.failures.map { $0.path }.joined(separator: ", ") }
                else { msg += "; run `muse-run --list-plugins` to see the kinds available" }
                fail(s.kind.location, msg)
                continue
            }
            if let p = s.plugin, p.value != entry.plugin.name {
                fail(p.location, "stage '\(s.name)' asks for plugin '\(p.value)' but kind '\(s.kind.value)' comes from plugin '\(entry.plugin.name)' (\(entry.path))")
            }
            let values = checkConfig(s, entry.spec, &issues)
            var weights: URL?
            switch (entry.spec.weights, s.weights) {
            case (.none, let w?):
                fail(w.location, "stage '\(s.name)' (\(s.kind.value)) takes no weights")
            case (.required, nil):
                fail(s.location, "stage '\(s.name)' (\(s.kind.value)) needs a weights file: add `weights: PATH`")
            case (_, let w?):
                let url = URL(fileURLWithPath: w.value, relativeTo: doc.directory).standardizedFileURL
                if !FileManager.default.fileExists(atPath: url.path) {
                    fail(w.location, "stage '\(s.name)': weights file not found: \(url.path)")
                }
                weights = url
            default: break
            }
            var wiring: [String: ValueSource] = [:]
            for (port, ref) in s.inputs {
                guard let portSpec = entry.spec.input(port.value) else {
                    fail(port.location, "stage '\(s.name)' (\(s.kind.value)) has no input port '\(port.value)'\(didYouMean(port.value, among: entry.spec.inputs.map(\.name)))"
                         + "; its inputs: \(entry.spec.inputs.map(\.name).joined(separator: ", "))")
                    continue
                }
                let parts = ref.value.split(separator: ".", maxSplits: 1).map(String.init)
                guard parts.count == 2 else {
                    fail(ref.location, "input '\(port.value)' of stage '\(s.name)': '\(ref.value)' is not a reference (write stage.port or input.name)")
                    continue
                }
                if parts[0] == "input" {
                    guard let t = inputTypes[parts[1]] else {
                        fail(ref.location, "'\(ref.value)': the pipeline has no input '\(parts[1])'\(didYouMean(parts[1], among: Array(inputTypes.keys)))")
                        continue
                    }
                    if t != portSpec.type {
                        fail(ref.location, "type mismatch: input '\(parts[1])' is \(t.rawValue) but port '\(s.name).\(port.value)' takes \(portSpec.type.rawValue)")
                    }
                    let optionalInput = doc.inputs.first { $0.name == parts[1] }?.optional ?? false
                    if inputValues[parts[1]] == nil && !failedInputs.contains(parts[1]) && !optionalInput {
                        fail(ref.location, "input '\(parts[1])' has no default and was not given: pass --\(parts[1]) (or --input \(parts[1])=VALUE)")
                    }
                    wiring[port.value] = .input(parts[1])
                } else {
                    guard let src = stages.first(where: { $0.name == parts[0] }) else {
                        fail(ref.location, "'\(ref.value)': no stage named '\(parts[0])'\(didYouMean(parts[0], among: names))")
                        continue
                    }
                    if src.name == s.name { fail(ref.location, "stage '\(s.name)' takes its own output '\(ref.value)' (a cycle)"); continue }
                    if let srcEntry = registry.kinds[src.kind.value] {
                        guard let out = srcEntry.spec.output(parts[1]) else {
                            fail(ref.location, "'\(ref.value)': stage '\(src.name)' (\(src.kind.value)) has no output '\(parts[1])'\(didYouMean(parts[1], among: srcEntry.spec.outputs.map(\.name)))"
                                 + "; its outputs: \(srcEntry.spec.outputs.map(\.name).joined(separator: ", "))")
                            continue
                        }
                        if out.type != portSpec.type {
                            fail(ref.location, "type mismatch: '\(ref.value)' is \(out.type.rawValue) but port '\(s.name).\(port.value)' takes \(portSpec.type.rawValue)")
                        }
                    }
                    wiring[port.value] = .stage(parts[0], port: parts[1])
                }
            }
            for p in entry.spec.inputs where !p.optional && !s.inputs.contains(where: { $0.port.value == p.name }) {
                fail(s.location, "stage '\(s.name)' (\(s.kind.value)) needs input '\(p.name)' (\(p.type.rawValue)) wired under `inputs:`")
            }
            let config = StageConfig(values: values, weights: weights, baseDirectory: doc.directory, stageName: s.name)
            resolved[s.name] = ResolvedStage(name: s.name, entry: entry, config: config, inputs: wiring, location: s.location)
            stageOrder.append(s.name)
        }

        // 4. Execution order; a cycle is an error.
        var ordered = topologicalOrder(stageOrder, resolved, stages, &issues)

        // 4b. Optional inputs left out: a stage that needs one on a required port (directly,
        // or through a stage that does not run) does not run; an optional port fed by
        // one gets nothing.
        var skipped: [String: String] = [:]   // stage -> the optional input it lacks
        let optionalInputs = Set(doc.inputs.filter(\.optional).map(\.name))
        func absentInput(_ src: ValueSource) -> String? {
            switch src {
            case .input(let n): return optionalInputs.contains(n) && inputValues[n] == nil ? n : nil
            case .stage(let st, _): return skipped[st]
            }
        }
        for name in ordered {
            guard let st = resolved[name] else { continue }
            var wiring = st.inputs
            var lacking: String?
            for (port, src) in st.inputs.sorted(by: { $0.key < $1.key }) {
                guard let absent = absentInput(src) else { continue }
                if st.entry.spec.input(port)?.optional == true { wiring[port] = nil } else { lacking = lacking ?? absent }
            }
            if let lacking { skipped[name] = lacking; continue }
            resolved[name] = ResolvedStage(name: st.name, entry: st.entry, config: st.config, inputs: wiring, location: st.location)
        }
        ordered.removeAll { skipped[$0] != nil }

        // 5. Outputs.
        var outputs: [(String, ValueSource, ValueType)] = []
        for (name, ref) in doc.outputs {
            let parts = ref.value.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0] == "input", let t = inputTypes[parts[1]] {
                if let absent = absentInput(.input(parts[1])) {
                    fail(ref.location, "output '\(name)' is the optional input '\(absent)', which was not given")
                    continue
                }
                outputs.append((name, .input(parts[1]), t)); continue
            }
            guard parts.count == 2, let st = resolved[parts[0]] else {
                if parts.count == 2 && stages.contains(where: { $0.name == parts[0] }) { continue }   // stage already reported
                fail(ref.location, "output '\(name)': '\(ref.value)' does not name a stage output (stage.port)\(parts.count == 2 ? didYouMean(parts[0], among: names) : "")")
                continue
            }
            guard let out = st.entry.spec.output(parts[1]) else {
                fail(ref.location, "output '\(name)': stage '\(parts[0])' has no output '\(parts[1])'\(didYouMean(parts[1], among: st.entry.spec.outputs.map(\.name)))")
                continue
            }
            if let absent = skipped[parts[0]] {
                fail(ref.location, "output '\(name)' comes from stage '\(parts[0])', which needs the optional input '\(absent)': give --\(absent) (or --input \(absent)=VALUE)")
                continue
            }
            outputs.append((name, .stage(parts[0], port: parts[1]), out.type))
        }

        // The run seed: --seed, else the pipeline's `seed` input (a whole number >= 0), else 0.
        var seed: UInt64 = overrides.seed ?? 0
        if overrides.seed == nil, case .scalar(let s)? = inputValues["seed"] {
            if s >= 0 && s < 0x1p63 && s == s.rounded() { seed = UInt64(s) }
            else {
                let at = doc.inputs.first { $0.name == "seed" }.map { overrides.inputs["seed"] != nil ? SourceLocation.commandLine("--seed") : ($0.defaultValue?.location ?? $0.location) }
                fail(at ?? SourceLocation(file: doc.file.path, line: 0, column: 0), "the seed must be a whole number from 0 to 2^63, got \(s)")
            }
        }
        if !issues.isEmpty { throw PipelineError(issues) }
        return ResolvedPipeline(document: doc, stages: ordered.compactMap { resolved[$0] }, inputValues: inputValues,
                                outputs: outputs, seed: seed, variant: variant)
    }

    // MARK: helpers

    private func setConfig(_ stage: inout StageDecl, _ key: Located<String>, _ value: RawScalar) {
        if let i = stage.config.firstIndex(where: { $0.key.value == key.value }) { stage.config[i] = (key, value) }
        else { stage.config.append((key, value)) }
    }

    private func applySet(_ stages: inout [StageDecl], path: Located<String>, value: RawScalar, _ issues: inout [PipelineIssue]) {
        let parts = path.value.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            issues.append(PipelineIssue(location: path.location, message: "'\(path.value)' should be stage.key"))
            return
        }
        guard let i = stages.firstIndex(where: { $0.name == parts[0] }) else {
            issues.append(PipelineIssue(location: path.location, message: "'\(path.value)': no stage named '\(parts[0])'\(didYouMean(parts[0], among: stages.map(\.name)))"))
            return
        }
        setConfig(&stages[i], Located(parts[1], path.location), value)
    }

    /// Types every config value against the declaration; fills defaults.
    private func checkConfig(_ s: StageDecl, _ spec: StageSpec, _ issues: inout [PipelineIssue]) -> [String: ConfigValue] {
        var values: [String: ConfigValue] = [:]
        for k in spec.config { if let d = k.defaultValue { values[k.name] = d } }
        for (key, raw) in s.config {
            guard let decl = spec.configKey(key.value) else {
                issues.append(PipelineIssue(location: key.location,
                    message: "stage '\(s.name)' (\(spec.kind)) has no config key '\(key.value)'\(didYouMean(key.value, among: spec.config.map(\.name)))"
                        + (spec.config.isEmpty ? "; it takes none" : "; its keys: \(spec.config.map(\.name).joined(separator: ", "))")))
                continue
            }
            do { values[decl.name] = try Self.typed(raw, decl) } catch {
                issues.append(PipelineIssue(location: raw.location, message: "stage '\(s.name)' config '\(decl.name)': \(error)"))
            }
        }
        let given = Set(s.config.map(\.key.value))
        for k in spec.config where k.defaultValue == nil && values[k.name] == nil && !given.contains(k.name) {
            issues.append(PipelineIssue(location: s.location, message: "stage '\(s.name)' (\(spec.kind)) needs config key '\(k.name)' (\(k.type.rawValue)): \(k.doc)"))
        }
        return values
    }

    /// Converts a raw scalar to the key's type, checking choices and range.
    static func typed(_ raw: RawScalar, _ key: ConfigKey) throws -> ConfigValue {
        let t = raw.text.trimmingCharacters(in: .whitespaces)
        let value: ConfigValue
        switch key.type {
        case .int:
            guard !raw.quoted, let v = Int(t) else { throw MuseError("expected an integer, got '\(raw.text)'") }
            value = .int(v)
        case .float:
            guard !raw.quoted, let v = Double(t), v.isFinite else { throw MuseError("expected a number, got '\(raw.text)'") }
            value = .float(v)
        case .bool:
            switch t.lowercased() {
            case "true", "yes", "on": value = .bool(true)
            case "false", "no", "off": value = .bool(false)
            default: throw MuseError("expected true or false, got '\(raw.text)'")
            }
        case .string, .path:
            value = .string(raw.text)
        }
        if !key.choices.isEmpty, case .string(let s) = value, !key.choices.contains(s) {
            throw MuseError("'\(s)' is not one of \(key.choices.joined(separator: ", "))\(didYouMean(s, among: key.choices))")
        }
        if let r = key.range {
            var x: Double?
            if case .int(let v) = value { x = Double(v) }
            if case .float(let v) = value { x = v }
            if let x, !r.contains(x) { throw MuseError("\(raw.text) is outside the allowed range \(r.lowerBound)...\(r.upperBound)") }
        }
        return value
    }

    /// Loads a pipeline input value from its text.
    static func inputValue(_ raw: RawScalar, type: ValueType, name: String, relativeTo: URL) throws -> Value {
        switch type {
        case .text:
            return .text(raw.text)
        case .scalar:
            guard let v = Double(raw.text.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw MuseError("input '\(name)' must be a number, got '\(raw.text)'")
            }
            return .scalar(v)
        case .image:
            let url = URL(fileURLWithPath: raw.text, relativeTo: relativeTo).standardizedFileURL
            return .image(try PNGCodec.read(url))
        case .mask:
            let url = URL(fileURLWithPath: raw.text, relativeTo: relativeTo).standardizedFileURL
            return .mask(Mask(luminanceOf: try PNGCodec.read(url)))
        default:
            throw MuseError("input '\(name)': type \(type.rawValue) cannot be given as a pipeline input")
        }
    }

    private func topologicalOrder(_ order: [String], _ stages: [String: ResolvedStage], _ decls: [StageDecl],
                                  _ issues: inout [PipelineIssue]) -> [String] {
        var indegree: [String: Int] = [:]
        var dependents: [String: [String]] = [:]
        for n in order {
            let deps = Set(stages[n]!.inputs.values.compactMap { src -> String? in
                if case .stage(let s, _) = src, stages[s] != nil { return s }
                return nil
            })
            indegree[n] = deps.count
            for d in deps { dependents[d, default: []].append(n) }
        }
        var ready = order.filter { indegree[$0] == 0 }
        var out: [String] = []
        while !ready.isEmpty {
            let n = ready.removeFirst()
            out.append(n)
            for m in dependents[n] ?? [] {
                indegree[m]! -= 1
                if indegree[m] == 0 { ready.append(m); ready.sort { order.firstIndex(of: $0)! < order.firstIndex(of: $1)! } }
            }
        }
        if out.count < order.count {
            let cyclic = order.filter { !out.contains($0) }
            let at = decls.first { $0.name == cyclic[0] }?.location ?? SourceLocation(file: "?", line: 0, column: 0)
            issues.append(PipelineIssue(location: at, message: "the stages \(cyclic.joined(separator: ", ")) form a cycle (each waits for another's output)"))
        }
        return out
    }
}
