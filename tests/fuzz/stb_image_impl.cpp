// stb_image and stb_image_resize compiled into the image fuzzer, so that the decoders
// run instrumented (the library links Debian's libstb, built without sanitizers).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>
