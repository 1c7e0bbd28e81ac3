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
void registerVlanCommands(Herd& herd);       // vlans, clear vlans (vlans.cc)
void registerVmNetCommands(Herd& herd);      // vm net connect/disconnect (vm_net.cc)
void registerNetCommands(Herd& herd);        // tap, clear tap, bridge, dnsmasq (net.cc)
void registerWebCommands(Herd& herd);        // web (web.cc)
void registerFileCommands(Herd& herd);       // file list/get/delete/status (file.cc)
void registerCaptureCommands(Herd& herd);    // capture, clear capture (capture.cc)
void registerQosCommands(Herd& herd);        // qos add, clear qos (qos.cc)
void registerBridgeCommands(Herd& herd);     // bridge (bridge.cc)
void registerPlumbCommands(Herd& herd);      // pipe, plumb, clear pipe|plumb (plumb.cc)
void registerRouterCommands(Herd& herd);     // router, clear router (router.cc)

}  // namespace herd
