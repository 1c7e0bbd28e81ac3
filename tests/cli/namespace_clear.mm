namespace a vm launch container x
namespace b vm launch container y
.columns namespace,active namespace
clear namespace a
.columns namespace,active namespace
namespace a .columns name vm info
namespace b .columns name vm info
clear namespace nope
namespace b
clear namespace b
.columns namespace,active namespace
vm launch container z
clear namespace minimega
.columns name vm info
namespace
vm launch container z
namespace a
clear namespace all
namespace
.columns name vm info
