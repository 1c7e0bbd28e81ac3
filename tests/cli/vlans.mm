vlans
vm config net alpha beta 100
vlans
vlans add gamma 200
vlans add gamma 201
vlans add delta 100
vlans add delta 200
vlans add delta x
vlans add delta 5000
vlans add foo 4294967301
vlans add foo -4294967196
vlans blacklist
vlans blacklist 300
vlans blacklist x
vlans blacklist 4096
vlans blacklist 4294967302
vlans range 0 4294967297
vm config net 4294967301
vlans blacklist
vlans add epsilon 300
vlans range
vlans range 10 x
vlans range 20 10
vlans range 10 10
vlans range 0 5000
vm config net zeta
vlans
namespace foo
vlans
vlans range
vlans range 500 600
vlans range
vm config net one minimega//alpha
vm config net
vlans
namespace bar
vlans range 550 700
vlans range 600 700
vm config net two
vlans
vlans range
namespace minimega
vm config net eta
vlans
namespace
vlans blacklist 102
vlans
vlans blacklist
clear vlans a
vlans
vm config net theta
vlans
clear vlans
vlans
vlans range
clear vlans all
vlans
vlans blacklist
vlans range
namespace
