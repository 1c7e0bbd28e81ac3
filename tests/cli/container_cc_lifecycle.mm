vm config uuid a5e980ca-3958-48cc-92e9-93d50c0157ad
vm launch container foo
vm start foo
shell sleep 1
cc
vm kill foo
cc
.columns name,state,cc_active vm info
vm start foo
shell sleep 1
cc
.columns name,state,cc_active vm info
cc exec hostname
shell sleep 1
cc responses 1
cc responses 2
cc responses nope
cc delete response 1
cc responses all
vm kill foo
vm flush
cc
