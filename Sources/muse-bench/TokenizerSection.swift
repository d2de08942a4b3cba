import Foundation
import MuseCore
import MuseEngine
import MuseImageTokenizer

/// The image tokenizer at its real shapes (the shipped 64 px architecture, random
/// weights: speed does not depend on them): encode and decode time per image, and
/// the training step (forward + backward, 3x the forward convolution FLOPs) in
/// images/s and as a fraction of the sgemm peak.
func benchTokenizer(_ r: inout Report, budget: Double, backend: ComputeBackend) throws {
    r.header("image tokenizer 64 px (f = 8, width 32, FSQ 8x5x5x5; convolution FLOPs only)")
    let model = try ImageTokenizerModel(TokenizerConfig(), codebookName: "bench", seed: 1, backend: backend)
    var rng = SeededRNG(seed: 6)
    func images(_ n: Int, _ size: Int) -> [Image] {
        (0..<n).map { _ in Image(width: size, height: size, pixels: (0..<(size * size * 3)).map { _ in rng.uniform() }) }
    }
    for batch in [1, 32] {
        let imgs = images(batch, 64)
        let f = model.forwardFlops(batch: batch, height: 64, width: 64)
        var grids: [TokenGrid] = []
        let te = bestTime(budget: budget) { grids = try! model.encode(imgs) }
        r.add("tokenizer", "encode 64 px, batch \(batch) (\(String(format: "%.2f", te * 1e3 / Double(batch))) ms/image)", flops: f.encoder, seconds: te)
        let td = bestTime(budget: budget) { _ = try! model.decode(grids) }
        r.add("tokenizer", "decode 64 px, batch \(batch) (\(String(format: "%.2f", td * 1e3 / Double(batch))) ms/image)", flops: f.decoder, seconds: td)
    }
    for (batch, size, what) in [(32, 64, "full 64 px images"), (64, 32, "32 px crops")] {
        let x = try ImageTokenizerModel.tensor(images(batch, size))
        let f = model.forwardFlops(batch: batch, height: size, width: size)
        let t = bestTime(budget: budget) { model.zeroGrad(); _ = model.trainStep(x) }
        r.add("tokenizer-train", "training step, batch \(batch) \(what) (\(String(format: "%.1f", Double(batch) / t)) images/s)",
              flops: 3 * (f.encoder + f.decoder), seconds: t)
    }
}
