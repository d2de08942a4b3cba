import Foundation
import MuseCore
import MuseEngine

/// The base transformer as a `TokenModel` (MuseCore's contract), so that any
/// sampler plugin can drive it: text keys/values are computed once in `prepare`
/// and reused by every `logits` call.
public final class BaseTokenModel: TokenModel, @unchecked Sendable {
    public let model: BaseTransformerModel
    public let info: TokenModelInfo

    public init(_ model: BaseTransformerModel) {
        self.model = model
        let c = model.config
        info = TokenModelInfo(codebook: model.codebookName, vocabularySize: c.codebookSize, maskID: c.maskID,
                              gridHeight: c.gridHeight, gridWidth: c.gridWidth, textWidth: c.textDim, maxTextTokens: c.maxTextTokens)
    }

    /// The model's prepared keys/values behind MuseCore's opaque type.
    final class Prepared: PreparedConditioning, @unchecked Sendable {
        let inner: BaseTransformerModel.Prepared
        init(_ inner: BaseTransformerModel.Prepared) { self.inner = inner; super.init(count: inner.count) }
    }

    public func prepare(_ conditionings: [TokenConditioning]) throws -> PreparedConditioning {
        if conditionings.contains(where: { $0.lowResolution != nil }) {
            throw MuseError("the base transformer takes no low-resolution tokens (that is a super-resolution model's input)")
        }
        return Prepared(try model.prepare(conditionings.map { $0.text }))
    }

    public func logits(tokens: [Int32], conditioning: PreparedConditioning) throws -> [Float] {
        guard let p = conditioning as? Prepared, p.inner.model === model else {
            throw MuseError("base transformer: the conditioning was prepared by another model")
        }
        return try model.logits(tokens: tokens.map { Int($0) }, prepared: p.inner)
    }
}

/// `transformer.base`: loads a base transformer's weights and hands it on as a token model.
final class BaseTransformerStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "transformer.base",
        summary: "The base masked transformer (Muse section 2.3): predicts image tokens from text. Outputs the loaded model as a token_model for a sampler stage (sampler.maskgit, sampler.halton or your own) to drive.",
        inputs: [],
        outputs: [PortSpec("model", .tokenModel, doc: "the transformer (grid size, codebook and text width come from its weights)")],
        weights: .required
    )) { try BaseTransformerStage($0) }

    let tokenModel: BaseTokenModel

    init(_ c: StageConfig) throws {
        tokenModel = try BaseTokenModel.shared(try c.requireWeights())
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        ["model": .tokenModel(tokenModel)]
    }
}

extension BaseTokenModel {
    nonisolated(unsafe) private static var instances: [String: BaseTokenModel] = [:]
    private static let instancesLock = NSLock()

    /// One model per weights file in the process (A/B variants share it).
    public static func shared(_ url: URL) throws -> BaseTokenModel {
        let key = url.standardizedFileURL.path
        instancesLock.lock(); defer { instancesLock.unlock() }
        if let m = instances[key] { return m }
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MuseError("\(url.path): base transformer weights not found")
        }
        let m = BaseTokenModel(try BaseTransformerModel.load(contentsOf: url))
        instances[key] = m
        return m
    }
}

/// The stage kinds the plugin registers.
public enum BaseTransformerStages {
    public static let all: [StageDescriptor] = [BaseTransformerStage.descriptor]
}
