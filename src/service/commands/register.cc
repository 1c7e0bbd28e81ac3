#include "service/commands/commands.h"
#include "service/executor.h"

namespace herd {

void registerAllCommands(Herd& herd) {
    registerDotCommands(herd);
    registerCoreCommands(herd);
    registerVmCommands(herd);
    registerNamespaceCommands(herd);
    registerContainerCommands(herd);
    registerCcCommands(herd);
    registerVlanCommands(herd);
    registerVmNetCommands(herd);
    registerNetCommands(herd);
    registerWebCommands(herd);
    registerFileCommands(herd);
    registerCaptureCommands(herd);
    registerQosCommands(herd);
    registerBridgeCommands(herd);
    registerPlumbCommands(herd);
    registerRouterCommands(herd);
}

}  // namespace herd
