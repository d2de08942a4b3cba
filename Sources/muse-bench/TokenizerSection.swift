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
    // On the fp32 backend the 3x3 convolutions' shifted-GEMM path is timed beside the default,
    // interleaved with it.
    let shifted = backend is OpenBLASBackend
        ? try ImageTokenizerModel(TokenizerConfig(), codebookName: "bench", seed: 1, backend: OpenBLASBackend(conv3x3: .shiftedGEMM)) : nil
    let models = [model] + (shifted.map { [$0] } ?? [])
    func add(_ what: String, _ perItem: (Double) -> String, flops: Double, _ times: [Double]) {
        for (i, t) in times.enumerated() {
            r.add(i == 0 ? group(what) : "tokenizer-compare", "\(what) (\(perItem(t))\(i == 0 ? "" : ", 3x3 as shifted GEMMs, for comparison"))",
                  flops: flops, seconds: t)
        }
    }
    func group(_ what: String) -> String { what.hasPrefix("training") ? "tokenizer-train" : "tokenizer" }
    for batch in [1, 32] {
        let imgs = images(batch, 64)
        let f = model.forwardFlops(batch: batch, height: 64, width: 64)
        let grids = try model.encode(imgs)
        let perImage = { (t: Double) in "\(String(format: "%.2f", t * 1e3 / Double(batch))) ms/image" }
        add("encode 64 px, batch \(batch)", perImage, flops: f.encoder,
            bestTimesInterleaved(budget: budget, models.map { m in { _ = try! m.encode(imgs) } }))
        add("decode 64 px, batch \(batch)", perImage, flops: f.decoder,
            bestTimesInterleaved(budget: budget, models.map { m in { _ = try! m.decode(grids) } }))
    }
    for (batch, size, what) in [(32, 64, "full 64 px images"), (64, 32, "32 px crops")] {
        let x = try ImageTokenizerModel.tensor(images(batch, size))
        let f = model.forwardFlops(batch: batch, height: size, width: size)
        add("training step, batch \(batch) \(what)", { "\(String(format: "%.1f", Double(batch) / $0)) images/s" },
            flops: 3 * (f.encoder + f.decoder),
            bestTimesInterleaved(budget: budget, models.map { m in { m.zeroGrad(); _ = m.trainStep(x) } }))
    }
}
