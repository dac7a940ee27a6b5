// gpucloud's configuration: an oslo.config-style INI reader, nova.conf (PCI aliases and device
// specs, filters, SPICE, ratios, database) and the Cloud Controller's cloudcontroller.ini, each
// value with its file:line. This is the only header other modules include from config/.
#pragma once

#include "config/cloudcontroller_config.h"
#include "config/ini.h"
#include "config/nova_config.h"
