#!/bin/sh
# Compiles each public header alone, twice included, as ISO C11 (-pedantic-errors -Werror) and,
# when a C++ compiler is given, as C++11; each test program also links against libhorus through
# a function the header declares, which proves the declarations (and extern "C") match the library.
#   check-headers.sh INCDIR LIBHORUS "CC..." "CXX..." HEADER...
set -u
inc=$1 lib=$2 cc=$3 cxx=$4
shift 4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
warn="-pedantic-errors -Werror -Wall -Wextra -Wundef"
fail=0

for h in "$@"; do
	fn=$(grep -o 'horus_[a-z0-9_]*(' "$inc/$h" | head -n 1 | tr -d '(')
	if [ -n "$fn" ]; then
		# Taking the function's address makes the program need the library's symbol;
		# void (*)(void) is the generic function pointer type that both C and C++ let any
		# function convert to.
		printf '#include <%s>\n#include <%s>\nint main(void)\n{\n\tvoid (*volatile p)(void) = (void (*)(void))&%s;\n\treturn p == 0;\n}\n' \
			"$h" "$h" "$fn" >"$tmp/t.c"
	else
		# Types and macros only (the plugin ABI): compiling it is the test.
		printf '#include <%s>\n#include <%s>\nint main(void)\n{\n\treturn 0;\n}\n' \
			"$h" "$h" >"$tmp/t.c"
	fi
	# shellcheck disable=SC2086 # the compiler commands are word lists on purpose
	if $cc -std=c11 $warn -U_GNU_SOURCE -I"$inc" "$tmp/t.c" "$lib" -o "$tmp/t-c"; then
		echo "ok   $h as C11"
	else
		echo "FAIL $h as C11"
		fail=1
	fi
	if [ -n "$cxx" ]; then
		cp "$tmp/t.c" "$tmp/t.cpp"
		# shellcheck disable=SC2086
		if $cxx -std=c++11 $warn -I"$inc" "$tmp/t.cpp" "$lib" -o "$tmp/t-cxx"; then
			echo "ok   $h as C++11"
		else
			echo "FAIL $h as C++11"
			fail=1
		fi
	fi
done
exit $fail
