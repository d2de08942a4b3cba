// OpenBLAS's CBLAS interface (Debian libopenblas-dev), including
// openblas_set_num_threads / openblas_get_num_threads.
#include <cblas.h>

// OpenBLAS DYNAMIC_ARCH entry points (exported by the Debian build): used to
// re-select the kernel set when the library's CPU detection falls back to a
// generic core on CPUs newer than it knows (see BLASSetup.swift).
char *openblas_get_corename(void);
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);

// OpenBLAS's environment reader and thread pool shutdown (exported by the Debian
// build): used to make idle worker threads sleep instead of spinning (see
// BLASSetup.swift). The pool starts again at the next threaded call.
void openblas_read_env(void);
int blas_thread_shutdown_(void);
int blas_thread_init(void);
int openblas_thread_timeout(void);
