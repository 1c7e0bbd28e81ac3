help .unalias
help .unal
help .env
help .csv
help .columns
help .a
help nosuchcommand
help no such command
help version
help echo
help read
help history
