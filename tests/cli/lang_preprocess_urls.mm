# The preprocessor's URL forms and minimega's error texts (builtins.want).
echo http://localhost/
echo https://localhost/dir/
echo http://localhost:1/nosuch.txt
echo HTTP://localhost:1/a/b/../c.txt
echo file:nosuch
echo file:../../etc/passwd
echo tar:nosuch.tar
echo plain text, not:a url
.preprocess false echo http://localhost/
.preprocess false echo file:nosuch tar:nosuch.tar
.preprocess
