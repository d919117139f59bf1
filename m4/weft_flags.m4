# WEFT_CHECK_CFLAG(FLAG, VARIABLE)
# Appends FLAG to VARIABLE if the C compiler accepts it without a warning.
AC_DEFUN([WEFT_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  weft_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -Werror $1"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); $2="$$2 $1"],
    [AC_MSG_RESULT([no])])
  CFLAGS=$weft_save_CFLAGS
])
