#!/bin/sh
# Runs the real honeybee-bridge ($HB_VG_BRIDGE) under valgrind memcheck with
# the arguments given. The ctest entries labelled `valgrind` point HB_BRIDGE
# (what hbtest.Bridge starts) at this script, so any black-box test runs
# under valgrind unchanged. Exit code 99 means valgrind found an error
# (invalid read/write, use of uninitialised memory, a definite leak); its
# report goes to stderr with the daemon's log (lines starting "==PID==").
# ASan cannot see writes made by an uninstrumented library (libwebsockets,
# OpenSSL, libzmq); valgrind does.
set -eu
: "${HB_VG_BRIDGE:?HB_VG_BRIDGE must name the honeybee-bridge binary}"
here=$(cd "$(dirname "$0")" && pwd)
exec valgrind --tool=memcheck --error-exitcode=99 --errors-for-leak-kinds=definite \
    --leak-check=full --show-leak-kinds=definite --num-callers=30 \
    --suppressions="$here/../valgrind.supp" ${HB_VG_EXTRA:-} "$HB_VG_BRIDGE" "$@"
