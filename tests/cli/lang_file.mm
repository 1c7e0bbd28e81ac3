# file list/get/delete/status on the file root (one host, no mesh)
shell mkdir -p $TESTFILES/minitest/foo1/sub $TESTFILES/minitest/foo2
shell sh -c "printf abc > $TESTFILES/minitest/foo1/a.txt"
shell sh -c "printf hello > $TESTFILES/minitest/foo1/sub/b.txt"
shell sh -c "printf x > $TESTFILES/minitest/foo2/c.txt"
shell ln -s /etc $TESTFILES/minitest/link
.columns dir,name,size file list minitest
.columns dir,name,size file list minitest/foo1
.columns dir,name,size file list minitest/foo1 recursive
.columns dir,name,size file list minitest/foo*/*.txt
.columns dir,name,size file list minitest/link
.columns dir,name,size file list minitest/link recursive
.columns dir,name,size file list /../../minitest/foo2
.columns dir,name,size file list nothing*
.columns dir,name,size file list minitest/[a
.columns name file list
file get minitest/foo1/a.txt
file get minitest/foo
file get ../../etc/passwd
file get minitest/foo*
file status
file delete minitest/foo1
.columns dir,name,size file list minitest
file delete minitest/link
shell ls /etc/passwd
file delete nothing
file delete /
.columns name file list
file list
