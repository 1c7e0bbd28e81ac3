.env GOLDEN_VAR hello
echo $GOLDEN_VAR
echo ${GOLDEN_VAR}
echo pre${GOLDEN_VAR}post
echo $GOLDEN_VARpost
echo "$GOLDEN_VAR in double quotes"
echo '$GOLDEN_VAR in single quotes'
echo $GOLDEN_UNSET_VAR.
echo [$GOLDEN_UNSET_VAR]
echo $GOLDEN_VAR/$GOLDEN_VAR
echo cost: $
.preprocess
.preprocess false echo $GOLDEN_VAR
.preprocess false
.preprocess
echo $GOLDEN_VAR
.preprocess true echo $GOLDEN_VAR
.preprocess true
echo $GOLDEN_VAR
.preprocess false .preprocess true echo $GOLDEN_VAR
.preprocess true .preprocess false echo $GOLDEN_VAR
.env GOLDEN_CMD echo
$GOLDEN_CMD not a command
.env GOLDEN_VAR ""
echo [$GOLDEN_VAR]
.env GOLDEN_CMD ""
