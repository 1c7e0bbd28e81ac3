# A container's hostname is its name unless set: both must fit the kernel's
# 64 bytes, checked when the launch is queued (nothing is queued on error).
vm launch container aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
vm launch container aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
vm config hostname bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
vm launch container ok
vm config hostname short
vm launch container cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
.columns name,hostname vm info
