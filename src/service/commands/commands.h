// Registration functions of the command modules, one per area.
#pragma once

namespace herd {
class Herd;

void registerDotCommands(Herd& herd);        // .annotate .filter .alias ... (dot.cc)
void registerCoreCommands(Herd& herd);       // help read shell echo history quit ... (core.cc)
void registerVmCommands(Herd& herd);         // vm config/launch/info/tag/start/... (vm*.cc)
void registerNamespaceCommands(Herd& herd);  // namespace, clear namespace (namespace.cc)
void registerContainerCommands(Herd& herd);  // vm top, nuke (container.cc)
void registerCcCommands(Herd& herd);         // cc, clear cc (cc.cc)

}  // namespace herd
