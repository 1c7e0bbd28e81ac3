vm launch container .
vm launch container ..
vm launch container a,..
vm launch container .a,a.,a..b
namespace ..
namespace .
.columns name vm info
