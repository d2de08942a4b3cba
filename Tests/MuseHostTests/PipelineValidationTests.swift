import Foundation
import MuseCore
@testable import MuseHost
import XCTest

/// Malformed pipelines: every error names file:line:column and says what is wrong.
final class PipelineValidationTests: XCTestCase {
    var dir: URL!
    override func setUp() {
        dir = temporaryFolder()
        try! PNGCodec.write(testPicture(), to: dir.appendingPathComponent("in.png"))
    }

    /// Writes `yaml`, parses and validates it; returns the error text ("" if valid).
    func problems(_ yaml: String, overrides: PipelineOverrides = PipelineOverrides(), plugins: [String] = []) throws -> String {
        let file = dir.appendingPathComponent("p.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let registry = try imageOpsRegistry(plugins)
        do {
            let doc = try PipelineDocument.load(file)
            _ = try PipelineValidator(registry: registry).resolve(doc, overrides: overrides)
            return ""
        } catch let e as PipelineError {
            return e.description
        }
    }

    /// Asserts the error mentions `at` (line:column) in p.yaml and `phrase`.
    func expect(_ yaml: String, at position: String, _ phrase: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let msg = try problems(yaml)
        XCTAssertTrue(msg.contains("p.yaml:\(position): error:"), "expected an error at \(position), got: \(msg)", file: file, line: line)
        XCTAssertTrue(msg.contains(phrase), "expected '\(phrase)' in: \(msg)", file: file, line: line)
    }

    let valid = """
    version: 1
    stages:
      load:
        kind: image.load
        config: {path: in.png}
      resize:
        kind: image.resize
        config: {width: 8, height: 6, filter: box}
        inputs: {image: load.image}
    outputs:
      image: resize.image
    """

    func testValidPipelinePasses() throws {
        XCTAssertEqual(try problems(valid), "")
    }

    func testMalformedYAML() throws {
        try expect("version: 1\nstages:\n  load: {kind: image.load\n  x: [1, 2\n", at: "4:4", "malformed YAML")
    }

    func testBadIndentation() throws {
        try expect("version: 1\nstages:\n  load:\n    kind: image.load\n   config: {}\n", at: "5:4", "malformed YAML")
    }

    func testUnknownTopLevelKeyWithSuggestion() throws {
        try expect("version: 1\nstagse:\n  a: {kind: image.load}\n", at: "2:1", "unknown key 'stagse' in the pipeline (did you mean 'stages'?)")
    }

    func testUnknownStageKind() throws {
        try expect(valid.replacingOccurrences(of: "kind: image.resize", with: "kind: image.resise"),
                   at: "7:11", "unknown stage kind 'image.resise' (did you mean 'image.resize'?)")
    }

    func testUnknownConfigKey() throws {
        try expect(valid.replacingOccurrences(of: "filter: box", with: "filtr: box"),
                   at: "8:35", "has no config key 'filtr' (did you mean 'filter'?)")
    }

    func testWrongConfigType() throws {
        try expect(valid.replacingOccurrences(of: "width: 8", with: "width: eight"),
                   at: "8:21", "config 'width': expected an integer, got 'eight'")
    }

    func testValueOutsideChoices() throws {
        try expect(valid.replacingOccurrences(of: "filter: box", with: "filter: lanczos"),
                   at: "8:43", "'lanczos' is not one of box, bilinear, nearest")
    }

    func testValueOutOfRange() throws {
        try expect(valid.replacingOccurrences(of: "width: 8", with: "width: 0"),
                   at: "8:21", "outside the allowed range 1.0...16384.0")
    }

    func testDanglingReference() throws {
        try expect(valid.replacingOccurrences(of: "inputs: {image: load.image}", with: "inputs: {image: lod.image}"),
                   at: "9:21", "no stage named 'lod' (did you mean 'load'?)")
    }

    func testUnknownOutputPort() throws {
        try expect(valid.replacingOccurrences(of: "inputs: {image: load.image}", with: "inputs: {image: load.picture}"),
                   at: "9:21", "stage 'load' (image.load) has no output 'picture'")
    }

    func testPortTypeMismatch() throws {
        let yaml = """
        version: 1
        stages:
          load: {kind: image.load, config: {path: in.png}}
          m: {kind: mask.rect, config: {x: 0, y: 0, width: 4, height: 4}, inputs: {image: load.image}}
          r: {kind: image.resize, config: {width: 4, height: 4}, inputs: {image: m.mask}}
        """
        try expect(yaml, at: "5:74", "type mismatch: 'm.mask' is mask but port 'r.image' takes image")
    }

    func testCycle() throws {
        let yaml = """
        version: 1
        stages:
          a: {kind: image.resize, config: {width: 4, height: 4}, inputs: {image: b.image}}
          b: {kind: image.resize, config: {width: 4, height: 4}, inputs: {image: a.image}}
        """
        try expect(yaml, at: "3:3", "the stages a, b form a cycle")
    }

    func testMissingRequiredInputPort() throws {
        try expect(valid.replacingOccurrences(of: "    inputs: {image: load.image}\n", with: ""),
                   at: "6:3", "stage 'resize' (image.resize) needs input 'image' (image)")
    }

    func testMissingRequiredConfigKey() throws {
        try expect(valid.replacingOccurrences(of: "width: 8, ", with: ""),
                   at: "6:3", "needs config key 'width'")
    }

    func testDuplicateKey() throws {
        try expect(valid.replacingOccurrences(of: "filter: box", with: "filter: box, width: 9"),
                   at: "8:14", "duplicate key 'width' in this mapping")
    }

    func testMissingVersion() throws {
        let msg = try problems(valid.replacingOccurrences(of: "version: 1\n", with: ""))
        XCTAssertTrue(msg.contains("p.yaml:1:1: error: missing 'version: 1'"), msg)
    }

    func testMissingWeightsFile() throws {
        let yaml = "version: 1\nstages:\n  s:\n    kind: test.tensor_sum\n    weights: nowhere.safetensors\n"
        let msg = try problems(yaml, plugins: ["libTestPluginWeights.so"])
        XCTAssertTrue(msg.contains("p.yaml:5:14: error: stage 's': weights file not found:") && msg.contains("nowhere.safetensors"), msg)
    }

    func testWeightsRequiredButAbsent() throws {
        let msg = try problems("version: 1\nstages:\n  s:\n    kind: test.tensor_sum\n", plugins: ["libTestPluginWeights.so"])
        XCTAssertTrue(msg.contains("p.yaml:3:3: error: stage 's' (test.tensor_sum) needs a weights file"), msg)
    }

    func testWeightsOnAStageThatTakesNone() throws {
        try expect(valid.replacingOccurrences(of: "    config: {path: in.png}", with: "    config: {path: in.png}\n    weights: w.safetensors"),
                   at: "6:14", "takes no weights")
    }

    func testUnknownInputReference() throws {
        try expect(valid.replacingOccurrences(of: "inputs: {image: load.image}", with: "inputs: {image: input.picture}"),
                   at: "9:21", "the pipeline has no input 'picture'")
    }

    func testSeveralProblemsAreAllReported() throws {
        let msg = try problems(valid.replacingOccurrences(of: "width: 8", with: "width: x").replacingOccurrences(of: "filter: box", with: "filtr: box"))
        XCTAssertEqual(msg.split(separator: "\n").count, 2, msg)
    }

    func testSetOverrideIsTypeChecked() throws {
        var o = PipelineOverrides()
        o.sets = ["resize.width=wide"]
        let msg = try problems(valid, overrides: o)
        XCTAssertTrue(msg.contains("command line (--set resize.width=wide): error:") && msg.contains("expected an integer"), msg)
        o.sets = ["resise.width=4"]
        XCTAssertTrue(try problems(valid, overrides: o).contains("no stage named 'resise' (did you mean 'resize'?)"))
    }

    func testUnknownCommandLineInput() throws {
        var o = PipelineOverrides()
        o.inputs["promt"] = "x"
        let yaml = valid.replacingOccurrences(of: "stages:", with: "inputs:\n  prompt: {type: text, default: hi}\nstages:")
        let msg = try problems(yaml, overrides: o)
        XCTAssertTrue(msg.contains("no input 'promt' (did you mean 'prompt'?)"), msg)
    }

    func testSeedInputMustBeAWholeNumber() throws {
        let yaml = valid.replacingOccurrences(of: "stages:", with: "inputs:\n  seed: {type: scalar, default: 1e30}\nstages:")
        try expect(yaml, at: "3:33", "the seed must be a whole number from 0 to 2^63, got 1e+30")
        var o = PipelineOverrides()
        o.inputs["seed"] = "-2"
        XCTAssertTrue(try problems(valid.replacingOccurrences(of: "stages:", with: "inputs:\n  seed: {type: scalar, default: 1}\nstages:"), overrides: o)
            .contains("command line (--seed): error: the seed must be a whole number"))
    }

    func testTruncatedImageInputIsAClearError() throws {
        let png = try Data(contentsOf: dir.appendingPathComponent("in.png"))
        try png.prefix(png.count / 2).write(to: dir.appendingPathComponent("half.png"))
        let yaml = "version: 1\ninputs:\n  image: {type: image, default: half.png}\nstages:\n  r: {kind: image.resize, config: {width: 4, height: 4}, inputs: {image: input.image}}\n"
        let msg = try problems(yaml)
        XCTAssertTrue(msg.contains("p.yaml:3:33: error:") && msg.contains("half.png") && msg.contains("corrupt PNG"), msg)
        XCTAssertEqual(msg.split(separator: "\n").count, 1, msg)
    }
}
