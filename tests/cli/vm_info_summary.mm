vm config uuid 11111111-2222-4333-8444-555555555555
vm launch container foo
.columns name,state,type,uuid,cc_active,vlan vm info summary
.columns name .filter id!=x vm info summary
.columns uptime vm info summary
.columns memory vm info summary
.columns name,memory vm info
