vm config volume
vm config volume /data /scratch/data
vm config volume /a /scratch/a
vm config volume
vm config volume /data
vm config volume /data /scratch/data2
vm config volume /data
vm config volume /nothere
clear vm config volume
vm config volume

vm config tags
vm config tags color red
vm config tag size big
vm config tags
vm config tags color
clear vm config tag color
vm config tags
vm config tags a 1
clear vm config tag all
vm config tags
vm config tags a 1
clear vm config tags
vm config tags
