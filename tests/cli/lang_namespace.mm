namespace
.columns namespace,active namespace
namespace foo
.columns namespace,active namespace
namespace bar
.columns namespace,active namespace
namespace
clear namespace
.columns namespace,active namespace
namespace bad/name
namespace "has space"
clear namespace nosuch
clear namespace bar
.columns namespace,active namespace
namespace foo echo runs in foo
namespace foo vm config filesystem $TESTFS
namespace foo vm launch container infoo
vm config filesystem $TESTFS
vm launch container indefault
.columns name vm info
namespace foo .columns name vm info
namespace foo
.columns name vm info
namespace minimega
.columns name vm info
clear namespace foo
.columns namespace,active namespace
namespace foo .columns name vm info
clear namespace foo
namespace new-ns_1.x
clear namespace
clear namespace all
namespace
