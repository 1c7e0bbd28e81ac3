vm config tags group web
vm launch container foo[0-1]
vm tag foo0 color red
vm tag all
vm tag foo0
vm tag foo0 color
vm tag foo1 color
vm tag all color
vm tag foo0 all blue
vm tag nope
vm tag nope k v
vm tag all k v
.columns name,tags vm info
clear vm tag foo0 color
vm tag foo0
clear vm tag foo1
vm tag foo1
clear vm tag all k
vm tag all
clear vm tag
vm tag all
clear vm tag nope

# config tags are only the initial tags of new VMs
vm config tags
