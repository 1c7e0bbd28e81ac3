vm launch container foo[0-1]
vm start nope
vm stop foo0
vm start foo0
vm start foo0
vm start all
vm stop all
vm stop all
.columns name,state vm info
vm kill foo0
vm kill foo0
vm stop foo0
vm flush foo1
vm flush nope
vm start foo0
.columns name,state vm info
vm kill all
vm kill all
vm flush foo0
.columns name,state vm info
vm start foo[0-1]
.columns name,state vm info
vm kill foo1,nope
vm flush all
.columns name,state vm info
vm start foo[
vm kill all
vm flush
