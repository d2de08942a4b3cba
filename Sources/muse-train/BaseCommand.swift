import ArgumentParser
import Foundation
import MuseCore
import MuseEngine
import MuseBaseTransformer

/// `muse-train base`: trains the base masked transformer on cached tokens and text states.
struct BaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "base",
        abstract: "Train the base masked transformer (text -> image tokens) on procedural scenes and emoji.",
        discussion: """
        Data: a pool of token grids (the image tokenizer named by data.tokenizer applied to procedural \
        training scenes and to the emoji training split) with the text encoder's hidden states of every \
        caption, built once into data.cache (about 25 minutes on 2 cores for the shipped config; its name hashes the tokenizer \
        weights and everything else it depends on). Each example takes a random caption variant; \
        null_prompt_fraction of them the null prompt; a masking rate r = cos(pi/2 u) (or arccos) of its \
        tokens become [MASK]; the loss is cross-entropy on the masked tokens with label smoothing. \
        AdamW with weight decay on matrices only, linear warmup then cosine decay. \
        The run folder holds state.safetensors (weights, AdamW moments, step, RNG, data position: the run \
        resumes from it), loss.csv, eval.csv (held-out masked loss and accuracy), loss.png and \
        snapshots/ (F16 weights at each checkpoint, for --export-weights with --ema). SIGINT or SIGTERM \
        stops after the current step with a checkpoint; killed any other way, the run loses at most the \
        steps since its last checkpoint. Config keys: docs/training.md.
        """)

    @OptionGroup var options: TrainingRunOptions

    @Option(help: "Export the checkpoint EMA (decay 0.7, the paper's) of the last N snapshots and the final weights instead of the final weights alone (0: final weights).")
    var ema: Int = 0

    func run() throws {
        do {
            let dtype = try options.dtype()
            guard ema >= 0 else { throw MuseError("--ema must be 0 or more") }
            var recipe = try BaseRecipe.load(URL(fileURLWithPath: options.config))
            if let c = options.checkpointEvery { recipe.checkpointEverySeconds = max(0, c) }
            var trainer = try BaseTrainer(recipe: recipe, runDirectory: URL(fileURLWithPath: options.runFolder), evaluate: !options.noEval)
            try options.checkExportHasState(trainer.resumedFromState)
            try trainer.train(maxSteps: options.maxSteps, maxSeconds: options.maxSeconds)
            if let e = options.exportWeights { try trainer.export(to: URL(fileURLWithPath: e), dtype: dtype, emaSnapshots: ema) }
        } catch let e as MuseError {
            FileHandle.standardError.write(Data("muse-train base: error: \(e.message)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// Where the base run is in its data: epoch and position in the epoch's permutation of the pool.
struct BaseDataState: Codable, Equatable {
    var epoch = 0
    var position = 0
}

/// The base transformer's training loop: pool, model, AdamW, checkpoints, logs, evaluation.
struct BaseTrainer {
    let recipe: BaseRecipe
    let runDirectory: URL
    let model: BaseTransformerModel
    let optimizer: AdamW
    let pool: BasePool
    var data = BaseDataState()
    private var order: [Int] = []
    private var orderEpoch = -1
    var rng: SeededRNG
    var step = 0
    var samplesSeen = 0
    let evalSet: BaseEvalSet?
    var resumedFromState = false
    var lastEvalStep: Int?

    var stateURL: URL { runDirectory.appendingPathComponent("state.safetensors") }
    var lossURL: URL { runDirectory.appendingPathComponent("loss.csv") }
    var evalURL: URL { runDirectory.appendingPathComponent("eval.csv") }
    var snapshotDir: URL { runDirectory.appendingPathComponent("snapshots") }

    init(recipe: BaseRecipe, runDirectory: URL, evaluate: Bool) throws {
        self.recipe = recipe
        self.runDirectory = runDirectory
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let codebook = try BaseTrainer.codebookName(recipe.tokenizer)
        model = try BaseTransformerModel(recipe.model, codebookName: codebook, seed: SeededRNG.derive(recipe.seed, "init"))
        optimizer = AdamW(beta1: recipe.beta1, beta2: recipe.beta2, eps: 1e-8, weightDecay: recipe.weightDecay)
        rng = SeededRNG(seed: SeededRNG.derive(recipe.seed, "train"))
        let stateURL = runDirectory.appendingPathComponent("state.safetensors")
        if FileManager.default.fileExists(atPath: stateURL.path) {
            let reader = try CheckpointReader(stateURL)
            let saved = try BaseTransformerConfig.parse(json: reader.metadata["muse.base"] ?? "", source: stateURL.path)
            guard saved == recipe.model else {
                throw MuseError("\(stateURL.path) was trained with another model config (\(saved.json())); use a new run folder")
            }
            guard reader.metadata["muse.codebook"] == codebook else {
                throw MuseError("\(stateURL.path) predicts codebook '\(reader.metadata["muse.codebook"] ?? "")', the tokenizer's is '\(codebook)'; use a new run folder")
            }
            for key in ["train.seed", "train.pool"] {
                let now = key == "train.seed" ? "\(recipe.seed)" : BaseTrainer.poolKey(recipe)
                if let was = reader.metadata[key], was != now {
                    throw MuseError("\(stateURL.path) was trained with \(key) \(was), the config gives \(now); the saved data position would not match (use a new run folder)")
                }
            }
            for (key, now) in [("train.backend", model.backendName), ("train.workers", "\(Engine.workers)")] {
                if let was = reader.metadata[key], was != now {
                    log("warning: \(key) was \(was) and is \(now) now; the run continues, but not bit-for-bit as it would have")
                }
            }
            let (s, r) = try TrainingCheckpoint.load(from: stateURL, model: model, optimizer: optimizer)
            step = s; rng = r
            guard let d = reader.metadata["train.data"], let ds = try? JSONDecoder().decode(BaseDataState.self, from: Data(d.utf8)),
                  let seen = Int(reader.metadata["train.samples_seen"] ?? "") else {
                throw MuseError("\(stateURL.path): missing or malformed data position (train.data, train.samples_seen)")
            }
            data = ds; samplesSeen = seen
            log("resumed \(stateURL.path) at step \(step) (\(samplesSeen) samples seen)")
            try TrainingLog.truncateLog(runDirectory.appendingPathComponent("loss.csv"), afterStep: step)
            try TrainingLog.truncateLog(runDirectory.appendingPathComponent("eval.csv"), afterStep: step)
            resumedFromState = true
            lastEvalStep = TrainingLog.lastStep(in: runDirectory.appendingPathComponent("eval.csv"))
        } else {
            log("new run in \(runDirectory.path): \(model.parameterCount) parameters, \(recipe.model.json())")
        }
        pool = try BasePool.open(recipe)
        guard pool.tokensPerGrid == recipe.model.tokens else {
            throw MuseError("\(pool.url.path): grids of \(pool.tokensPerGrid) tokens, the model predicts \(recipe.model.tokens)")
        }
        guard pool.count >= recipe.batchSize else { throw MuseError("the pool has \(pool.count) images, fewer than one batch of \(recipe.batchSize)") }
        log("pool: \(pool.count) images, \(pool.captionCount) distinct captions (\(pool.url.lastPathComponent))")
        evalSet = evaluate ? try BaseEvalSet(recipe: recipe, config: recipe.model) : nil
    }

    /// The codebook name of a tokenizer weights file (what the model's grids index).
    static func codebookName(_ url: URL) throws -> String {
        guard let name = try CheckpointReader(url).metadata["muse.codebook"], !name.isEmpty else {
            throw MuseError("\(url.path): no 'muse.codebook' metadata (not image-tokenizer weights?)")
        }
        return name
    }

    /// What the data position refers to: the pool's make-up (not the cache file name).
    static func poolKey(_ r: BaseRecipe) -> String {
        "scenes=\(r.scenes)/seed=\(r.sceneSeed)/emoji=\(r.emojiDir == nil ? "no" : "yes")/size=\(r.imageSize)"
    }

    /// The next `n` pool items of the epoch permutation (seeded by epoch).
    private mutating func nextItems(_ n: Int) -> [Int] {
        var out: [Int] = []
        while out.count < n {
            if data.position >= pool.count { data.epoch += 1; data.position = 0 }
            if orderEpoch != data.epoch {
                var r = SeededRNG(seed: SeededRNG.derive(recipe.seed, "order/\(data.epoch)"))
                order = Array(0..<pool.count)
                r.shuffle(&order)
                orderEpoch = data.epoch
            }
            out.append(order[data.position])
            data.position += 1
        }
        return out
    }

    /// One training batch: caption variant, null prompt and mask drawn from `rng`.
    private mutating func nextBatch() throws -> (BaseBatch, [Int], [Bool]) {
        let items = nextItems(recipe.batchSize)
        let T = recipe.model.tokens
        var texts: [TextEmbedding?] = [], inputs: [Int] = [], targets: [Int] = [], selected: [Bool] = []
        for i in items {
            let caps = pool.captions(of: i)
            let c = caps[caps.startIndex + rng.int(caps.count)]
            texts.append(rng.uniform() < recipe.nullFraction ? nil : pool.text(c))
            let r = recipe.masking.rate(Double(rng.uniform()))
            let masked = BaseExampleDraw.maskPositions(count: max(1, Int((r * Double(T)).rounded(.up))), of: T, rng: &rng)
            for (t, id) in pool.grid(i).enumerated() {
                targets.append(Int(id))
                selected.append(masked.contains(t))
                inputs.append(masked.contains(t) ? recipe.model.maskID : Int(id))
            }
        }
        let p = try BaseBatch.packText(texts, dim: recipe.model.textDim, maxTokens: recipe.model.maxTextTokens)
        return (BaseBatch(tokens: inputs, text: p.text, textMask: p.mask, isNull: p.isNull), targets, selected)
    }

    func saveCheckpoint() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var meta = model.metadata
        meta["train.data"] = String(decoding: try encoder.encode(data), as: UTF8.self)
        meta["train.samples_seen"] = "\(samplesSeen)"
        meta["train.seed"] = "\(recipe.seed)"
        meta["train.pool"] = BaseTrainer.poolKey(recipe)
        meta["train.backend"] = model.backendName
        meta["train.workers"] = "\(Engine.workers)"
        try TrainingCheckpoint.save(to: stateURL, model: model, optimizer: optimizer, step: step, rng: rng, metadata: meta)
    }

    /// F16 weights of this step in snapshots/ (the checkpoint EMA's inputs); keeps the newest `snapshotsKept`.
    func saveSnapshot() throws {
        guard recipe.snapshotsKept > 0 else { return }
        try FileManager.default.createDirectory(at: snapshotDir, withIntermediateDirectories: true)
        try model.saveWeights(to: snapshotDir.appendingPathComponent(String(format: "step-%07d.safetensors", step)), dtype: .f16,
                              extra: ["muse.step": "\(step)", "muse.samples_seen": "\(samplesSeen)"])
        let all = try snapshots()
        for old in all.dropLast(recipe.snapshotsKept) { try? FileManager.default.removeItem(at: old) }
    }

    /// Snapshot files, oldest first, up to the current step (a resumed run ignores newer ones).
    func snapshots() throws -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: snapshotDir.path)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".safetensors") }.sorted()
            .filter { Int($0.dropFirst(5).dropLast(12)).map { $0 <= step } ?? false }
            .map { snapshotDir.appendingPathComponent($0) }
    }

    /// Writes the shipped weights: the final ones, or the EMA (decay 0.7) of the last
    /// `emaSnapshots` snapshots followed by the final weights.
    func export(to url: URL, dtype: SafeTensorDType, emaSnapshots: Int) throws {
        var extra = ["muse.samples_seen": "\(samplesSeen)", "muse.step": "\(step)"]
        if emaSnapshots > 0 {
            let snaps = try snapshots().filter { !$0.lastPathComponent.contains(String(format: "%07d", step)) }.suffix(emaSnapshots)
            let tmp = runDirectory.appendingPathComponent("final-f32.safetensors.tmp"), avg = runDirectory.appendingPathComponent("ema.safetensors.tmp")
            defer { try? FileManager.default.removeItem(at: tmp); try? FileManager.default.removeItem(at: avg) }
            try model.saveWeights(to: tmp)
            try CheckpointEMA.average(Array(snaps) + [tmp], decay: 0.7, output: avg)
            let averaged = try BaseTransformerModel(model.config, codebookName: model.codebookName, seed: 0)
            try averaged.load(contentsOf: avg)
            extra["muse.ema"] = "decay 0.7 over \(snaps.count) snapshots (\(snaps.map { $0.lastPathComponent }.joined(separator: ", "))) and step \(step)"
            try averaged.saveWeights(to: url, dtype: dtype, extra: extra)
        } else {
            try model.saveWeights(to: url, dtype: dtype, extra: extra)
        }
        log("wrote weights to \(url.path)\(emaSnapshots > 0 ? " (\(extra["muse.ema"]!))" : "")")
    }

    mutating func evaluate() throws {
        guard let evalSet, lastEvalStep != step else { return }
        lastEvalStep = step
        let t0 = Date()
        let r = try evalSet.measure(model)
        log(String(format: "eval at step %d (%d samples): held-out masked loss %.4f, accuracy %.2f%% over %d examples [%.1f s]",
                   step, samplesSeen, r.loss, 100 * r.accuracy, evalSet.count, Date().timeIntervalSince(t0)))
        try TrainingLog.append(String(format: "%d,%d,%.5f,%.5f", step, samplesSeen, r.loss, r.accuracy),
                                    to: evalURL, header: "step,samples_seen,eval_loss,eval_accuracy")
    }

    func writeLossCurve() throws {
        guard let text = try? String(contentsOf: lossURL, encoding: .utf8) else { return }
        var train: [(Double, Double)] = [], held: [(Double, Double)] = []
        for line in text.split(separator: "\n").dropFirst() {
            let c = line.split(separator: ",")
            if c.count >= 5, let s = Double(c[1]), let l = Double(c[4]) { train.append((s, l)) }
        }
        if let e = try? String(contentsOf: evalURL, encoding: .utf8) {
            for line in e.split(separator: "\n").dropFirst() {
                let c = line.split(separator: ",")
                if c.count >= 3, let s = Double(c[1]), let l = Double(c[2]) { held.append((s, l)) }
            }
        }
        let plot = LossCurvePlot(title: "base transformer: masked-token cross-entropy", xLabel: "samples seen",
                                 logY: false, series: [.init(name: "train (label smoothing)", points: train, colour: [0.1, 0.3, 0.8]),
                                                       .init(name: "held-out", points: held, colour: [0.85, 0.3, 0.1])])
        try PNGCodec.write(plot.render(), to: runDirectory.appendingPathComponent("loss.png"))
    }

    mutating func train(maxSteps: Int?, maxSeconds: Double?) throws {
        installStopHandlers()
        let start = Date()
        var lastCheckpoint = Date(), lastEval = Date(timeIntervalSince1970: 0)
        var windowStart = Date(), windowSamples = 0, windowLoss = 0.0, windowCorrect = 0, windowMasked = 0, windowSteps = 0
        let params = model.namedParameters
        if step == 0 { try saveCheckpoint() }
        while step < recipe.totalSteps {
            if stopRequested != 0 { log("stop requested"); break }
            if let m = maxSteps, step >= m { break }
            if let s = maxSeconds, Date().timeIntervalSince(start) >= s { break }
            if evalSet != nil && Date().timeIntervalSince(lastEval) >= Double(recipe.evalEverySeconds) {
                try evaluate()
                lastEval = Date()
            }
            let (batch, targets, selected) = try nextBatch()
            model.zeroGrad()
            let r = try model.trainStep(batch, targets: targets, selected: selected, labelSmoothing: recipe.labelSmoothing,
                                        passRows: recipe.microBatch)
            let norm = clipGradientNorm(model.parameters, maxNorm: recipe.clipNorm > 0 ? recipe.clipNorm : .infinity)
            guard r.loss.isFinite && norm.isFinite else {
                throw MuseError("at step \(step + 1) the loss is \(r.loss) and the gradient norm \(norm); stopping before the update (the last checkpoint, \(stateURL.path), is intact)")
            }
            let lr = recipe.learningRate(step: step)
            optimizer.update(params, lr: lr)
            step += 1
            samplesSeen += batch.count
            windowSamples += batch.count; windowSteps += 1
            windowLoss += Double(r.loss); windowCorrect += r.correct; windowMasked += r.masked
            try TrainingLog.append(String(format: "%d,%d,%.3g,%.1f,%.5f,%.5f,%.4f", step, samplesSeen, lr, Date().timeIntervalSince(start),
                                               r.loss, Double(r.correct) / Double(max(1, r.masked)), norm),
                                        to: lossURL, header: "step,samples_seen,lr,seconds,loss,masked_accuracy,grad_norm")
            if step % 10 == 0 {
                let rate = Double(windowSamples) / max(Date().timeIntervalSince(windowStart), 1e-9)
                log(String(format: "step %d  samples %d  loss %.4f  masked acc %.2f%%  |g| %.3f  lr %.2e  %.1f samples/s",
                           step, samplesSeen, windowLoss / Double(windowSteps), 100 * Double(windowCorrect) / Double(max(1, windowMasked)),
                           norm, lr, rate))
                windowStart = Date(); windowSamples = 0; windowLoss = 0; windowCorrect = 0; windowMasked = 0; windowSteps = 0
            }
            if Date().timeIntervalSince(lastCheckpoint) >= recipe.checkpointEverySeconds {
                try saveCheckpoint()
                try saveSnapshot()
                try writeLossCurve()
                lastCheckpoint = Date()
                log("checkpoint at step \(step) -> \(stateURL.path)")
            }
        }
        try saveCheckpoint()
        try saveSnapshot()
        try writeLossCurve()
        log("stopped at step \(step) (\(samplesSeen) samples); checkpoint \(stateURL.path)")
        if evalSet != nil && stopRequested == 0 { try evaluate(); try writeLossCurve() }
    }
}
