vm launch container foo[0-2]
.columns name,state vm info
vm launch container bar[01-03]
vm launch container a,b[1-2]
vm launch container 2
.columns name vm info
vm launch container 1
.columns name .filter name~vm- vm info
vm launch container x[5,1,3,1]
.columns name .filter name~x vm info
vm launch container p[8-11]
.columns name .filter name~p vm info
vm launch cont single
.columns name,hostname .filter name=single vm info
