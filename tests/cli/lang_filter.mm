vm config filesystem $TESTFS
vm launch container foo[1-3]
vm config tag colour red
vm launch container bar
.filter name=bar .columns name vm info
.filter name!=bar .columns name vm info
.filter name=foo .columns name vm info
.filter name~foo .columns name vm info
.filter name!~foo .columns name vm info
.filter NAME=BAR .columns name vm info
.filter na=bar .columns name vm info
.filter name= .columns name vm info
.filter name!= .columns name vm info
.filter nosuch=1 vm info
.filter s=1 vm info
.filter novalue vm info
.filter a=b=c vm info
.filter name~a=b .columns name vm info
.columns name .filter tags~red vm info
.filter tags~red .columns name vm info
.filter tags=red .columns name,tags vm info
.columns name .filter tags={} vm info
.filter host=herd-golden .columns name vm info
.filter host=other .columns name vm info
.filter host!=other .columns name vm info
.filter name=bar echo not tabular
.filter id=1 .filter name~foo .columns id,name vm info
.filter name~foo .filter id!=1 .columns id,name vm info
.columns id,name .filter name~foo vm info
.filter name~foo .columns id vm info
.filter "name=foo 1" .columns name vm info
