import Foundation
import MuseCore
import MuseEngine
import MuseTextEncoder

/// Text encoder timings (issue 5) and its bf16 outputs against fp32.
func benchTextEncoder(modelDirectory: String) throws {
    print("")
    let url = URL(fileURLWithPath: modelDirectory)
    guard FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) else {
        print("text encoder: skipped (no model in \(modelDirectory); run scripts/fetch-text-encoder.sh)")
        return
    }
    // bf16 beside fp32 where oneDNN has bf16 on this CPU: one encoder per backend.
    var backends = [try BackendChoice.fp32.makeBackend()]
    if OneDNNBackend.isAvailable { backends.append(try BackendChoice.bf16.makeBackend()) }
    var outputs: [[TextEmbedding]] = []
    for be in backends {
        let t0 = Date()
        let encoder = try TextEncoder(modelDirectory: url, maxTokens: 32, cacheCapacity: 0, backend: be)
        let loadSeconds = Date().timeIntervalSince(t0)
        var r = try TextEncoderBenchmark.run(encoder: encoder, repeats: 5)
        r.loadSeconds = loadSeconds
        print(r.report)
        outputs.append(try encoder.encode(batch: TextEncoderBenchmark.captions64))
    }
    guard outputs.count == 2 else {
        print("text encoder bf16 vs fp32: skipped: \(OneDNNBackend.unavailableReason ?? "")")
        return
    }
    // The bf16 path's outputs against the fp32 reference.
    var maxAbs: Float = 0, minCos = 1.0
    for (a, b) in zip(outputs[0], outputs[1]) {
        for (x, y) in zip(a.hidden, b.hidden) { maxAbs = max(maxAbs, abs(x - y)) }
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a.pooled, b.pooled) { dot += Double(x * y); na += Double(x * x); nb += Double(y * y) }
        minCos = min(minCos, dot / (na * nb).squareRoot())
    }
    print(String(format: "text encoder bf16 vs fp32 on 64 captions: hidden states max abs difference %.4f, pooled cosine min %.6f", maxAbs, minCos))
}
