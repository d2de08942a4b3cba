// CMuseABI is a C target (not a system library) so that SwiftPM rebuilds every
// Swift module that imports it when include/muse_abi.h changes: the plugin ABI
// string there is compiled into the host and into each plugin.
#include "muse_abi.h"

// The string libMuseCore.so itself was built with.
const char *muse_core_abi_string(void) { return muse_abi_string(); }
