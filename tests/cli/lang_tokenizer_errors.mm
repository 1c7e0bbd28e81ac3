echo "unterminated
echo 'unterminated
echo "mixed'
echo 'mixed"
"
echo \q
echo bad\x escape
echo "inside \z quote"
echo a\ b
echo trailing\
echo "trailing in quote\
vm info "
echo ok after errors
history
