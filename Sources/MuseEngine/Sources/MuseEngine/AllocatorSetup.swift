import Foundation
import CMuseKernels

/// glibc malloc settings for a process that allocates and frees many tensors.
///
/// By default glibc serves large blocks with a fresh `mmap` (above a threshold that
/// it raises as blocks are freed, to at most 32 MiB) and hands memory back to the
/// kernel once more than twice that lies free at the top of the heap. A forward pass
/// frees its activations and the next one allocates them again, so the same pages
/// were unmapped and faulted in (zeroed by the kernel) on every call: page faults
/// were about half the non-GEMM time of the text encoder in perf. The engine fixes
/// the mmap threshold at its maximum (32 MiB) and lets up to 1 GiB of freed memory
/// stay in the process (muse-bench, AMD EPYC with AVX-512, training paused: a
/// 16-token prompt 13.7-18.5 -> 7.1-7.5 ms, 64 captions 189-271 -> 138-151 ms, the
/// base training step in one pass of 256 36-39 -> 46-52 samples/s). The cost: a
/// process keeps up to 1 GiB more than it uses at the moment.
///
/// Nothing is changed when the user set glibc's malloc tunables (`GLIBC_TUNABLES`
/// with `glibc.malloc.`, `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_`).
public enum AllocatorSetup {
    public static let mmapThreshold: Int32 = 32 << 20
    public static let trimThreshold: Int32 = 1 << 30

    /// What the setup did (for benchmarks and logs).
    public static private(set) var note = "not run"

    /// Whether `environment` holds the user's own glibc malloc tunables.
    static func userSetTunables(_ environment: [String: String]) -> Bool {
        environment["GLIBC_TUNABLES"]?.contains("glibc.malloc.") == true || environment["MALLOC_MMAP_THRESHOLD_"] != nil
            || environment["MALLOC_TRIM_THRESHOLD_"] != nil
    }

    /// Applies the settings once (thread-safe; later calls do nothing).
    public static func ensure() { _ = once }

    private static let once: Void = {
        if userSetTunables(ProcessInfo.processInfo.environment) {
            note = "glibc malloc as the user set it"
            return
        }
        note = muse_malloc_tune(mmapThreshold, trimThreshold) == 1 ? "glibc malloc: mmap above 32 MiB, keeps up to 1 GiB freed"
            : "malloc defaults (glibc refused the settings, or not glibc)"
    }()
}
