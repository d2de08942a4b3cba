import Foundation
import MuseCore
import MuseEngine

// `TestTrapProbe CASE`: does one invalid thing that must stop the process with
// a trap in every build configuration (release included), for
// MuseEngineTests/ReleaseChecksTests. Prints the configuration it was built in
// first; reaching the end means the check did not fire.
//
//   image    Image(width: 4, height: 4, pixels: [0.5])          (MuseCore precondition)
//   tensor   Tensor(shape: [64, 64], data: [1, 2, 3])           (MuseEngine `require`)
//   linear   a Linear(4 -> 2) given a [3, 5] input               (`require` in a hot op)
//   none     nothing invalid: exits 0 (the control)

#if DEBUG
print("configuration: debug")
#else
print("configuration: release")
#endif
fflush(stdout)

let which = CommandLine.arguments.dropFirst().first ?? ""
switch which {
case "image":
    let image = Image(width: 4, height: 4, pixels: [0.5])
    print("survived: image of \(image.pixels.count) values")
case "tensor":
    let t = Tensor(shape: [64, 64], data: [1, 2, 3])
    print("survived: tensor of \(t.count) values")
case "linear":
    var rng = SeededRNG(seed: 1)
    let layer = Linear(4, 2, backend: OpenBLASBackend(), rng: &rng)
    let y = layer.forward(Tensor(zeros: [3, 5]))
    print("survived: output \(y.shape)")
case "none":
    print("ok")
    exit(0)
default:
    FileHandle.standardError.write(Data("usage: TestTrapProbe image|tensor|linear|none\n".utf8))
    exit(2)
}
exit(1)
