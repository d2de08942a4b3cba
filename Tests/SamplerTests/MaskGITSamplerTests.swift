import XCTest
import Foundation
import MuseCore
@testable import MuseMaskGITSampler
@testable import MuseHaltonSampler

/// A token model with a written-out rule: at position t, a conditioning whose text's
/// first hidden value is h prefers id (t + round(h)) mod V by `margin` logits over
/// every other id; the unconditional conditioning prefers id 0. It records its calls.
final class ToyTokenModel: TokenModel, @unchecked Sendable {
    let info: TokenModelInfo
    let margin: Float
    var calls: [(tokens: [Int32], count: Int)] = []
    var prepared: [[TokenConditioning]] = []

    init(grid: Int = 4, vocab: Int = 11, margin: Float = 8) {
        info = TokenModelInfo(codebook: "toy", vocabularySize: vocab, maskID: vocab, gridHeight: grid, gridWidth: grid,
                              textWidth: 2, maxTextTokens: 4)
        self.margin = margin
    }

    final class Prep: PreparedConditioning, @unchecked Sendable {
        let offsets: [Int?]
        init(_ o: [Int?]) { offsets = o; super.init(count: o.count) }
    }

    func prepare(_ conditionings: [TokenConditioning]) throws -> PreparedConditioning {
        prepared.append(conditionings)
        return Prep(conditionings.map { $0.text.map { Int($0.hidden[0].rounded()) } })
    }

    func logits(tokens: [Int32], conditioning: PreparedConditioning) throws -> [Float] {
        let p = conditioning as! Prep
        calls.append((tokens, p.count))
        let T = info.tokens, V = info.vocabularySize
        XCTAssertEqual(tokens.count, p.count * T)
        var out = [Float](repeating: 0, count: p.count * T * V)
        for n in 0..<p.count { for t in 0..<T {
            let best = p.offsets[n].map { (t + $0) % V } ?? 0
            out[(n * T + t) * V + best] = margin
        } }
        return out
    }
}

func text(_ h: Float) -> TextEmbedding { TextEmbedding(tokenIDs: [1, 2], hidden: [h, 0, h, 0], dim: 2, mask: [1, 1], pooled: []) }

final class MaskGITSamplerTests: XCTestCase {
    func testSchedulesEndPointsAndOrder() {
        for s in MaskSchedule.allCases {
            XCTAssertEqual(s.masked(0), 1, accuracy: 1e-12, "\(s)")
            XCTAssertEqual(s.masked(1), 0, accuracy: 1e-12, "\(s)")
            var last = 1.0
            for i in 1...20 { let v = s.masked(Double(i) / 20); XCTAssertLessThanOrEqual(v, last + 1e-12, "\(s) decreasing"); last = v }
        }
        XCTAssertEqual(MaskSchedule.cosine.masked(0.5), cos(Double.pi / 4), accuracy: 1e-12)
        XCTAssertEqual(MaskSchedule.sqrt.masked(0.25), 0.5, accuracy: 1e-12)
        XCTAssertEqual(MaskSchedule.square.masked(0.5), 0.75, accuracy: 1e-12)
        XCTAssertEqual(MaskSchedule.arccos.masked(0.5), 2 / Double.pi * acos(0.5), accuracy: 1e-12)
        // 64 tokens, 24 steps, cosine: floor(64 cos(pi/2 * 1/24)) = 63 after step 1; all revealed at the end;
        // at least one token per step even where the schedule is flat.
        XCTAssertEqual(MaskSchedule.cosine.maskedAfter(step: 1, of: 24, initial: 64, current: 64), 63)
        XCTAssertEqual(MaskSchedule.cosine.maskedAfter(step: 24, of: 24, initial: 64, current: 5), 0)
        XCTAssertEqual(MaskSchedule.cosine.maskedAfter(step: 1, of: 100, initial: 4, current: 4), 3)
    }

    func testGuidanceStrengthAndFormula() {
        let g = Guidance(scale: 3, ramp: .linear)
        XCTAssertEqual(g.strength(step: 6, of: 24), 0.75, accuracy: 1e-12)
        XCTAssertEqual(g.strength(step: 24, of: 24), 3, accuracy: 1e-12)
        XCTAssertEqual(Guidance(scale: 3, ramp: .constant).strength(step: 1, of: 24), 3)
        var c: [Float] = [1, 2], u: [Float] = [4, -1]
        c.withUnsafeMutableBufferPointer { cp in u.withUnsafeMutableBufferPointer { up in Guidance.combine(cp.baseAddress!, up.baseAddress!, count: 2, t: 2) } }
        let expected: [Float] = [-5, 8]   // (1 + 2) c - 2 u
        XCTAssertEqual(c, expected)
    }

    func testTokenDrawMatchesTheSoftmax() {
        var rng = SeededRNG(seed: 5)
        let logits: [Float] = [0, 1, 2, Float(log(0.5))]
        var counts = [0, 0, 0, 0]
        let n = 40_000
        for _ in 0..<n { counts[logits.withUnsafeBufferPointer { TokenDraw.sample($0.baseAddress!, count: 4, temperature: 1, topK: 0, rng: &rng).id }] += 1 }
        let z = logits.map { exp(Double($0)) }, sum = z.reduce(0, +)
        for v in 0..<4 { XCTAssertEqual(Double(counts[v]) / Double(n), z[v] / sum, accuracy: 0.01, "id \(v)") }
        // top-k 2 keeps ids 2 and 1 only; log-probability under the truncated softmax.
        for _ in 0..<200 {
            let d = logits.withUnsafeBufferPointer { TokenDraw.sample($0.baseAddress!, count: 4, temperature: 1, topK: 2, rng: &rng) }
            XCTAssertTrue(d.id == 1 || d.id == 2)
            let lse: Double = log(1 + exp(-1.0))
            let expected: Double = d.id == 2 ? -lse : -1 - lse
            XCTAssertEqual(d.logProb, expected, accuracy: 1e-9)
        }
        // top-k 1 is the arg-max.
        XCTAssertEqual(logits.withUnsafeBufferPointer { TokenDraw.sample($0.baseAddress!, count: 4, temperature: 1, topK: 1, rng: &rng).id }, 2)
    }

    func testGeneratesWhatTheModelPrefersInStepsCalls() throws {
        let model = ToyTokenModel()
        var s = MaskGITSampler()
        s.settings.steps = 6; s.settings.guidance = Guidance(scale: 0, ramp: .linear); s.settings.temperature = 0.05
        let out = try s.sample(model, [SamplingItem(text: text(3), seed: 1), SamplingItem(text: text(5), seed: 2)])
        XCTAssertEqual(out[0], (0..<16).map { Int32(($0 + 3) % 11) })
        XCTAssertEqual(out[1], (0..<16).map { Int32(($0 + 5) % 11) })
        XCTAssertEqual(model.calls.count, 6, "one model call per step for both items together")
        XCTAssertTrue(model.calls.allSatisfy { $0.count == 2 })
        XCTAssertEqual(model.prepared.count, 1, "conditionings prepared once")
        // The masked count after each step follows the cosine schedule.
        for (i, call) in model.calls.enumerated() {
            let stillMasked = call.tokens.prefix(16).filter { $0 == 11 }.count
            let expected = i == 0 ? 16 : MaskSchedule.cosine.maskedAfter(step: i, of: 6, initial: 16, current: 16)
            XCTAssertLessThanOrEqual(stillMasked, expected + 0)
            XCTAssertGreaterThanOrEqual(stillMasked, min(expected, 16 - i))
        }
    }

    func testGuidanceAndNegativePromptUseTheUnconditionalSlot() throws {
        let model = ToyTokenModel(margin: 1)
        var s = MaskGITSampler()
        s.settings.steps = 4; s.settings.guidance = Guidance(scale: 6, ramp: .constant); s.settings.temperature = 0.05; s.choiceTemperature = 0
        _ = try s.sample(model, [SamplingItem(text: text(2), negative: text(4), seed: 1)])
        XCTAssertEqual(model.prepared[0].count, 2)
        XCTAssertEqual(model.prepared[0][1].text?.hidden.first, 4, "the negative prompt takes the unconditional slot")
        XCTAssertTrue(model.calls.allSatisfy { $0.count == 2 }, "conditional and unconditional passes in one call")
        // Without a negative prompt the unconditional slot is the null prompt.
        _ = try s.sample(model, [SamplingItem(text: text(2), seed: 1)])
        XCTAssertNil(model.prepared[1][1].text)
        // Strong guidance away from the unconditional choice (id 0): position 9 prefers (9+2)%11 = 0 when
        // conditioned, so there the guided logits (1+t)c - t u cancel to a flat row; elsewhere the
        // conditional id wins.
        let out = try s.sample(model, [SamplingItem(text: text(2), seed: 3)])
        for t in 0..<16 where (t + 2) % 11 != 0 { XCTAssertEqual(out[0][t], Int32((t + 2) % 11)) }
    }

    func testEditingKeepsTheUnmaskedTokens() throws {
        let model = ToyTokenModel()
        var s = MaskGITSampler()
        s.settings.steps = 3; s.settings.guidance = Guidance(scale: 0, ramp: .linear); s.settings.temperature = 0.05
        let start = (0..<16).map { Int32($0 % 7) }
        let regen = (0..<16).map { $0 >= 8 }
        let out = try s.sample(model, [SamplingItem(text: text(1), initial: start, regenerate: regen, seed: 9)])[0]
        XCTAssertEqual(Array(out.prefix(8)), Array(start.prefix(8)))
        XCTAssertEqual(Array(out.suffix(8)), (8..<16).map { Int32(($0 + 1) % 11) })
        XCTAssertEqual(model.calls[0].tokens.filter { $0 == 11 }.count, 8, "only the masked tokens start as [MASK]")
    }

    /// A reporter that cancels the run once `after` steps were reported (muse-serve's cancel button).
    final class CancellingProgress: ProgressReporter {
        let after: Int
        var steps: [Int] = []
        init(after: Int) { self.after = after }
        func update(stage: String, step: Int, total: Int, note: String) { steps.append(step) }
        func finish(stage: String) {}
        var isCancelled: Bool { steps.count >= after }
    }

    func testCancelledRunStopsAtTheNextStep() throws {
        let model = ToyTokenModel()
        var s = MaskGITSampler()
        s.settings.steps = 10
        let progress = CancellingProgress(after: 3)
        let inputs = StageInputs(["model": .tokenModel(model), "text": .textEmbedding(text(2))], stageName: "sample")
        let context = StageContext(stageName: "sample", seed: 1, progress: progress)
        XCTAssertThrowsError(try SamplerInputs.run(inputs, context) { m, items, report in try s.sample(m, items, progress: report) }) { error in
            XCTAssertTrue(error is CancelledError, "\(error)")
        }
        XCTAssertEqual(progress.steps, [1, 2, 3], "stopped right after the step that saw the cancel")
        XCTAssertEqual(model.calls.count, 3)
        // Not cancelled: all ten steps.
        let all = CancellingProgress(after: 100)
        _ = try SamplerInputs.run(inputs, StageContext(stageName: "sample", seed: 1, progress: all)) { m, items, report in
            try s.sample(m, items, progress: report)
        }
        XCTAssertEqual(all.steps, Array(1...10))
    }

    func testSeededAndPerItemIndependent() throws {
        let model = ToyTokenModel(margin: 0.5)
        var s = MaskGITSampler()
        s.settings.steps = 8; s.settings.guidance = Guidance(scale: 0, ramp: .linear); s.settings.temperature = 3
        let a = try s.sample(model, [SamplingItem(text: text(1), seed: 7)])
        let b = try s.sample(model, [SamplingItem(text: text(1), seed: 7)])
        let c = try s.sample(model, [SamplingItem(text: text(1), seed: 8)])
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        // An item's result does not depend on what else is in the batch.
        let batched = try s.sample(model, [SamplingItem(text: text(4), seed: 1), SamplingItem(text: text(1), seed: 7)])
        XCTAssertEqual(batched[1], a[0])
    }

    func testRegenerationMaskFromAnImageSizedMask() throws {
        var m = Mask(width: 16, height: 16, fill: 0)
        m.values[5 * 16 + 9] = 0.6        // pixel (9, 5) -> token (2, 1) of a 4x4 grid (cells of 4)
        let r = try SamplerInputs.regenerationMask(m, height: 4, width: 4)
        XCTAssertEqual(r.enumerated().filter { $0.element }.map { $0.offset }, [1 * 4 + 2])
        XCTAssertThrowsError(try SamplerInputs.regenerationMask(Mask(width: 10, height: 16, fill: 1), height: 4, width: 4))
    }
}

final class HaltonSamplerTests: XCTestCase {
    /// The order is a permutation, starts where the written-out Halton points fall, and
    /// spreads the first cells over the grid.
    func testOrderIsTheHaltonSequence() {
        let o = HaltonSampler.order(height: 8, width: 8)
        XCTAssertEqual(o.sorted(), Array(0..<64))
        // i = 1: (1/2, 1/3) -> cell (4, 2); i = 2: (1/4, 2/3) -> (2, 5); i = 3: (3/4, 1/9) -> (6, 0).
        XCTAssertEqual(Array(o.prefix(3)), [2 * 8 + 4, 5 * 8 + 2, 0 * 8 + 6])
        let quads = Set(o.prefix(4).map { (c: Int) -> Int in (c / 32) * 2 + (c % 8) / 4 })
        XCTAssertGreaterThanOrEqual(quads.count, 3, "the first four cells fall in different quadrants")
    }

    func testRevealsInOrderAndFollowsTheModel() throws {
        let model = ToyTokenModel()
        var s = HaltonSampler()
        s.settings.steps = 4; s.settings.guidance = Guidance(scale: 0, ramp: .linear); s.settings.temperature = 0.05
        let out = try s.sample(model, [SamplingItem(text: text(2), seed: 1)])[0]
        XCTAssertEqual(out, (0..<16).map { Int32(($0 + 2) % 11) })
        XCTAssertEqual(model.calls.count, 4)
        // After step 1, the revealed positions are the first ones of the Halton order.
        let order = HaltonSampler.order(height: 4, width: 4)
        let revealed = model.calls[1].tokens.enumerated().filter { $0.element != 11 }.map { $0.offset }
        XCTAssertEqual(Set(revealed), Set(order.prefix(revealed.count)))
        XCTAssertEqual(revealed.count, 16 - MaskSchedule.cosine.maskedAfter(step: 1, of: 4, initial: 16, current: 16))
        // Editing keeps the kept tokens.
        let start = (0..<16).map { Int32($0 % 5) }
        let edited = try s.sample(model, [SamplingItem(text: text(2), initial: start, regenerate: (0..<16).map { $0 % 2 == 0 }, seed: 3)])[0]
        for t in 0..<16 {
            let want: Int32 = t % 2 == 0 ? Int32((t + 2) % 11) : start[t]
            XCTAssertEqual(edited[t], want)
        }
    }
}
