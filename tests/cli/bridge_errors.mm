# `bridge` changes on the state-only runtime: input errors come first, then
# the runtime's.
bridge
bridge config mega_bridge stp_enable
bridge config mega_bridge =true
bridge config mega_bridge a=b=c
bridge trunk all eth0
bridge config all a=b
bridge trunk mega_bridge eth0
bridge tunnel vxlan mega_bridge 10.0.0.1
bridge destroy mega_bridge
