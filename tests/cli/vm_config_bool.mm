vm config snapshot
vm config snapshot false
vm config snapshot
vm config snapshot true
vm config snapshot
vm config snapshot f
vm config snapshot
clear vm config snapshot
vm config snapshot
vm config snapshot maybe
vm config backchannel
vm config backchannel false
vm config backchannel
clear vm config backchannel
vm config backchannel
