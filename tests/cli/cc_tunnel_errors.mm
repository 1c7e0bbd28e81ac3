cc tunnel list all
cc tunnel foo 8080 127.0.0.1 22
cc tunnel foo x 127.0.0.1 22
cc tunnel foo 8080 127.0.0.1 y
cc tunnel foo 70000 127.0.0.1 22
cc tunnel list foo
cc tunnel close foo 1
vm config uuid 11111111-2222-3333-4444-555555555555
vm launch container a
cc tunnel a 8080 127.0.0.1 22
cc tunnel 11111111-2222-3333-4444-555555555555 8080 127.0.0.1 22
cc tunnel close a x
cc tunnel close a 1
cc tunnel list a
cc rtunnel x 127.0.0.1 22
cc rtunnel 8080 127.0.0.1 22
cc test-conn tcp 10.0.0.1 x wait 1s
cc test-conn tcp 10.0.0.1 80 wait 5x
cc test-conn udp 10.0.0.1 53 wait 1s !!!!
cc test-conn udp 10.0.0.1 53 wait 1s aGVsbG8
cc listen 9000
cc mount
cc mount nosuch /
cc mount a
cc mount a /nonexistent-herd-dir
cc mount a /
clear cc mount a
clear cc
