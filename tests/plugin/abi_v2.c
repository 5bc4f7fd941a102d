/* A plugin built against a future Kestrel SDK 2.x: it exports only kestrel_plugin_v2, and
 * its descriptor layout is unknown to this host. Written by hand, since the SDK headers
 * pin the entry symbol to the current major. */
#include <stdint.h>

typedef struct v2_desc {
    uint32_t struct_size;
    uint32_t abi_major;
    uint32_t abi_minor;
    uint64_t something_new;
} v2_desc_t;

static const v2_desc_t desc = {sizeof(desc), 2, 0, 42};

__attribute__((visibility("default"))) const v2_desc_t *kestrel_plugin_v2(void);
const v2_desc_t *kestrel_plugin_v2(void)
{
    return &desc;
}
