namespace
namespace alpha
namespace
namespace beta vm config memory
namespace
namespace beta namespace alpha
.columns namespace,active namespace
namespace bad/name
namespace bad/name vm info
names
clear namespace
.columns namespace,active namespace
