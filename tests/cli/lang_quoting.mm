echo "hello world"
echo 'hello world'
echo "it's"
echo 'say "hi"'
echo "a"b'c'd
echo ab"cd ef"gh
echo "" ""
echo "x" "" "y"
echo "tab	inside"
echo "multiple   spaces"
echo "#not a comment"
echo '#also not'
echo "\"escaped\" quotes"
echo 'it\'s'
echo "a 'nested' quote"
echo "unicode ünïcödé"
