vm config memory 512
vm config save small
namespace ns1
vm config memory
vm config restore
vm launch container 2
.columns name vm info
namespace minimega
vm config memory
vm config restore
vm launch container 1
.columns name,memory vm info
namespace ns1 vm launch container 1
namespace ns1 .columns name vm info
vm config memory 64
vm launch container bar small
.columns name,memory vm info
vm config memory
namespace ns1 vm launch container foo small
namespace ns1 vm config memory 128
namespace ns1 vm config memory
vm config memory
