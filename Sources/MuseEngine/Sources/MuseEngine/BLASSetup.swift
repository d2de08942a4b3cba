import Foundation
import CBLAS

/// OpenBLAS kernel selection.
///
/// OpenBLAS 0.3.21 (Debian, DYNAMIC_ARCH) does not know recent Xeons (e.g. family 6
/// model 207) and falls back to its generic "Prescott" SSE3 kernels: about 15
/// GFLOP/s instead of 90-170 per core. Unless the user set `OPENBLAS_CORETYPE`, the
/// engine re-runs OpenBLAS's dynamic initialisation where it chose generic or AVX2
/// kernels on a CPU that can run better ones (`betterCore`: SkylakeX for AVX-512,
/// Haswell for AVX2), once, before the first GEMM (when the first backend is
/// created). A user's `OPENBLAS_CORETYPE` is kept, with a warning where it names a
/// slower set than the CPU can run (some machines set `OPENBLAS_CORETYPE=Haswell`
/// for every process, AVX-512 CPUs too).
public enum BLASSetup {
    /// The kernel set OpenBLAS uses now (e.g. "SkylakeX").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// What the setup did (for benchmarks and logs).
    public static private(set) var note = "not run"

    /// Set when the user's `OPENBLAS_CORETYPE` holds back a faster kernel set this
    /// CPU supports; the engine prints it once on stderr with the backend choice.
    public static private(set) var warning: String?

    private static let generic: Set<String> = ["prescott", "katmai", "coppermine", "northwood", "banias", "core2", "penryn",
                                               "dunnington", "nehalem", "atom", "unknown"]

    /// Runs the selection once (thread-safe; later calls do nothing).
    public static func ensure() { _ = once }

    private static let once: Void = {
        quietIdleThreads()
        let current = coreName
        let flags = cpuFlags()
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil {
            guard let better = betterCore(than: current, flags: flags) else {
                note = "\(current) (OPENBLAS_CORETYPE set by the user)"
                return
            }
            note = "\(current) (OPENBLAS_CORETYPE set by the user; this CPU can run the faster \(better) kernels)"
            warning = "OPENBLAS_CORETYPE=\(current) is set in the environment, but this CPU can run OpenBLAS's faster \(better) kernels "
                + "(on an AMD Zen 5 they doubled the sgemm peak and made the base transformer's training step 1.6x faster): "
                + "unset it to let OpenBLAS and the engine choose"
            return
        }
        guard let target = betterCore(than: current, flags: flags) else { note = "\(current) (detected)"; return }
        setenv("OPENBLAS_CORETYPE", target, 1)
        gotoblas_dynamic_quit()
        gotoblas_dynamic_init()
        unsetenv("OPENBLAS_CORETYPE")
        note = "\(coreName) (OpenBLAS detected \(current); re-selected from CPU flags)"
    }()

    /// A faster kernel set than `current` for a CPU with these flags, or nil: generic
    /// sets move up to the best the flags allow; AVX2 sets (Haswell, Zen) move up to
    /// SkylakeX where the CPU has the AVX-512 subsets those kernels use.
    static func betterCore(than current: String, flags: Set<String>) -> String? {
        let avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].allSatisfy(flags.contains)
        let avx2 = flags.contains("avx2") && flags.contains("fma")
        let name = current.lowercased()
        if generic.contains(name) { return avx512 ? "SkylakeX" : (avx2 ? "Haswell" : nil) }
        if name == "haswell" || name == "zen" { return avx512 ? "SkylakeX" : nil }
        return nil
    }

    /// How long (2^n cycles) an idle OpenBLAS worker spins before it sleeps, unless
    /// the user set `OPENBLAS_THREAD_TIMEOUT`. OpenBLAS's default (2^28 cycles, about
    /// 0.1 s) keeps its worker spinning in sched_yield between GEMMs: on 2 cores that
    /// took 15-18% of the base transformer's training time (perf) and slowed the
    /// engine's own parallel loops, which share the second core. Sleeping after
    /// 2^4 cycles costs a futex wake per threaded GEMM instead (muse-bench --only base,
    /// AMD EPYC, two runs each, interleaved: a sampling step 15-25% faster; the
    /// training step the same within the run-to-run noise of about 10%).
    public static let idleSpinLog2 = 4
    private static func quietIdleThreads() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] == nil else { return }
        setenv("OPENBLAS_THREAD_TIMEOUT", "\(idleSpinLog2)", 1)
        openblas_read_env()
        // The pool reads the timeout when it starts: restart it now, while it is set.
        _ = blas_thread_shutdown_()
        _ = blas_thread_init()
        unsetenv("OPENBLAS_THREAD_TIMEOUT")
        openblas_read_env()          // later re-reads see the user's environment again; the pool keeps its timeout
    }

    /// CPU feature flags from /proc/cpuinfo (empty where unavailable).
    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
