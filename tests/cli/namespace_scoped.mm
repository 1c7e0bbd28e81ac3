namespace foo
namespace bar
namespace foo namespace
.columns namespace,active namespace
namespace foo .columns namespace,active namespace
namespace foo namespace baz
.columns namespace,active namespace
namespace foo clear namespace
.columns namespace,active namespace
namespace baz echo runs in baz
namespace
