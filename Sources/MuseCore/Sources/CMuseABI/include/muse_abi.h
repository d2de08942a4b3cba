#ifndef MUSE_ABI_H
#define MUSE_ABI_H
// The plugin ABI identity: a string compiled INTO each plugin (and into the
// host), compared by the host before any Swift object crosses the boundary.
//
//   muse-plugin-abi/2 toolchain=<the compiler's clang version> interface=<hash>
//
// - toolchain: `__clang_version__` of the Swift compiler's built-in clang (it
//   names the swiftlang/llvm-project commit, so it differs between Swift
//   toolchains). It is expanded when the plugin is compiled.
// - interface: a hash of MuseCore's declarations (everything outside function
//   bodies in Sources/MuseCore/Sources/MuseCore/*.swift). MuseCoreTests'
//   PluginABITests recomputes it and fails, with the new value, whenever the
//   interface changes without this line being updated; so a plugin built before
//   such a change reports the old hash and is refused ("rebuild the plugin").
//
// `muse_abi_string` is `static inline`: every module that calls it (each
// plugin's entry point, the host's loader) gets its own copy of the string, as
// its own compilation saw it, not the copy in libMuseCore.so.
#define MUSE_CORE_INTERFACE_HASH "244f26559e82ec03"

#define MUSE_PLUGIN_ABI "muse-plugin-abi/2 toolchain=" __clang_version__ " interface=" MUSE_CORE_INTERFACE_HASH

static inline const char *muse_abi_string(void) { return MUSE_PLUGIN_ABI; }

// The string libMuseCore.so itself was built with (muse_abi.c).
const char *muse_core_abi_string(void);

// The integer reported by plugins built before the ABI string (symbol
// `muse_plugin_abi_version`); the host refuses such plugins.
#define MUSE_LEGACY_PLUGIN_ABI_VERSION 1
#endif
