shell sh -c "printf 'namespace rns\n.columns namespace,active namespace\necho in file\n' > $TESTTMP/ns.mm"
read $TESTTMP/ns.mm
.columns namespace,active namespace
clear namespace
.columns namespace,active namespace
shell sh -c "printf 'echo stays\nnamespace rns2 echo one-off\n.columns namespace,active namespace\n' > $TESTTMP/ns2.mm"
read $TESTTMP/ns2.mm
clear namespace rns
clear namespace rns2
.columns namespace,active namespace
