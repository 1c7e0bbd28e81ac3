.record false echo hello, nobody
.record true echo hello, world
.record false
echo hello, off the record
.record
.record true
echo hello again, world
.record
history
.record false history
history
clear history
history
