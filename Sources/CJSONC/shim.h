// CJSONC: json-c (0.16) as a Swift module.
//
// json-c's flag macros (JSON_C_TO_STRING_*, JSON_TOKENER_STRICT) are plain integer constants
// that Swift imports directly. The one macro-only API, json_object_object_foreach, is not
// wrapped: Sources/KConv/JSON walks objects with the json_object_iter_* functions instead.
#ifndef KCONV_CJSONC_SHIM_H
#define KCONV_CJSONC_SHIM_H

#include <json-c/json.h>

#endif
