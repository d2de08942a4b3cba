// oneDNN 2.6 C API (Debian libdnnl-dev): matmul and convolution primitives
// for the bf16 backend (OneDNNBackend.swift).
#include <dnnl.h>
