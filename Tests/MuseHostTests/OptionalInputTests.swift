import Foundation
import MuseCore
@testable import MuseHost
import XCTest

/// Pipeline inputs declared `optional: true`: left out, the stages that need them
/// do not run and optional ports they feed get nothing; given, everything runs.
final class OptionalInputTests: XCTestCase {
    var dir: URL!
    override func setUp() {
        dir = temporaryFolder()
        try! PNGCodec.write(Image(width: 12, height: 6, fill: [0.2, 0.4, 0.6]), to: dir.appendingPathComponent("like.png"))
    }

    // `like` (optional) -> shrink -> mask.rect's optional `image` port: without it the
    // mask takes its size from the config; with it, from the shrunk picture.
    let yaml = """
    version: 1
    inputs:
      like: {type: image, optional: true, doc: a picture whose size (halved) the mask takes}
    stages:
      shrink: {kind: image.resize, config: {width: 6, height: 3}, inputs: {image: input.like}}
      rect: {kind: mask.rect, config: {x: 0, y: 0, width: 2, height: 2, canvas_width: 4, canvas_height: 4}, inputs: {image: shrink.image}}
    outputs:
      mask: rect.mask
    """

    func resolve(_ yaml: String, _ inputs: [String: String] = [:]) throws -> ResolvedPipeline {
        let file = dir.appendingPathComponent("p.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let registry = PluginRegistry()
        try registry.load(Products.imageOps)
        var o = PipelineOverrides()
        o.inputs = inputs
        return try PipelineValidator(registry: registry).resolve(try PipelineDocument.load(file), overrides: o)
    }

    func testLeftOutInputSkipsTheStagesThatNeedIt() throws {
        let without = try resolve(yaml)
        XCTAssertEqual(without.stages.map(\.name), ["rect"], "shrink needs the left-out input: it does not run")
        XCTAssertNil(without.stages[0].inputs["image"], "the optional port gets nothing")
        guard case .mask(let m)? = try PipelineRunner().run(without).outputs.first?.value else { return XCTFail("no mask") }
        XCTAssertEqual([m.width, m.height], [4, 4])

        let with = try resolve(yaml, ["like": dir.appendingPathComponent("like.png").path])
        XCTAssertEqual(with.stages.map(\.name), ["shrink", "rect"])
        guard case .mask(let m2)? = try PipelineRunner().run(with).outputs.first?.value else { return XCTFail("no mask") }
        XCTAssertEqual([m2.width, m2.height], [6, 3])
    }

    func testAnOutputThatNeedsALeftOutInputIsAnError() throws {
        let needs = yaml.replacingOccurrences(of: "  mask: rect.mask", with: "  mask: rect.mask\n  small: shrink.image")
        XCTAssertThrowsError(try resolve(needs)) { e in
            XCTAssertTrue("\(e)".contains("output 'small' comes from stage 'shrink', which needs the optional input 'like': give --like"), "\(e)")
        }
        XCTAssertNoThrow(try resolve(needs, ["like": dir.appendingPathComponent("like.png").path]))
        let direct = yaml.replacingOccurrences(of: "  mask: rect.mask", with: "  mask: rect.mask\n  picture: input.like")
        XCTAssertThrowsError(try resolve(direct)) { e in
            XCTAssertTrue("\(e)".contains("output 'picture' is the optional input 'like', which was not given"), "\(e)")
        }
    }

    func testOptionalWithADefaultOrANonBooleanIsRefused() throws {
        let both = yaml.replacingOccurrences(of: "optional: true,", with: "optional: true, default: like.png,")
        XCTAssertThrowsError(try resolve(both)) { e in
            XCTAssertTrue("\(e)".contains("p.yaml:3:") && "\(e)".contains("has a default and is optional"), "\(e)")
        }
        let notBool = yaml.replacingOccurrences(of: "optional: true", with: "optional: maybe")
        XCTAssertThrowsError(try resolve(notBool)) { e in XCTAssertTrue("\(e)".contains("optional must be true or false"), "\(e)") }
        // A required input still must be given.
        let required = yaml.replacingOccurrences(of: "optional: true, ", with: "")
        XCTAssertThrowsError(try resolve(required)) { e in XCTAssertTrue("\(e)".contains("input 'like' has no default and was not given"), "\(e)") }
    }
}

/// `muse-run pipelines/x.yaml` (the design card's spelling) finds `Pipelines/x.yaml`.
final class PathCaseTests: XCTestCase {
    func testResolvesOtherLetterCase() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("Pipelines"), withIntermediateDirectories: true)
        try "x".write(to: dir.appendingPathComponent("Pipelines/txt2img-64.yaml"), atomically: true, encoding: .utf8)
        let exact = dir.appendingPathComponent("Pipelines/txt2img-64.yaml").path
        XCTAssertEqual(PathCase.resolve(exact), exact)
        XCTAssertEqual(PathCase.resolve(dir.appendingPathComponent("pipelines/txt2img-64.yaml").path), exact)
        XCTAssertEqual(PathCase.resolve(dir.appendingPathComponent("PIPELINES/TXT2IMG-64.yaml").path), exact)
        let missing = dir.appendingPathComponent("pipelines/nope.yaml").path
        XCTAssertEqual(PathCase.resolve(missing), missing, "no match: unchanged, so the error names what was typed")
        // Two names that differ only in case: ambiguous, unchanged.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("PIPELINES"), withIntermediateDirectories: true)
        let ambiguous = dir.appendingPathComponent("pipelines/txt2img-64.yaml").path
        XCTAssertEqual(PathCase.resolve(ambiguous), ambiguous)
        // Relative paths, from the current folder.
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("PIPELINES"))
        XCTAssertEqual(PathCase.resolve("pipelines/txt2img-64.yaml"), "Pipelines/txt2img-64.yaml")
    }
}
