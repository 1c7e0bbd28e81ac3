tap mirror t0 t0
tap mirror a 0 b 0
vm config net 5
vm launch container a
vm config net br2,5
vm launch container b
tap mirror a 0 c 0
tap mirror c 0 a 0
tap mirror a x b 0
tap mirror a 0 b 7
tap mirror a 0 b 0
tap mirror a 0 a 0
clear tap mirror
clear tap mirror t0
clear tap mirror a 0
clear tap mirror a all
clear tap mirror a 2
clear tap mirror zz all
clear tap
