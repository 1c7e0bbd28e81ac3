echo hello
echo hello world
echo   spaced    out   words
echo
echo ""
echo a "" b
echo "  padded  "
echo one two three four five six seven eight nine ten
echo ünïcödé naïve café
echo -n --flag=value /path/to/file
echo 12 -3 4.5 0x1f
echo a b
  echo leading whitespace
echo trailing whitespace   
echo	tab	separated

echo after a blank line
