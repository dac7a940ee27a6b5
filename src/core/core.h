// gpucloud's value types, shared by every module: errors, PCI addresses and devices, device specs
// (nova's passthrough whitelist), PCI aliases, flavor extra specs and nova's extra-spec operators.
// This is the only header other modules include from core/.
#pragma once

#include "core/result.h"
#include "core/pci.h"
#include "core/device_spec.h"
#include "core/pci_alias.h"
#include "core/extra_specs.h"
#include "core/database_url.h"
#include "core/cidr.h"
