#ifndef MUSE_ABI_H
#define MUSE_ABI_H
// The plugin ABI version. A C macro, not a Swift `static let`: Swift imports
// it as a constant that is compiled INTO each plugin, so a plugin built
// against an older MuseCore really reports the older number to the host.
// Bump it whenever a type that crosses the plugin boundary changes.
#define MUSE_PLUGIN_ABI_VERSION 1
#endif
