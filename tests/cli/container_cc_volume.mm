shell mkdir -p $TESTTMP/vol
shell touch $TESTTMP/vol/tumbleweed
vm config volume /scratch $TESTTMP/vol
vm config uuid 67fd0bd5-d419-4ec2-94a7-077f52450e7a
vm launch container foo
vm start all

# wait for the agent
shell sleep 1
cc
.columns uuid,hostname,os,arch cc clients
.columns name,cc_active vm info
cc exec ls /scratch
shell sleep 1
cc response all
cc exitcode 1 foo
.columns id,command,responses,background,filter cc commands
