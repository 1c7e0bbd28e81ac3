ech prefix works
hist
.an
.a
.h
.col name vm info
.ann t .col name vm info
.filt name=x .col name vm info
.head f .cs t .al
vm conf mem 512
vm config memory
vm conf mem
clear vm conf
vm config memory
clear hist
hist
c hist
hist
