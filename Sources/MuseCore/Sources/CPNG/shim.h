// libpng 1.6 (Debian libpng-dev). setjmp is needed for libpng's error recovery,
// which we avoid by using the simplified API (png_image_*).
#include <png.h>
