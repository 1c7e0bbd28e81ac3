# Launch three foos, one in default namespace, others in ns1 and ns2
vm launch container foo
.columns name,state vm info
namespace ns1
.columns name,state vm info
vm launch container foo
.columns name,state vm info
namespace ns2
.columns name,state vm info
vm launch container foo
.columns name,state vm info
clear namespace

# Change VM states, all should only apply within a given namespace
namespace ns1 vm start all
.columns name,state vm info
namespace ns1 .columns name,state vm info
namespace ns2 .columns name,state vm info
namespace ns2 vm kill all
.columns name,state vm info
namespace ns1 .columns name,state vm info
namespace ns2 .columns name,state vm info
namespace ns2 vm flush
.columns name,state vm info
namespace ns1 .columns name,state vm info
namespace ns2 .columns name,state vm info
namespace ns1 vm start foo
namespace ns2 vm start foo

# Re-selecting the active namespace is silent (minimega's source)
namespace ns3
namespace ns3
clear namespace
clear namespace
