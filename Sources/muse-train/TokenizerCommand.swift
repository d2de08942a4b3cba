import ArgumentParser
import Foundation
import MuseCore
import MuseEngine
import MuseImageTokenizer

/// `muse-train tokenizer`: trains an image tokenizer (encoder, quantizer, decoder).
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train an image tokenizer (fully convolutional encoder/decoder with an FSQ or codebook quantizer).",
        discussion: """
        Data: procedural training scenes (generated on the fly, training colour-shape pairs only) and the \
        emoji training split (muse-data emoji). The run folder holds state.safetensors (weights, AdamW \
        moments, step, RNG and data position: the run resumes from it when started again with the same \
        folder), loss.csv, eval.csv, loss.png (the loss curve) and reconstructions.png (fixed held-out \
        images and their reconstructions, rewritten at every evaluation). SIGINT or SIGTERM stops the run \
        after the current step with a checkpoint. Killed any other way, it loses at most the steps since \
        the last checkpoint. Keys of the config file: docs/training.md.
        """)

    @OptionGroup var options: TrainingRunOptions

    func run() throws {
        do {
            let dtype = try options.dtype()
            var recipe = try TokenizerRecipe.load(URL(fileURLWithPath: options.config))
            if let c = options.checkpointEvery { recipe.checkpointEverySeconds = max(0, c) }
            var trainer = try TokenizerTrainer(recipe: recipe, runDirectory: URL(fileURLWithPath: options.runFolder), evaluate: !options.noEval)
            try options.checkExportHasState(trainer.resumedFromState)
            try trainer.train(maxSteps: options.maxSteps, maxSeconds: options.maxSeconds)
            if let e = options.exportWeights {
                try trainer.model.saveWeights(to: URL(fileURLWithPath: e), dtype: dtype,
                                              extra: ["muse.samples_seen": "\(trainer.samplesSeen)", "muse.step": "\(trainer.step)"])
                log("wrote weights to \(e)")
            }
        } catch let e as MuseError {
            FileHandle.standardError.write(Data("muse-train tokenizer: error: \(e.message)\n".utf8))
            throw ExitCode.failure
        }
    }
}

func log(_ s: String) {
    let f = DateFormatter()
    f.dateFormat = "HH:mm:ss"
    FileHandle.standardError.write(Data("[\(f.string(from: Date()))] \(s)\n".utf8))
}

/// Set by SIGINT/SIGTERM: the training loop checkpoints and stops after the current step.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

/// The first SIGINT/SIGTERM asks for a clean stop; a second one kills at once
/// (the handler puts the default action back).
func installStopHandlers() {
    signal(SIGINT) { s in stopRequested = 1; signal(s, SIG_DFL) }
    signal(SIGTERM) { s in stopRequested = 1; signal(s, SIG_DFL) }
}

/// The tokenizer's training loop: data, model, AdamW, checkpoints, logs, evaluation.
struct TokenizerTrainer {
    let recipe: TokenizerRecipe
    let runDirectory: URL
    let model: ImageTokenizerModel
    let optimizer: AdamW
    var data: TokenizerDataStream
    var rng: SeededRNG
    var step = 0
    /// Crops and full images seen so far.
    var cropsSeen = 0, imagesSeen = 0
    var samplesSeen: Int { cropsSeen + imagesSeen }
    let evalSet: TokenizerEvalSet?
    /// Whether the run continued from a saved state (an export of step 0 without one is refused).
    var resumedFromState = false
    /// Step of the last row of eval.csv (no second evaluation of the same step on resume).
    var lastEvalStep: Int?

    var stateURL: URL { runDirectory.appendingPathComponent("state.safetensors") }
    var lossURL: URL { runDirectory.appendingPathComponent("loss.csv") }
    var evalURL: URL { runDirectory.appendingPathComponent("eval.csv") }

    init(recipe: TokenizerRecipe, runDirectory: URL, evaluate: Bool) throws {
        self.recipe = recipe
        self.runDirectory = runDirectory
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        model = try ImageTokenizerModel(recipe.model, codebookName: recipe.codebookName, seed: SeededRNG.derive(recipe.seed, "init"))
        optimizer = AdamW(beta1: recipe.beta1, beta2: recipe.beta2, eps: 1e-8, weightDecay: recipe.weightDecay)
        rng = SeededRNG(seed: SeededRNG.derive(recipe.seed, "train"))
        var resumeData: TokenizerDataState?
        let stateURL = runDirectory.appendingPathComponent("state.safetensors")
        let lossURL = runDirectory.appendingPathComponent("loss.csv"), evalURL = runDirectory.appendingPathComponent("eval.csv")
        if FileManager.default.fileExists(atPath: stateURL.path) {
            let reader = try CheckpointReader(stateURL)
            let saved = try TokenizerConfig.parse(json: reader.metadata["muse.tokenizer"] ?? "", source: stateURL.path)
            guard saved == recipe.model else {
                throw MuseError("\(stateURL.path) was trained with another model config (\(saved.json())); use a new run folder")
            }
            guard reader.metadata["muse.codebook"] == recipe.codebookName else {
                throw MuseError("\(stateURL.path) trains codebook '\(reader.metadata["muse.codebook"] ?? "")', the config names '\(recipe.codebookName)'; use a new run folder")
            }
            // The seed fixes the data order that the saved position refers to.
            if let seed = reader.metadata["train.seed"], seed != "\(recipe.seed)" {
                throw MuseError("\(stateURL.path) was trained with seed \(seed), the config has \(recipe.seed); the saved data position would not match")
            }
            for (key, now) in [("train.backend", model.backendName), ("train.workers", "\(Engine.workers)")] {
                if let was = reader.metadata[key], was != now {
                    log("warning: \(key) was \(was) and is \(now) now; the run continues, but not bit-for-bit as it would have")
                }
            }
            let (s, r) = try TrainingCheckpoint.load(from: stateURL, model: model, optimizer: optimizer)
            step = s; rng = r
            guard let d = reader.metadata["train.data"], let ds = try? JSONDecoder().decode(TokenizerDataState.self, from: Data(d.utf8)),
                  let crops = Int(reader.metadata["train.crops_seen"] ?? ""), let images = Int(reader.metadata["train.images_seen"] ?? "") else {
                throw MuseError("\(stateURL.path): missing or malformed data position (train.data, train.crops_seen, train.images_seen)")
            }
            resumeData = ds; cropsSeen = crops; imagesSeen = images
            log("resumed \(stateURL.path) at step \(step) (\(cropsSeen) crops, \(imagesSeen) full images seen)")
            try TrainingLog.truncateLog(lossURL, afterStep: step)
            try TrainingLog.truncateLog(evalURL, afterStep: step)
            resumedFromState = true
            lastEvalStep = TrainingLog.lastStep(in: evalURL)
        } else {
            log("new run in \(runDirectory.path): \(model.parameterCount) parameters, \(recipe.model.json())")
        }
        data = try TokenizerDataStream(recipe: recipe, resume: resumeData)
        evalSet = evaluate ? try TokenizerEvalSet(sceneCount: recipe.evalScenes, sceneSeed: recipe.evalSceneSeed,
                                                  emojiDir: recipe.emojiFraction > 0 || recipe.evalEmoji > 0 ? recipe.emojiDir : nil,
                                                  emojiCount: recipe.evalEmoji, size: recipe.imageSize) : nil
    }

    func saveCheckpoint() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let ds = String(decoding: try encoder.encode(data.state), as: UTF8.self)
        var meta = model.metadata
        meta["train.data"] = ds
        meta["train.crops_seen"] = "\(cropsSeen)"
        meta["train.images_seen"] = "\(imagesSeen)"
        meta["train.seed"] = "\(recipe.seed)"
        meta["train.backend"] = model.backendName
        meta["train.workers"] = "\(Engine.workers)"
        try TrainingCheckpoint.save(to: stateURL, model: model, optimizer: optimizer, step: step, rng: rng, metadata: meta)
    }

    mutating func evaluate() throws {
        guard let evalSet, lastEvalStep != step else { return }
        lastEvalStep = step
        let t0 = Date()
        let (scores, samples) = try TokenizerScores.measure(model, on: evalSet)
        log("eval at step \(step) (\(samplesSeen) samples): \(scores.summary) [\(String(format: "%.1f", Date().timeIntervalSince(t0))) s]")
        try TrainingLog.append(String(format: "%d,%d,%d,%.4f,%.3f,%.3f,%d,%.4f", step, cropsSeen, imagesSeen, scores.sceneSurvival,
                                           scores.scenePSNR, scores.emojiPSNR, scores.codesUsed, scores.codeUse),
                                    to: evalURL, header: "step,crops_seen,images_seen,scene_survival,scene_psnr,emoji_psnr,codes_used,code_use")
        let sheet = TokenizerScores.contactSheet(samples, title: "step \(step), \(samplesSeen) samples: " + scores.summary)
        try PNGCodec.write(sheet, to: runDirectory.appendingPathComponent("reconstructions.png"))
    }

    func writeLossCurve() throws {
        guard let text = try? String(contentsOf: lossURL, encoding: .utf8) else { return }
        var pts: [(Double, Double)] = []
        for line in text.split(separator: "\n").dropFirst() {
            let c = line.split(separator: ",")
            if c.count >= 6, let s = Double(c[1]), let im = Double(c[2]), let l = Double(c[5]) { pts.append((s + im, l)) }
        }
        let plot = LossCurvePlot(title: "tokenizer reconstruction loss (MSE, pixels in [-1, 1])", xLabel: "samples seen (crops + images)",
                                 logY: true, series: [.init(name: "reconstruction", points: pts, colour: [0.1, 0.3, 0.8])])
        try PNGCodec.write(plot.render(), to: runDirectory.appendingPathComponent("loss.png"))
    }

    mutating func train(maxSteps: Int?, maxSeconds: Double?) throws {
        installStopHandlers()
        let start = Date()
        var lastCheckpoint = Date(), lastEval = Date(timeIntervalSince1970: 0)
        var windowStart = Date(), windowSamples = 0
        let params = model.namedParameters
        if step == 0 { try saveCheckpoint() }
        while samplesSeen < recipe.totalImages {
            if stopRequested != 0 { log("stop requested"); break }
            if let m = maxSteps, step >= m { break }
            if let s = maxSeconds, Date().timeIntervalSince(start) >= s { break }
            if evalSet != nil && Date().timeIntervalSince(lastEval) >= Double(recipe.evalEverySeconds) {
                try evaluate()
                lastEval = Date()
            }
            let cropPhase = cropsSeen < recipe.cropImages
            let n = cropPhase ? recipe.cropBatchSize : recipe.batchSize
            let images = data.next(n, crop: cropPhase ? recipe.cropSize : nil, rng: &rng)
            let x = try ImageTokenizerModel.tensor(images)
            model.zeroGrad()
            let losses = model.trainStep(x)
            let norm = recipe.clipNorm > 0 ? clipGradientNorm(model.parameters, maxNorm: recipe.clipNorm)
                                            : clipGradientNorm(model.parameters, maxNorm: .infinity)
            guard losses.total.isFinite && norm.isFinite else {
                throw MuseError("at step \(step + 1) the loss is \(losses.total) and the gradient norm \(norm); stopping before the update (the last checkpoint, \(stateURL.path), is intact)")
            }
            let lr = recipe.learningRate(images: samplesSeen)
            optimizer.update(params, lr: lr)
            if recipe.model.quantizer == .codebook && recipe.deadCodeUsage > 0 {
                model.resetDeadCodes(minUsage: recipe.deadCodeUsage, rng: &rng)
            }
            step += 1
            if cropPhase { cropsSeen += n } else { imagesSeen += n }
            windowSamples += n
            let elapsed = Date().timeIntervalSince(windowStart)
            let rate = Double(windowSamples) / max(elapsed, 1e-9)
            try TrainingLog.append(String(format: "%d,%d,%d,%.3g,%.1f,%.6f,%.6f,%.4f", step, cropsSeen, imagesSeen, lr,
                                               Date().timeIntervalSince(start), losses.reconstruction, losses.quantizer, norm),
                                        to: lossURL, header: "step,crops_seen,images_seen,lr,seconds,reconstruction,quantizer,grad_norm")
            if step % 20 == 0 {
                log(String(format: "step %d  %@ %d  samples %d  rec %.5f  q %.5f  |g| %.3f  lr %.2e  %.1f %@/s",
                           step, cropPhase ? "crops" : "images", n, samplesSeen, losses.reconstruction, losses.quantizer, norm, lr,
                           rate, cropPhase ? "crops" : "images"))
                windowStart = Date(); windowSamples = 0
            }
            if Date().timeIntervalSince(lastCheckpoint) >= recipe.checkpointEverySeconds {
                try saveCheckpoint()
                try writeLossCurve()
                lastCheckpoint = Date()
                log("checkpoint at step \(step) -> \(stateURL.path)")
            }
        }
        try saveCheckpoint()
        try writeLossCurve()
        log("stopped at step \(step) (\(cropsSeen) crops, \(imagesSeen) full images); checkpoint \(stateURL.path)")
        // A stop asked for by a signal ends now; a run that reached its end is evaluated once more.
        if evalSet != nil && stopRequested == 0 { try evaluate() }
    }
}
