/* Kestrel SDK: the one header a plugin includes. Link the kestrel-sdk library
 * (CMake: Kestrel::sdk; pkg-config: kestrel-sdk) for decimals, JSON and helpers. */
#ifndef KESTREL_KESTREL_H
#define KESTREL_KESTREL_H

#include <string.h>

#include "abi.h"
#include "error.h"
#include "decimal.h"
#include "instrument.h"
#include "order.h"
#include "event.h"
#include "host.h"
#include "exchange.h"
#include "risk.h"
#include "plugin.h"
#include "util.h"
#include "json.h"

#endif
