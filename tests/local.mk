# tests/local.mk -- make check.  A test is one file (tests/NAME.c, .cc or
# .sh) and one entry in one of the lists below; every C test program is
# built with Makefile.am's AM_CFLAGS and LDADD (it links libmymalloc, whose
# malloc replaces libc's; -no-install makes it a real binary, not a libtool
# wrapper script, which LD_PRELOAD and valgrind need).  A test that cannot
# run somewhere (valgrind, a sanitizer) says so itself and exits 77
# (tests/harness.h).  The tests of the library's internals are in
# tests/unit/ (their own Makefile.am).
# test_static.sh compiles tests/static_prog.c itself, the way a user
# would, against src/.libs/libmymalloc.a (it skips itself where it cannot)
EXTRA_DIST += tests/harness.h tests/static_prog.c
# the heap profiler's tests share tests/profile.h (the parser of the
# .heap files, the runs with the profiler's variables set)
EXTRA_DIST += tests/profile.h

# run in every build, also --disable-override (the prefixed API, the
# exports, the layers)
EVERY_BUILD_TESTS = \
	tests/test_symbols \
	tests/test_stats \
	tests/test_prefix \
	tests/test_profile_prefix
EVERY_BUILD_SH = \
	tests/test_nm.sh \
	tests/test_layers.sh \
	tests/test_static.sh \
	tests/test_prof_tool.sh

# run only when the library overrides libc's names
OVERRIDE_TESTS = \
	tests/test1 \
	tests/t-test1 \
	tests/test_sbrk \
	tests/test_fork \
	tests/test_churn \
	tests/test_enomem \
	tests/test_ctor \
	tests/test_api \
	tests/test_misuse \
	tests/test_cxx \
	tests/test_rss \
	tests/test_huge \
	tests/test_aslimit \
	tests/test_profile \
	tests/test_profile_threads \
	tests/test_profile_fork \
	tests/test_profile_realloc \
	tests/test_profile_cxx \
	tests/test_profile_signal
OVERRIDE_SH = \
	tests/test_preload.sh \
	tests/test_run.sh \
	tests/test_profile_bad.sh \
	tests/test_profile_pprof.sh

check_PROGRAMS += $(EVERY_BUILD_TESTS) tests/prof_fake
TESTS += $(EVERY_BUILD_TESTS) $(EVERY_BUILD_SH)
if MM_OVERRIDE
check_PROGRAMS += $(OVERRIDE_TESTS) tests/test_whoami tests/profile_helper
TESTS += $(OVERRIDE_TESTS) $(OVERRIDE_SH)
endif
dist_check_SCRIPTS = $(EVERY_BUILD_SH) $(OVERRIDE_SH)

tests_test_cxx_SOURCES = tests/test_cxx.cc

# the profiler's tests find the function of a stack's first address with
# dladdr: their functions are in the dynamic symbol table; -lm for exp()
prof_ldflags = $(AM_LDFLAGS) -export-dynamic
prof_ldadd = $(LDADD) -lm
tests_test_profile_LDFLAGS = $(prof_ldflags)
tests_test_profile_LDADD = $(prof_ldadd)
# the same test on the prefixed API (mymalloc_malloc...), every build
tests_test_profile_prefix_SOURCES = tests/test_profile.c
tests_test_profile_prefix_CPPFLAGS = $(AM_CPPFLAGS) -DTP_PREFIXED
tests_test_profile_prefix_LDFLAGS = $(prof_ldflags)
tests_test_profile_prefix_LDADD = $(prof_ldadd)
tests_test_profile_threads_LDFLAGS = $(prof_ldflags)
tests_test_profile_threads_LDADD = $(prof_ldadd)
tests_test_profile_fork_LDFLAGS = $(prof_ldflags)
tests_test_profile_fork_LDADD = $(prof_ldadd)
tests_test_profile_realloc_LDFLAGS = $(prof_ldflags)
tests_test_profile_realloc_LDADD = $(prof_ldadd)
tests_test_profile_signal_LDFLAGS = $(prof_ldflags)
tests_test_profile_signal_LDADD = $(prof_ldadd)
tests_test_profile_cxx_SOURCES = tests/test_profile_cxx.cc
tests_test_profile_cxx_LDFLAGS = $(prof_ldflags)
tests_test_profile_cxx_LDADD = $(prof_ldadd)
# the helper of test_preload.sh: built without libmymalloc, on purpose
tests_test_whoami_LDADD = $(PTHREAD_LIBS)

# the scripts run under the shell, the programs as they are (or through
# LOG_COMPILER: .ci/stage-arm64 runs them under qemu-user)
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)

# the scripts find the build tree through top_builddir; srcdir is set by
# automake's test driver
AM_TESTS_ENVIRONMENT = top_builddir='$(abs_top_builddir)'; export top_builddir; \
	CC='$(CC)'; CFLAGS='$(CFLAGS)'; LDFLAGS='$(LDFLAGS)'; export CC CFLAGS LDFLAGS;

# the original targets: the three original tests
CORE_TESTS = tests/test1 tests/t-test1 tests/test_sbrk
test: $(CORE_TESTS)
	@fail=0; for t in $(CORE_TESTS); do \
	  echo "== $$t"; ./$$t || fail=1; \
	done; test $$fail = 0

run-test1: tests/test1
	./tests/test1
run-t-test1: tests/t-test1
	./tests/t-test1
run-test_sbrk: tests/test_sbrk
	./tests/test_sbrk

.PHONY: test run-test1 run-t-test1 run-test_sbrk
