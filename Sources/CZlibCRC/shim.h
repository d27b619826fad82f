// CZlibCRC: zlib (here for its crc32, which reads several bytes a step) as a Swift module. ZIPFoundation links
// the same library but keeps its own module internal.
#ifndef KCONV_CZLIBCRC_SHIM_H
#define KCONV_CZLIBCRC_SHIM_H

#include <zlib.h>

#endif
