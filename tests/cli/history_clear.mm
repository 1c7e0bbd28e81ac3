echo one
clear history
history
echo two
history
clear all
history
