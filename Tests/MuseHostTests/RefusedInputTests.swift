import Foundation
import MuseCore
@testable import MuseHost
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Regression inputs from mutation testing (issue 16), through the pipeline
/// runner and the muse-run executable: each is refused with a clear message,
/// exit status 1, within a second.
final class RefusedInputTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = temporaryFolder()
        try PNGCodec.write(testPicture(), to: dir.appendingPathComponent("in.png"))
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Runs muse-run through /bin/sh so that arguments can hold raw (invalid UTF-8)
    /// bytes written with printf escapes. `script` is the argument list in shell syntax.
    func museRun(_ script: String) throws -> (status: Int32, out: String, err: String, seconds: Double) {
        try Products.requireBuilt(Products.museRun)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec \"$0\" " + script, Products.museRun]
        p.currentDirectoryURL = dir
        let o = Pipe(), e = Pipe()
        p.standardOutput = o; p.standardError = e
        let t0 = Date()
        try p.run()
        let od = o.fileHandleForReading.readDataToEndOfFile(), ed = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: od, as: UTF8.self), String(decoding: ed, as: UTF8.self), Date().timeIntervalSince(t0))
    }

    func write(_ yaml: String, _ name: String = "p.yaml") throws {
        try yaml.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    func assertRefused(_ r: (status: Int32, out: String, err: String, seconds: Double), _ phrases: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, r.err, file: file, line: line)
        for p in phrases { XCTAssertTrue(r.err.contains(p), "'\(p)' not in: \(r.err)", file: file, line: line) }
        // The bar is one second on an idle machine (these take ~0.1-0.3 s); the
        // bound leaves room for a loaded machine and still catches the old hangs (20 s+).
        XCTAssertLessThan(r.seconds, 3.0, "refused at once", file: file, line: line)
    }

    /// Runs the built `muse-train` in the test folder: exit status, standard
    /// output (not kept: ""), standard error and wall seconds.
    func museTrain(_ args: [String]) throws -> (status: Int32, out: String, err: String, seconds: Double) {
        let museTrain = Products.path("muse-train")
        try Products.requireBuilt(museTrain)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: museTrain)
        p.arguments = args
        p.currentDirectoryURL = dir
        let e = Pipe()
        p.standardError = e; p.standardOutput = Pipe()
        let t0 = Date()
        try p.run()
        let ed = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, "", String(decoding: ed, as: UTF8.self), Date().timeIntervalSince(t0))
    }

    // MARK: muse-train ema

    /// `muse-train ema` on a checkpoint whose `muse.shards` is Int.max hung
    /// (building Int.max - 1 shard names); an extra tensor in a later checkpoint
    /// was dropped silently. Both are errors now, exit status 1.
    func testEMARefusesHugeShardCountsAndExtraTensors() throws {
        func write(_ name: String, _ tensors: [String: [Float]], _ meta: [String: String] = [:]) throws {
            var w = SafeTensorsWriter()
            w.metadata = meta
            for (k, v) in tensors { try w.add(k, v, shape: [v.count]) }
            try w.write(to: dir.appendingPathComponent(name))
        }
        try write("a.safetensors", ["w": [1, 2]])
        try write("huge.safetensors", ["w": [1, 2]], ["muse.shards": "9223372036854775807"])
        try write("extra.safetensors", ["w": [3, 4], "extra": [5]])
        assertRefused(try museTrain(["ema", "--out", "o.safetensors", "a.safetensors", "huge.safetensors"]),
                      ["muse-train ema: error:", "muse.shards is 9223372036854775807, more than the 10000 shards"])
        assertRefused(try museTrain(["ema", "--out", "o.safetensors", "a.safetensors", "extra.safetensors"]),
                      ["tensor 'extra' is not in", "all checkpoints must hold the same weights"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("o.safetensors").path))
    }

    // MARK: muse-train eval-base sampler options

    /// `eval-base`'s sampler options are checked before anything loads: an
    /// unknown schedule or ramp, or an out-of-range number, is an error naming
    /// the option and the choices, exit status 1.
    func testEvalBaseRefusesBadSamplerOptions() throws {
        func run(_ args: [String]) throws -> (status: Int32, out: String, err: String, seconds: Double) {
            try museTrain(["eval-base", "--weights", "missing.safetensors"] + args)
        }
        assertRefused(try run(["--schedule", "zigzag"]),
                      ["muse-train eval-base: error:", "--schedule zigzag is not one of cosine, linear"])
        assertRefused(try run(["--guidance-schedule", "cubic"]),
                      ["muse-train eval-base: error:", "--guidance-schedule cubic is not one of linear, constant"])
        // Numbers are held to the ranges sampler.maskgit's config keys give.
        assertRefused(try run(["--temperature", "0"]), ["muse-train eval-base: error:", "--temperature 0 is outside 0.01...100 (sampler.maskgit's temperature)"])
        assertRefused(try run(["--steps", "0"]), ["muse-train eval-base: error:", "--steps 0 is outside 1...1024 (sampler.maskgit's steps)"])
        assertRefused(try run(["--guidance", "101"]), ["muse-train eval-base: error:", "--guidance 101 is outside 0...100"])
        assertRefused(try run(["--choice-temperature", "nan"]), ["muse-train eval-base: error:", "--choice-temperature nan is outside 0...1000"])
        // Good options get past the checks to the weights, which are missing here.
        let missing = try run(["--schedule", "arccos", "--choice-temperature", "2", "--top-k", "50"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains("missing.safetensors"), missing.err)
    }

    // MARK: image.save to a device

    /// The input that found it: `image.save` with `path: /dev/full`, run as root.
    /// Here a FIFO and (where the test may create one) a character device node in
    /// a temporary folder stand for /dev/full, which a test must never touch.
    func testImageSaveRefusesDevicesAndFIFOs() throws {
        var targets = [dir.appendingPathComponent("fifo.png")]
        XCTAssertEqual(mkfifo(targets[0].path, 0o644), 0)
        let device = dir.appendingPathComponent("full")
        if mknod(device.path, S_IFCHR | 0o666, dev_t(1 << 8 | 7)) == 0 { targets.append(device) }
        for target in targets {
            try write("version: 1\ninputs:\n  image: {type: image, default: in.png}\nstages:\n  save: {kind: image.save, config: {path: \(target.path)}, inputs: {image: input.image}}\noutputs:\n  image: save.image\n")
            let r = try museRun("p.yaml --out o.png")
            assertRefused(r, ["stage 'save' (image.save) failed", "\(target.path): cannot write PNG (it exists and is", "not a regular file"])
            var st = stat()
            XCTAssertEqual(lstat(target.path, &st), 0)
            XCTAssertNotEqual(st.st_mode & S_IFMT, S_IFREG, "\(target.path) was replaced by a file")
        }
        // `--out` to such a node is refused the same way.
        let r = try museRun("p.yaml --set save.path=ok.png --out fifo.png")
        assertRefused(r, ["fifo.png: cannot write PNG (it exists and is a FIFO"])
    }

    // MARK: --output on an A/B pipeline

    let abYAML = """
    version: 1
    inputs:
      image: {type: image, default: in.png}
    stages:
      small: {kind: image.resize, config: {width: 4, height: 3}, inputs: {image: input.image}}
      big: {kind: image.resize, config: {width: 8, height: 6, filter: nearest}, inputs: {image: small.image}}
    outputs:
      image: big.image
      small: small.image
    variants:
      nearest: {}
      bilinear:
        set: {big.filter: bilinear}
    """

    /// `--output nope` was ignored by A/B runs; now it names the output laid out,
    /// and an unknown name is an error with the outputs listed.
    func testABRunHonoursOutput() throws {
        try write(abYAML)
        let bad = try museRun("p.yaml --output nope --out ab.png")
        assertRefused(bad, ["command line (--output): error: the pipeline has no output 'nope'; its outputs: image, small"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("ab.png").path))
        let typo = try museRun("p.yaml --output smal --out ab.png")
        assertRefused(typo, ["did you mean 'small'?"])
        let ok = try museRun("p.yaml --output small --out ab.png --quiet")
        XCTAssertEqual(ok.status, 0, ok.err)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("ab.json"))) as? [String: Any]
        XCTAssertEqual(report?["output"] as? String, "small")
        // The library: the chosen output is what is laid out.
        let registry = try imageOpsRegistry()
        let doc = try PipelineDocument.load(dir.appendingPathComponent("p.yaml"))
        let outcome = try ABRun(document: doc, validator: PipelineValidator(registry: registry), overrides: PipelineOverrides(),
                                progress: SilentProgress(), output: "small").run()
        XCTAssertEqual(outcome.images.map { [$0.width, $0.height] }, [[4, 3], [4, 3]])
    }

    // MARK: invalid UTF-8

    /// Invalid UTF-8 in a prompt was turned into U+FFFD and dropped by the text
    /// encoder; now every command-line argument is checked, naming the byte offset.
    func testInvalidUTF8ArgumentsAreRefused() throws {
        try write("version: 1\ninputs:\n  prompt: {type: text, default: hello}\nstages:\n  l: {kind: image.load, config: {path: in.png}}\noutputs:\n  prompt: input.prompt\n")
        let ok = try museRun("p.yaml --prompt 'caf\u{E9} ok' --out o.txt --quiet")
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("o.txt"), encoding: .utf8), "caf\u{E9} ok\n")
        assertRefused(try museRun("p.yaml --prompt \"$(printf 'a red\\377 circle')\" --out o.txt"),
                      ["error: the value of --prompt (argument 3) is not valid UTF-8: byte 0xFF at byte offset 5 of 13"])
        assertRefused(try museRun("p.yaml --prompt=\"$(printf 'ab\\303')\" --out o.txt"),
                      ["the value of --prompt (argument 2) is not valid UTF-8: byte 0xC3 at byte offset 11 of 12"])
        assertRefused(try museRun("p.yaml --input \"prompt=$(printf '\\355\\240\\200')\""),
                      ["the value of --input (argument 3) is not valid UTF-8: byte 0xED at byte offset 7"])
        assertRefused(try museRun("p.yaml --set \"l.path=$(printf '\\300\\257').png\""),
                      ["the value of --set (argument 3) is not valid UTF-8: byte 0xC0 at byte offset 7"])
        // A pipeline file with invalid UTF-8: its line and column.
        var bytes = [UInt8]("version: 1\ninputs:\n  prompt: {type: text, default: caf".utf8) + [0xE9] + [UInt8]("}\n".utf8)
        bytes += [UInt8]("stages:\n  l: {kind: image.load, config: {path: in.png}}\n".utf8)
        try Data(bytes).write(to: dir.appendingPathComponent("latin1.yaml"))
        assertRefused(try museRun("latin1.yaml"), ["latin1.yaml:3:36: error: the file is not valid UTF-8: byte 0xE9 at byte offset 54"])
    }

    func testUTF8CheckOffsets() {
        XCTAssertNil(UTF8Check.firstInvalidByte(Array("h\u{E9}llo \u{1F600}".utf8)))
        XCTAssertEqual(UTF8Check.firstInvalidByte([0x61, 0xFF, 0x62]), 1)
        XCTAssertEqual(UTF8Check.firstInvalidByte([0x61, 0x62, 0xC3]), 2, "truncated sequence")
        XCTAssertEqual(UTF8Check.firstInvalidByte([0xED, 0xA0, 0x80]), 0, "surrogate")
        XCTAssertEqual(UTF8Check.firstInvalidByte([0x41, 0xC0, 0xAF]), 1, "overlong")
        XCTAssertNil(UTF8Check.problem(inArguments: [Array("--prompt".utf8), Array("ok".utf8)]))
        XCTAssertEqual(UTF8Check.problem(inArguments: [Array("p.yaml".utf8), [0x80]]),
                       "argument 2 is not valid UTF-8: byte 0x80 at byte offset 0 of 1; give text in UTF-8")
    }

    // MARK: image sizes

    /// Resizing or extending to 16384 px per side, or an 8192 px extension on
    /// every side, ran for more than 20 s with no output.
    func testOversizedImagesAreRefusedBeforeAllocating() throws {
        try write("version: 1\ninputs:\n  image: {type: image, default: in.png}\nstages:\n  big: {kind: image.resize, config: {width: 16384, height: 16384}, inputs: {image: input.image}}\noutputs:\n  image: big.image\n")
        assertRefused(try museRun("p.yaml --out o.png"),
                      ["stage 'big' (image.resize) could not be created: the resized image would be 16384x16384 = 268435456 pixels", "the limit is 67108864 pixels"])
        try write("version: 1\ninputs:\n  image: {type: image, default: in.png}\nstages:\n  e: {kind: image.extend, config: {left: 8192, right: 8192, top: 8192, bottom: 8192}, inputs: {image: input.image}}\noutputs:\n  image: e.image\n")
        assertRefused(try museRun("p.yaml --out o.png"),
                      ["stage 'e' (image.extend) failed: the canvas (the 16x12 image + left 8192, right 8192, top 8192, bottom 8192) would be 16400x16396 pixels; the limit is 16384 pixels per side"])
        assertRefused(try museRun("p.yaml --set e.left=0 --set e.top=0 --out o.png"),
                      ["would be 8208x8204 = 67338432 pixels"])
        try write("version: 1\nstages:\n  m: {kind: mask.rect, config: {x: 0, y: 0, width: 4, height: 4, canvas_width: 16384, canvas_height: 16384}}\noutputs:\n  mask: m.mask\n")
        assertRefused(try museRun("p.yaml --out o.png"), ["stage 'm' (mask.rect) failed: the mask would be 16384x16384"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("o.png").path))
    }
}
