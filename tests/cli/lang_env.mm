.env GOLDEN_A first
.env GOLDEN_A
.env GOLDEN_B "two words"
.env GOLDEN_B
.filter key~golden_ .env
.env GOLDEN_A second
.filter key=GOLDEN_A .env
.columns value .filter key=golden_a .env
.filter key=golden_a .columns value .env
.env GOLDEN_A ""
.env GOLDEN_A
.filter key~golden_ .env
.env GOLDEN_B ""
.filter key~golden_ .env
.env GOLDEN_NEVER_SET
.env GOLDEN_C child
.preprocess false shell sh -c "echo $GOLDEN_C"
.env GOLDEN_C ""
.preprocess false shell sh -c "echo [$GOLDEN_C]"
.env GOLDEN_D "with = sign"
.env GOLDEN_D
.env GOLDEN_D ""
